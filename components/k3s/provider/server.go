// Package provider is the ordermesh resource provider plugin: k3s server and agent nodes on plain hosts,
// driven over SSH, with real check/diff/create/read/update/delete semantics.
package provider

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/diag"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumiprovider "github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/ordermesh/ordermesh/components/k3s/sshx"
)

// Version is the plugin version, stamped at build time with
// -ldflags "-X github.com/ordermesh/ordermesh/components/k3s/provider.Version=<v>".
var Version = "0.0.0-dev"

// Name is the Pulumi package name; the binary is pulumi-resource-<Name>.
const Name = "ordermesh"

// Type tokens served.
const (
	TypeServerNode = "ordermesh:k3s:ServerNode"
	TypeAgentNode  = "ordermesh:k3s:AgentNode"
	TypePreflight  = "ordermesh:k3s:Preflight"
)

// Provider implements pulumirpc.ResourceProviderServer.
type Provider struct {
	pulumirpc.UnimplementedResourceProviderServer
	version string
	host    *pulumiprovider.HostClient // nil when run in-process by tests
}

// New returns the provider; host may be nil.
func New(version string, host *pulumiprovider.HostClient) *Provider {
	return &Provider{version: version, host: host}
}

func (p *Provider) logger(ctx context.Context, urn string) func(string) {
	return func(msg string) {
		if p.host != nil {
			_ = p.host.LogStatus(ctx, diag.Info, resource.URN(urn), msg)
		}
	}
}

func roleOf(typ, urn string) (Role, error) {
	if typ == "" && urn != "" {
		typ = string(resource.URN(urn).Type())
	}
	switch typ {
	case TypeServerNode:
		return RoleServer, nil
	case TypeAgentNode:
		return RoleAgent, nil
	case TypePreflight:
		return "", nil
	}
	return "", status.Errorf(codes.InvalidArgument, "ordermesh: unknown resource type %q", typ)
}

func withTimeout(ctx context.Context, seconds float64) (context.Context, context.CancelFunc) {
	if seconds > 0 {
		return context.WithTimeout(ctx, time.Duration(seconds*float64(time.Second)))
	}
	return context.WithCancel(ctx)
}

func (p *Provider) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: p.version}, nil
}

func (p *Provider) GetSchema(context.Context, *pulumirpc.GetSchemaRequest) (*pulumirpc.GetSchemaResponse, error) {
	return &pulumirpc.GetSchemaResponse{Schema: fmt.Sprintf(`{"name":%q,"version":%q}`, Name, p.version)}, nil
}

func (p *Provider) CheckConfig(_ context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	return &pulumirpc.CheckResponse{Inputs: req.GetNews()}, nil
}

func (p *Provider) DiffConfig(context.Context, *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	return &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE}, nil
}

func (p *Provider) Configure(context.Context, *pulumirpc.ConfigureRequest) (*pulumirpc.ConfigureResponse, error) {
	return &pulumirpc.ConfigureResponse{AcceptSecrets: true, SupportsPreview: true}, nil
}

func (p *Provider) Cancel(context.Context, *emptypb.Empty) (*emptypb.Empty, error) {
	return &emptypb.Empty{}, nil
}

// Check validates inputs. For the preflight it also connects to every host, so a bad host fails the
// update before any node resource is touched (nodes depend on the preflight).
func (p *Provider) Check(ctx context.Context, req *pulumirpc.CheckRequest) (*pulumirpc.CheckResponse, error) {
	role, err := roleOf(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	var fs []Failure
	if role == "" {
		var pf PreflightSpec
		unknown, err := decode(news, &pf)
		if err != nil {
			return nil, err
		}
		if !unknown["hosts"] {
			fs = pf.check(ctx)
		}
	} else {
		var spec NodeSpec
		unknown, err := decode(news, &spec)
		if err != nil {
			return nil, err
		}
		fs = spec.withDefaults(role).validate(role, unknown)
	}
	resp := &pulumirpc.CheckResponse{Inputs: req.GetNews()}
	for _, f := range fs {
		resp.Failures = append(resp.Failures, &pulumirpc.CheckFailure{Property: f.Property, Reason: f.Reason})
	}
	return resp, nil
}

// replaceKeys name inputs that identify the machine or the cluster a node belongs to.
func replaceKeys(role Role) []string {
	switch role {
	case RoleServer:
		return []string{"host", "port", "rootPrefix", "nodeName", "token"}
	case RoleAgent:
		return []string{"host", "port", "rootPrefix", "nodeName"}
	}
	return nil
}

func (p *Provider) Diff(_ context.Context, req *pulumirpc.DiffRequest) (*pulumirpc.DiffResponse, error) {
	role, err := roleOf(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	oldIn := req.GetOldInputs()
	if oldIn == nil {
		oldIn = req.GetOlds()
	}
	olds, err := unmarshal(oldIn)
	if err != nil {
		return nil, err
	}
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	ignore := append([]string{"installedVersion", "kubeconfig", "nodeToken"}, req.GetIgnoreChanges()...)
	changed := changedKeys(olds, news, ignore)
	resp := &pulumirpc.DiffResponse{Changes: pulumirpc.DiffResponse_DIFF_NONE, HasDetailedDiff: true,
		DetailedDiff: map[string]*pulumirpc.PropertyDiff{}}
	if len(changed) == 0 {
		return resp, nil
	}
	resp.Changes = pulumirpc.DiffResponse_DIFF_SOME
	resp.Diffs = changed
	for _, k := range changed {
		kind := pulumirpc.PropertyDiff_UPDATE
		if slices.Contains(replaceKeys(role), k) {
			kind = pulumirpc.PropertyDiff_UPDATE_REPLACE
			resp.Replaces = append(resp.Replaces, k)
		}
		resp.DetailedDiff[k] = &pulumirpc.PropertyDiff{Kind: kind, InputDiff: true}
	}
	// The replacement is the same machine and paths: the old install must go first.
	resp.DeleteBeforeReplace = len(resp.Replaces) > 0
	return resp, nil
}

func previewOutputs(role Role, news *structpb.Struct) (*structpb.Struct, error) {
	pm, err := unmarshal(news)
	if err != nil {
		return nil, err
	}
	unknown := resource.MakeComputed(resource.NewStringProperty(""))
	pm["installedVersion"] = unknown
	if role == RoleServer {
		pm["kubeconfig"] = resource.MakeSecret(unknown)
		pm["nodeToken"] = resource.MakeSecret(unknown)
	}
	return plugin.MarshalProperties(pm, wireOpts)
}

func (p *Provider) Create(ctx context.Context, req *pulumirpc.CreateRequest) (*pulumirpc.CreateResponse, error) {
	role, err := roleOf(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx, req.GetTimeout())
	defer cancel()
	news, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	if role == "" {
		return p.createPreflight(ctx, news, req.GetPreview(), req.GetProperties())
	}
	var spec NodeSpec
	if _, err := decode(news, &spec); err != nil {
		return nil, err
	}
	id := spec.withDefaults(role).id()
	if req.GetPreview() {
		out, err := previewOutputs(role, req.GetProperties())
		return &pulumirpc.CreateResponse{Id: id, Properties: out}, err
	}
	n, err := connect(ctx, role, spec, p.logger(ctx, req.GetUrn()))
	if err != nil {
		return nil, err
	}
	defer n.close()
	if err := n.install(ctx); err != nil {
		return nil, err
	}
	out, err := n.outputs(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.CreateResponse{Id: id, Properties: out}, nil
}

// outputs reads the host back into the resource's output properties.
func (n *node) outputs(ctx context.Context, spec NodeSpec) (*structpb.Struct, error) {
	st, err := n.probe(ctx)
	if err != nil {
		return nil, err
	}
	if !st.installed {
		return nil, n.errf("k3s is not installed after the installer ran (no %s or no version from %s)", n.l.uninstall(n.role), n.l.k3s())
	}
	return encode(NodeState{NodeSpec: spec, InstalledVersion: st.version, Kubeconfig: st.kubeconfig, NodeToken: st.nodeToken})
}

func (p *Provider) Read(ctx context.Context, req *pulumirpc.ReadRequest) (*pulumirpc.ReadResponse, error) {
	role, err := roleOf(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	if role == "" {
		return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: req.GetProperties(), Inputs: req.GetInputs()}, nil
	}
	ctx, cancel := withTimeout(ctx, req.GetTimeout())
	defer cancel()
	props, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	var state NodeState
	if _, err := decode(props, &state); err != nil {
		return nil, err
	}
	n, err := connect(ctx, role, state.NodeSpec, p.logger(ctx, req.GetUrn()))
	if err != nil {
		return nil, err
	}
	defer n.close()
	st, err := n.probe(ctx)
	if err != nil {
		return nil, err
	}
	if !st.installed {
		// Gone from the host: an empty ID tells the engine the resource no longer exists.
		return &pulumirpc.ReadResponse{}, nil
	}
	state.InstalledVersion, state.Kubeconfig, state.NodeToken = st.version, st.kubeconfig, st.nodeToken
	out, err := encode(state)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.ReadResponse{Id: req.GetId(), Properties: out, Inputs: req.GetInputs()}, nil
}

// reinstallKeys are inputs whose change needs the installer re-run (which restarts k3s).
var reinstallKeys = []string{"version", "arch", "binary", "images", "installScript", "checksumsUrl", "token",
	"serverUrl", "apiAddress", "tlsSans", "disable", "extraArgs"}

func (p *Provider) Update(ctx context.Context, req *pulumirpc.UpdateRequest) (*pulumirpc.UpdateResponse, error) {
	role, err := roleOf(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	ctx, cancel := withTimeout(ctx, req.GetTimeout())
	defer cancel()
	news, err := unmarshal(req.GetNews())
	if err != nil {
		return nil, err
	}
	if role == "" {
		resp, err := p.createPreflight(ctx, news, req.GetPreview(), req.GetNews())
		if err != nil {
			return nil, err
		}
		return &pulumirpc.UpdateResponse{Properties: resp.GetProperties()}, nil
	}
	if req.GetPreview() {
		out, err := previewOutputs(role, req.GetNews())
		return &pulumirpc.UpdateResponse{Properties: out}, err
	}
	oldIn := req.GetOldInputs()
	if oldIn == nil {
		oldIn = req.GetOlds()
	}
	olds, err := unmarshal(oldIn)
	if err != nil {
		return nil, err
	}
	var spec NodeSpec
	if _, err := decode(news, &spec); err != nil {
		return nil, err
	}
	n, err := connect(ctx, role, spec, p.logger(ctx, req.GetUrn()))
	if err != nil {
		return nil, err
	}
	defer n.close()
	changed := changedKeys(olds, news, nil)
	st, err := n.probe(ctx)
	if err != nil {
		return nil, err
	}
	switch {
	case !st.installed || st.version != n.spec.Version:
		// An upgrade (or a node that vanished): drain first, and stop there if the drain fails.
		if st.installed {
			if err := n.drain(ctx); err != nil {
				return nil, err
			}
		}
		if err := n.install(ctx); err != nil {
			return nil, err
		}
		if st.installed {
			if err := n.uncordon(ctx); err != nil {
				return nil, err
			}
		}
	case hasAny(changed, reinstallKeys):
		if err := n.install(ctx); err != nil {
			return nil, err
		}
	case slices.Contains(changed, "firewall"):
		if err := n.applyFirewall(ctx); err != nil {
			return nil, err
		}
	}
	out, err := n.outputs(ctx, spec)
	if err != nil {
		return nil, err
	}
	return &pulumirpc.UpdateResponse{Properties: out}, nil
}

func hasAny(xs, ys []string) bool {
	for _, x := range xs {
		if slices.Contains(ys, x) {
			return true
		}
	}
	return false
}

func (p *Provider) Delete(ctx context.Context, req *pulumirpc.DeleteRequest) (*emptypb.Empty, error) {
	role, err := roleOf(req.GetType(), req.GetUrn())
	if err != nil {
		return nil, err
	}
	if role == "" {
		return &emptypb.Empty{}, nil
	}
	ctx, cancel := withTimeout(ctx, req.GetTimeout())
	defer cancel()
	props, err := unmarshal(req.GetProperties())
	if err != nil {
		return nil, err
	}
	var state NodeState
	if _, err := decode(props, &state); err != nil {
		return nil, err
	}
	n, err := connect(ctx, role, state.NodeSpec, p.logger(ctx, req.GetUrn()))
	if err != nil {
		return nil, err
	}
	defer n.close()
	if role == RoleAgent && n.spec.Drain {
		if err := n.drain(ctx); err != nil {
			return nil, err
		}
		if err := n.deleteNodeObject(ctx); err != nil {
			return nil, err
		}
	}
	if err := n.uninstall(ctx); err != nil {
		return nil, err
	}
	return &emptypb.Empty{}, nil
}

// deleteNodeObject removes a departing agent's Node from the cluster through the server's kubeconfig.
func (n *node) deleteNodeObject(ctx context.Context) error {
	kc := n.l.stageDir() + "/drain-kubeconfig"
	if err := n.c.Upload(ctx, kc, strings.NewReader(n.spec.DrainKubeconfig), 0o600); err != nil {
		return n.errf("delete node: %w", err)
	}
	defer func() { _, _ = n.run(context.WithoutCancel(ctx), "rm -f "+sshx.Quote(kc)) }()
	cmd := fmt.Sprintf("%s kubectl --kubeconfig %s delete node %s --ignore-not-found",
		sshx.Quote(n.l.k3s()), sshx.Quote(kc), sshx.Quote(n.spec.NodeName))
	if _, err := n.run(ctx, cmd); err != nil {
		return n.errf("delete node: %w", err)
	}
	return nil
}

// PreflightHost is one host as the preflight sees it.
type PreflightHost struct {
	Name       string `json:"name"`
	Role       Role   `json:"role"`
	Host       string `json:"host"`
	Port       int    `json:"port,omitempty"`
	User       string `json:"user"`
	PrivateKey string `json:"privateKey"`
	HostKey    string `json:"hostKey"`
	RootPrefix string `json:"rootPrefix,omitempty"`
}

// PreflightSpec is the wire shape of ordermesh:k3s:Preflight.
type PreflightSpec struct {
	Hosts []PreflightHost `json:"hosts"`
}

// check finds every problem across all hosts before anything changes on any of them: duplicate
// addresses, no server, and each host's reachability, login and pinned host key.
func (pf PreflightSpec) check(ctx context.Context) []Failure {
	var fs []Failure
	seen := map[string]string{}
	servers := 0
	for i, h := range pf.Hosts {
		prop := fmt.Sprintf("hosts[%d]", i)
		if h.Role == RoleServer {
			servers++
		} else if h.Role != RoleAgent {
			fs = append(fs, Failure{prop, fmt.Sprintf("host %q: role = %q: must be server or agent", h.Name, h.Role)})
		}
		t := sshx.Target{Address: h.Host, Port: h.Port, User: h.User}
		key := t.Endpoint() + "|" + h.RootPrefix
		if other, dup := seen[key]; dup {
			fs = append(fs, Failure{prop, fmt.Sprintf("host %q: address %s is also host %q: each host may appear once", h.Name, t.Endpoint(), other)})
		}
		seen[key] = h.Name
	}
	if servers == 0 {
		fs = append(fs, Failure{"hosts", "no host has role server: a k3s cluster needs at least one"})
	}
	if len(fs) > 0 {
		return fs
	}
	type res struct {
		i   int
		err error
	}
	ch := make(chan res, len(pf.Hosts))
	for i, h := range pf.Hosts {
		go func() {
			c, err := sshx.Dial(ctx, sshx.Target{Address: h.Host, Port: h.Port, User: h.User, PrivateKey: h.PrivateKey, HostKey: h.HostKey})
			if err == nil {
				_, err = c.Run(ctx, "true", nil)
				c.Close()
			}
			ch <- res{i, err}
		}()
	}
	errs := make([]error, len(pf.Hosts))
	for range pf.Hosts {
		r := <-ch
		errs[r.i] = r.err
	}
	for i, err := range errs {
		if err != nil {
			fs = append(fs, Failure{fmt.Sprintf("hosts[%d]", i), fmt.Sprintf("host %q: %v (nothing was changed on any host)", pf.Hosts[i].Name, err)})
		}
	}
	return fs
}

func (p *Provider) createPreflight(ctx context.Context, news resource.PropertyMap, preview bool, props *structpb.Struct) (*pulumirpc.CreateResponse, error) {
	var pf PreflightSpec
	if _, err := decode(news, &pf); err != nil {
		return nil, err
	}
	if !preview {
		if fs := pf.check(ctx); len(fs) > 0 {
			msgs := make([]string, len(fs))
			for i, f := range fs {
				msgs[i] = f.Property + ": " + f.Reason
			}
			return nil, fmt.Errorf("k3s preflight: %s", strings.Join(msgs, "; "))
		}
	}
	names := make([]string, len(pf.Hosts))
	for i, h := range pf.Hosts {
		names[i] = net.JoinHostPort(h.Host, fmt.Sprint(h.Port))
	}
	return &pulumirpc.CreateResponse{Id: "preflight:" + strings.Join(names, ","), Properties: props}, nil
}
