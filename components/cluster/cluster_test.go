package cluster

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/components/k3s"
)

// recorder is a Pulumi mock monitor that keeps every resource's inputs.
type recorder struct {
	mu        sync.Mutex
	resources map[string]resource.PropertyMap // by type token
}

func (r *recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.resources == nil {
		r.resources = map[string]resource.PropertyMap{}
	}
	r.resources[args.TypeToken] = args.Inputs
	return args.Name + "-id", args.Inputs, nil
}

func (r *recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return args.Args, nil
}

func writeLocalState(t *testing.T, ready bool, crds []string) string {
	t.Helper()
	dir := t.TempDir()
	kc := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kc, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	st := `{"apiServer":"https://127.0.0.1:1","kubeconfig":"` + kc + `","ready":` + map[bool]string{true: "true", false: "false"}[ready]
	if len(crds) > 0 {
		st += `,"crdDirs":["` + strings.Join(crds, `","`) + `"]`
	}
	st += "}"
	if err := os.WriteFile(filepath.Join(dir, "state.json"), []byte(st), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestNewClusterConfiguresProvider(t *testing.T) {
	readyDir := writeLocalState(t, true, []string{"/crds/strimzi"})
	tests := []struct {
		name          string
		args          Args
		wantKubecfg   bool
		wantSecret    bool
		wantPreinst   bool
		wantRenderDir string
	}{
		{name: "local mode reads the local kubeconfig as a secret", args: Args{Mode: ModeLocal, LocalStateDir: readyDir}, wantKubecfg: true, wantSecret: true, wantPreinst: true},
		{name: "existing mode with a kubeconfig secret", args: Args{Mode: ModeExisting, Kubeconfig: pulumi.ToSecret(pulumi.String("kc")).(pulumi.StringOutput)}, wantKubecfg: true, wantSecret: true},
		{name: "existing mode without kubeconfig uses the ambient context", args: Args{Mode: ModeExisting, Context: "prod"}},
		{name: "render mode writes manifests to a directory", args: Args{Mode: ModeExisting, RenderDir: "/tmp/render"}, wantRenderDir: "/tmp/render"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mocks := &recorder{}
			var got *Cluster
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				var err error
				got, err = NewCluster(ctx, "target", &tt.args)
				return err
			}, pulumi.WithMocks("ordermesh", "dev", mocks))
			if err != nil {
				t.Fatalf("NewCluster: %v", err)
			}
			p, ok := mocks.resources["pulumi:providers:kubernetes"]
			if !ok {
				t.Fatalf("no kubernetes provider registered; got %v", mocks.resources)
			}
			kc, has := p["kubeconfig"]
			if has != tt.wantKubecfg {
				t.Fatalf("kubeconfig set = %v, want %v", has, tt.wantKubecfg)
			}
			if tt.wantSecret && !kc.ContainsSecrets() {
				t.Errorf("kubeconfig is not a secret: %v", kc)
			}
			if !p["enableServerSideApply"].IsBool() || !p["enableServerSideApply"].BoolValue() {
				t.Errorf("server-side apply not enabled: %v", p["enableServerSideApply"])
			}
			if tt.args.Context != "" && p["context"].StringValue() != tt.args.Context {
				t.Errorf("context = %v, want %q", p["context"], tt.args.Context)
			}
			if rd := p["renderYamlToDirectory"]; tt.wantRenderDir != "" && (!rd.IsString() || rd.StringValue() != tt.wantRenderDir) {
				t.Errorf("renderYamlToDirectory = %v, want %q", rd, tt.wantRenderDir)
			}
			if got.PreinstalledCRDs != tt.wantPreinst {
				t.Errorf("PreinstalledCRDs = %v, want %v", got.PreinstalledCRDs, tt.wantPreinst)
			}
		})
	}
}

func TestNewClusterRejectsBadInput(t *testing.T) {
	notReady := writeLocalState(t, false, nil)
	tests := []struct {
		name    string
		args    Args
		wantErr []string
	}{
		{name: "unknown mode names the allowed modes", args: Args{Mode: "vps-typo"}, wantErr: []string{`mode "vps-typo"`, "existing, local"}},
		{name: "local mode without a running cluster says how to start one", args: Args{Mode: ModeLocal, LocalStateDir: filepath.Join(t.TempDir(), "none")}, wantErr: []string{"make cluster-up"}},
		{name: "local mode with a cluster that never became ready", args: Args{Mode: ModeLocal, LocalStateDir: notReady}, wantErr: []string{"never became ready"}},
		{name: "a kubeconfig in local mode is refused", args: Args{Mode: ModeLocal, LocalStateDir: notReady, Kubeconfig: pulumi.String("x")}, wantErr: []string{"only used in mode existing"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				_, err := NewCluster(ctx, "target", &tt.args)
				return err
			}, pulumi.WithMocks("ordermesh", "dev", &recorder{}))
			if err == nil {
				t.Fatal("NewCluster succeeded, want an error")
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
		})
	}
}

func TestVPSModeFeedsTheK3sKubeconfigToTheProvider(t *testing.T) {
	mocks := &recorder{}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := NewCluster(ctx, "target", &Args{Mode: ModeVPS, VPS: &k3s.Args{Hosts: []k3s.Host{{
			Name: "cp-1", Address: "203.0.113.10", HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA",
			Role: k3s.Server, PrivateKey: pulumi.ToSecret(pulumi.String("key")).(pulumi.StringOutput),
		}}}})
		return err
	}, pulumi.WithMocks("ordermesh", "prod", mocks))
	if err != nil {
		t.Fatalf("NewCluster: %v", err)
	}
	if _, ok := mocks.resources["ordermesh:k3s:ServerNode"]; !ok {
		t.Fatalf("no k3s server node registered; got %v", keysOf(mocks.resources))
	}
	p := mocks.resources["pulumi:providers:kubernetes"]
	if kc, ok := p["kubeconfig"]; !ok || !kc.ContainsSecrets() && !kc.IsComputed() {
		t.Errorf("provider kubeconfig = %v, want the k3s component's secret output", kc)
	}
}

func TestVPSModeNeedsHosts(t *testing.T) {
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := NewCluster(ctx, "target", &Args{Mode: ModeVPS})
		return err
	}, pulumi.WithMocks("ordermesh", "prod", &recorder{}))
	if err == nil || !strings.Contains(err.Error(), "mode vps needs the hosts") {
		t.Fatalf("err = %v", err)
	}
}

func keysOf(m map[string]resource.PropertyMap) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
