package k3s

import (
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

type registered struct {
	typ, name string
	inputs    resource.PropertyMap
	deps      []string
	version   string
	urn       string
}

// recorder is a pulumi.MockResourceMonitor that records every resource; servers report a kubeconfig
// and node token as the provider would.
type recorder struct {
	mu  sync.Mutex
	res []registered
}

func (r *recorder) Call(pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

func (r *recorder) NewResource(a pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	reg := registered{typ: a.TypeToken, name: a.Name, inputs: a.Inputs}
	if a.RegisterRPC != nil {
		reg.deps, reg.version = a.RegisterRPC.GetDependencies(), a.RegisterRPC.GetVersion()
	}
	r.mu.Lock()
	r.res = append(r.res, reg)
	r.mu.Unlock()
	out := a.Inputs.Copy()
	if a.TypeToken == "ordermesh:k3s:ServerNode" {
		out["kubeconfig"] = resource.NewStringProperty("server: https://203.0.113.10:6443")
		out["nodeToken"] = resource.NewStringProperty("K10abc::server:xyz")
		out["installedVersion"] = a.Inputs["version"]
	}
	return a.Name + "-id", out, nil
}

func (r *recorder) byName(name string) registered {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.res {
		if x.name == name {
			return x
		}
	}
	return registered{}
}

func host(name, addr string, role Role) Host {
	return Host{Name: name, Address: addr, Role: role, PrivateKey: pulumi.ToSecret(pulumi.String("KEY")).(pulumi.StringOutput),
		HostKey: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDummy"}
}

func TestNewClusterRegistersPreflightThenServersThenAgentsInOrder(t *testing.T) {
	rec := &recorder{}
	var kubeconfig string
	var kubeconfigSecret bool
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		c, err := NewCluster(ctx, "prod", &Args{
			Hosts:    []Host{host("agt-1", "198.51.100.2", Agent), host("srv-1", "198.51.100.1", Server), host("agt-2", "198.51.100.3", Agent)},
			Firewall: Firewall{Enabled: true},
		})
		if err != nil {
			return err
		}
		c.Kubeconfig.ApplyT(func(s string) string { kubeconfig = s; return s })
		kubeconfigSecret = pulumi.IsSecret(c.Kubeconfig)
		return nil
	}, pulumi.WithMocks("ordermesh", "dev", rec))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(kubeconfig, "203.0.113.10") {
		t.Errorf("cluster kubeconfig = %q, want the first server's", kubeconfig)
	}
	if !kubeconfigSecret {
		t.Error("cluster kubeconfig is not a secret")
	}
	pf, srv, a1, a2 := rec.byName("prod-preflight"), rec.byName("prod-srv-1"), rec.byName("prod-agt-1"), rec.byName("prod-agt-2")
	if pf.typ != "ordermesh:k3s:Preflight" || srv.typ != "ordermesh:k3s:ServerNode" || a1.typ != "ordermesh:k3s:AgentNode" {
		t.Fatalf("types: %q %q %q", pf.typ, srv.typ, a1.typ)
	}
	if !pf.inputs["hosts"].IsSecret() {
		t.Error("preflight hosts (with private keys) not secret")
	}
	for _, r := range []registered{pf, srv, a1, a2} {
		if r.version != PluginVersion {
			t.Errorf("%s registered with plugin version %q, want %q", r.name, r.version, PluginVersion)
		}
	}
	// Node by node: server after preflight, agent-1 after server, agent-2 after agent-1.
	for _, c := range []struct {
		r    registered
		want string
	}{{srv, "prod-preflight"}, {a1, "prod-srv-1"}, {a2, "prod-agt-1"}} {
		if !containsSuffix(c.r.deps, "::"+c.want) {
			t.Errorf("%s depends on %v, want %s", c.r.name, c.r.deps, c.want)
		}
	}
	if got := srv.inputs["disable"]; len(got.ArrayValue()) != 2 {
		t.Errorf("server disable = %v, want traefik and servicelb", got)
	}
	if srv.inputs["apiAddress"].StringValue() != "198.51.100.1" {
		t.Errorf("apiAddress = %v", srv.inputs["apiAddress"])
	}
	for _, k := range []string{"privateKey"} {
		if !srv.inputs[resource.PropertyKey(k)].IsSecret() {
			t.Errorf("server %s not secret", k)
		}
	}
	if !a1.inputs["token"].IsSecret() || a1.inputs["token"].SecretValue().Element.StringValue() != "K10abc::server:xyz" {
		t.Errorf("agent token = %v, want the server's node token as a secret", a1.inputs["token"])
	}
	if a1.inputs["serverUrl"].StringValue() != "https://198.51.100.1:6443" {
		t.Errorf("agent serverUrl = %v", a1.inputs["serverUrl"])
	}
	peers := a1.inputs["firewall"].ObjectValue()["peers"].ArrayValue()
	if len(peers) != 2 || peers[0].StringValue() != "198.51.100.1" || peers[1].StringValue() != "198.51.100.3" {
		t.Errorf("agent-1 firewall peers = %v, want the other two hosts", peers)
	}
	if !srv.inputs["drain"].BoolValue() {
		t.Error("multi-node cluster should drain on upgrade")
	}
}

func containsSuffix(xs []string, suffix string) bool {
	for _, x := range xs {
		if strings.HasSuffix(x, suffix) {
			return true
		}
	}
	return false
}

func TestNewClusterRejectsBadHostListsWithEveryProblem(t *testing.T) {
	for _, tc := range []struct {
		name  string
		hosts []Host
		want  []string
	}{
		{"no hosts", nil, []string{"hosts is empty"}},
		{"no server role", []Host{host("a1", "198.51.100.1", Agent)}, []string{`no host has role "server"`}},
		{"duplicate addresses and names", []Host{host("s1", "198.51.100.1", Server), host("s1", "198.51.100.1", Agent)},
			[]string{`hosts[1].name = "s1": duplicates hosts[0]`, `hosts[1].address = "198.51.100.1" (port 22): duplicates hosts[0]`}},
		{"bad role, missing key, unpinned host key", []Host{{Name: "x", Address: "198.51.100.9", Role: "master"}},
			[]string{`hosts[0].role = "master"`, "hosts[0].privateKey is nil", `hosts[0].hostKey = ""`, `no host has role "server"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			err := pulumi.RunErr(func(ctx *pulumi.Context) error {
				_, err := NewCluster(ctx, "c", &Args{Hosts: tc.hosts})
				return err
			}, pulumi.WithMocks("ordermesh", "dev", rec))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if len(rec.res) != 0 {
				t.Errorf("resources registered despite invalid args: %d", len(rec.res))
			}
		})
	}
}
