// Package cluster provides the Kubernetes target of a stack as a component:
// it yields the Kubernetes provider every other ordermesh component uses.
//
// Modes:
//   - existing: a cluster the user already has — a kubeconfig given as a
//     Pulumi secret, or the ambient kubeconfig/context of the machine.
//   - local: the control plane started by tools/localcluster on 127.0.0.1.
//   - vps: k3s installed over SSH on plain hosts (components/k3s) inside
//     `pulumi up`; its kubeconfig feeds the provider.
package cluster

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/components/k3s"
)

// Mode selects where the cluster comes from.
type Mode string

const (
	// ModeExisting targets a cluster the user already runs.
	ModeExisting Mode = "existing"
	// ModeLocal targets the local control plane of tools/localcluster.
	ModeLocal Mode = "local"
	// ModeVPS provisions k3s on VPS hosts over SSH.
	ModeVPS Mode = "vps"
)

// Modes lists the allowed modes, for validation messages.
var Modes = []Mode{ModeExisting, ModeLocal, ModeVPS}

// Args configures the cluster target.
type Args struct {
	// Mode is existing or local. Default: existing.
	Mode Mode
	// Kubeconfig is the kubeconfig content for existing mode, as a Pulumi
	// secret. Nil means the ambient kubeconfig (KUBECONFIG or ~/.kube/config).
	Kubeconfig pulumi.StringInput
	// Context is the kubeconfig context to use; empty means its current context.
	Context string
	// LocalStateDir is the state directory of tools/localcluster (local mode).
	// Default: .state/localcluster, relative to the working directory.
	LocalStateDir string
	// RenderDir, when set, makes the provider write manifests to this
	// directory instead of applying them (review, policy and mesh checks).
	RenderDir string
	// VPS configures the hosts and k3s install of mode vps.
	VPS *k3s.Args
}

func (a *Args) applyDefaults() {
	if a.Mode == "" {
		a.Mode = ModeExisting
	}
	if a.LocalStateDir == "" {
		a.LocalStateDir = filepath.Join(".state", "localcluster")
	}
}

func (a *Args) validate() error {
	var errs []error
	switch a.Mode {
	case ModeExisting, ModeLocal:
	case ModeVPS:
		if a.VPS == nil {
			errs = append(errs, errors.New("cluster: mode vps needs the hosts (Args.VPS)"))
		}
	default:
		errs = append(errs, fmt.Errorf("cluster: mode %q is not allowed (allowed: %s)", a.Mode, joinModes()))
	}
	if a.Mode != ModeExisting && a.Kubeconfig != nil {
		errs = append(errs, fmt.Errorf("cluster: a kubeconfig is only used in mode existing; mode %s makes its own", a.Mode))
	}
	if a.Mode != ModeVPS && a.VPS != nil {
		errs = append(errs, fmt.Errorf("cluster: hosts are only used in mode vps, not %s", a.Mode))
	}
	return errors.Join(errs...)
}

func joinModes() string {
	s := make([]string, len(Modes))
	for i, m := range Modes {
		s[i] = string(m)
	}
	return strings.Join(s, ", ")
}

// Cluster is the Kubernetes target of a stack.
type Cluster struct {
	pulumi.ResourceState

	// Provider is the Kubernetes provider for every resource on this cluster.
	Provider *kubernetes.Provider
	// Mode is the mode the cluster was created in.
	Mode pulumi.StringOutput
	// PreinstalledCRDs is true when the local cluster was started with the
	// upstream CRDs applied (air-gapped mode): operator charts are skipped.
	PreinstalledCRDs bool
}

// localState is the part of tools/localcluster's state.json read here.
type localState struct {
	APIServer  string   `json:"apiServer"`
	Kubeconfig string   `json:"kubeconfig"`
	Ready      bool     `json:"ready"`
	CRDDirs    []string `json:"crdDirs"`
}

// NewCluster registers the cluster target and its Kubernetes provider.
func NewCluster(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Cluster, error) {
	if args == nil {
		args = &Args{}
	}
	a := *args
	a.applyDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}

	c := &Cluster{}
	if err := ctx.RegisterComponentResource("ordermesh:cluster:Cluster", name, c, opts...); err != nil {
		return nil, err
	}

	pargs := &kubernetes.ProviderArgs{
		// Server-side apply makes field ownership explicit and lets the
		// API server validate custom resources against their CRD schemas.
		EnableServerSideApply: pulumi.BoolPtr(true),
	}
	if a.Context != "" {
		pargs.Context = pulumi.StringPtr(a.Context)
	}
	if a.RenderDir != "" {
		pargs.RenderYamlToDirectory = pulumi.StringPtr(a.RenderDir)
	}
	switch a.Mode {
	case ModeLocal:
		st, kubeconfig, err := readLocal(a.LocalStateDir)
		if err != nil {
			return nil, err
		}
		c.PreinstalledCRDs = len(st.CRDDirs) > 0
		pargs.Kubeconfig = pulumi.ToSecret(pulumi.String(kubeconfig)).(pulumi.StringOutput)
	case ModeExisting:
		if a.Kubeconfig != nil {
			pargs.Kubeconfig = pulumi.ToSecret(a.Kubeconfig).(pulumi.StringOutput)
		}
	case ModeVPS:
		hosts, err := k3s.NewCluster(ctx, name+"-k3s", a.VPS, pulumi.Parent(c))
		if err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		pargs.Kubeconfig = hosts.Kubeconfig // a secret output of the k3s component
	}

	provider, err := kubernetes.NewProvider(ctx, name, pargs, pulumi.Parent(c))
	if err != nil {
		return nil, fmt.Errorf("cluster: provider: %w", err)
	}
	c.Provider = provider
	c.Mode = pulumi.String(string(a.Mode)).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(c, pulumi.Map{"mode": c.Mode}); err != nil {
		return nil, err
	}
	return c, nil
}

// readLocal reads the local control plane's state and kubeconfig, failing
// with the command to run when the cluster is not up.
func readLocal(dir string) (*localState, string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "state.json"))
	if err != nil {
		return nil, "", fmt.Errorf("cluster: mode local needs the local control plane, but %s has no state (%v); start it with `make cluster-up` (or `bin/localcluster up`)", dir, err)
	}
	var st localState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, "", fmt.Errorf("cluster: local state %s: %w", dir, err)
	}
	if !st.Ready {
		return nil, "", fmt.Errorf("cluster: the local control plane in %s never became ready; run `make cluster-down cluster-up`", dir)
	}
	kc, err := os.ReadFile(st.Kubeconfig)
	if err != nil {
		return nil, "", fmt.Errorf("cluster: local kubeconfig: %w", err)
	}
	return &st, string(kc), nil
}
