//go:build sshd

package provider

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/common/tokens"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/ordermesh/ordermesh/components/k3s/internal/hosttest"
)

// grpcProvider serves the provider on a loopback gRPC port, as the engine would talk to the plugin.
func grpcProvider(t *testing.T) pulumirpc.ResourceProviderClient {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pulumirpc.RegisterResourceProviderServer(srv, New("9.9.9", nil))
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	conn, err := grpc.NewClient(l.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := pulumirpc.NewResourceProviderClient(conn)
	if _, err := c.Configure(context.Background(), &pulumirpc.ConfigureRequest{AcceptSecrets: true}); err != nil {
		t.Fatal(err)
	}
	return c
}

func urn(typ, name string) string {
	return string(resource.NewURN("test", "k3s", "", tokens.Type(typ), name))
}

func mustEncode(t *testing.T, v any) *structpb.Struct {
	t.Helper()
	s, err := encode(v)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func decodeState(t *testing.T, s *structpb.Struct) (NodeState, resource.PropertyMap) {
	t.Helper()
	pm, err := unmarshal(s)
	if err != nil {
		t.Fatal(err)
	}
	var st NodeState
	if _, err := decode(pm, &st); err != nil {
		t.Fatal(err)
	}
	return st, pm
}

// rpcNode is one resource's engine-side bookkeeping: its inputs and last outputs.
type rpcNode struct {
	typ, urn, id string
	inputs       *structpb.Struct
	outputs      *structpb.Struct
}

func (n *rpcNode) diff(t *testing.T, c pulumirpc.ResourceProviderClient, news *structpb.Struct) *pulumirpc.DiffResponse {
	t.Helper()
	resp, err := c.Diff(context.Background(), &pulumirpc.DiffRequest{Id: n.id, Urn: n.urn, Type: n.typ, Olds: n.outputs, OldInputs: n.inputs, News: news})
	if err != nil {
		t.Fatalf("diff %s: %v", n.urn, err)
	}
	return resp
}

func checkOK(t *testing.T, c pulumirpc.ResourceProviderClient, typ, u string, news *structpb.Struct) {
	t.Helper()
	resp, err := c.Check(context.Background(), &pulumirpc.CheckRequest{Urn: u, Type: typ, News: news})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.GetFailures()) > 0 {
		t.Fatalf("check %s failed: %v", u, resp.GetFailures())
	}
}

func create(t *testing.T, c pulumirpc.ResourceProviderClient, typ, name string, spec NodeSpec) *rpcNode {
	t.Helper()
	n := &rpcNode{typ: typ, urn: urn(typ, name), inputs: mustEncode(t, spec)}
	checkOK(t, c, typ, n.urn, n.inputs)
	resp, err := c.Create(context.Background(), &pulumirpc.CreateRequest{Urn: n.urn, Type: typ, Properties: n.inputs, Timeout: 120})
	if err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	n.id, n.outputs = resp.GetId(), resp.GetProperties()
	return n
}

func (n *rpcNode) update(t *testing.T, c pulumirpc.ResourceProviderClient, news *structpb.Struct) {
	t.Helper()
	resp, err := c.Update(context.Background(), &pulumirpc.UpdateRequest{Id: n.id, Urn: n.urn, Type: n.typ, Olds: n.outputs, OldInputs: n.inputs, News: news, Timeout: 120})
	if err != nil {
		t.Fatalf("update %s: %v", n.urn, err)
	}
	n.inputs, n.outputs = news, resp.GetProperties()
}

func indexOf(lines []string, prefix string) int {
	return slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, prefix) })
}

// TestProviderLifecycleOverGRPC drives Check/Create/Diff/Read/Update/Delete through the gRPC surface
// against two real sshd hosts with the stand-in k3s: install, no-op re-run, upgrade with drain, removal.
func TestProviderLifecycleOverGRPC(t *testing.T) {
	f := newFixture(t)
	c := grpcProvider(t)
	ctx := context.Background()
	srvHost, agtHost := hosttest.StartSSHD(t, "srv-1"), hosttest.StartSSHD(t, "agt-1")

	srvSpec := f.localSpec(t, srvHost, v1)
	srv := create(t, c, TypeServerNode, "srv-1", srvSpec)
	srvState, srvProps := decodeState(t, srv.outputs)
	if !srvProps["kubeconfig"].IsSecret() || !srvProps["nodeToken"].IsSecret() || !srvProps["privateKey"].IsSecret() {
		t.Errorf("kubeconfig/nodeToken/privateKey outputs are not secret: %v", srvProps)
	}
	if srvState.InstalledVersion != v1 || !strings.Contains(srvState.Kubeconfig, "https://203.0.113.10:6443") {
		t.Fatalf("server outputs: version %q kubeconfig %q", srvState.InstalledVersion, srvState.Kubeconfig)
	}
	if srv.id != srvHost.Endpoint()+srvHost.Root {
		t.Errorf("server id = %q, want endpoint+root", srv.id)
	}

	agtSpec := func(version string) NodeSpec {
		s := f.localSpec(t, agtHost, version)
		s.ServerURL, s.Token = "https://127.0.0.1:6443", srvState.NodeToken
		s.Drain, s.DrainKubeconfig = true, srvState.Kubeconfig
		return s
	}
	agt := create(t, c, TypeAgentNode, "agt-1", agtSpec(v1))

	t.Run("re-run with the same inputs changes nothing", func(t *testing.T) {
		before := f.eventLines(t)
		for _, n := range []*rpcNode{srv, agt} {
			if d := n.diff(t, c, n.inputs); d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
				t.Errorf("%s: diff = %v %v, want none", n.urn, d.GetChanges(), d.GetDiffs())
			}
			resp, err := c.Read(ctx, &pulumirpc.ReadRequest{Id: n.id, Urn: n.urn, Type: n.typ, Properties: n.outputs, Inputs: n.inputs})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetId() != n.id {
				t.Errorf("%s: read id = %q, want %q", n.urn, resp.GetId(), n.id)
			}
			got, _ := decodeState(t, resp.GetProperties())
			want, _ := decodeState(t, n.outputs)
			if got.InstalledVersion != want.InstalledVersion || got.Kubeconfig != want.Kubeconfig || got.NodeToken != want.NodeToken {
				t.Errorf("%s: read state drifted: %+v vs %+v", n.urn, got, want)
			}
		}
		if after := f.eventLines(t); len(after) != len(before) {
			t.Errorf("diff/read touched the hosts: new events %v", after[len(before):])
		}
	})

	t.Run("identity changes replace, delete first", func(t *testing.T) {
		moved := srvSpec
		moved.Host = "127.0.0.2"
		d := srv.diff(t, c, mustEncode(t, moved))
		if !slices.Contains(d.GetReplaces(), "host") || !d.GetDeleteBeforeReplace() {
			t.Errorf("diff = replaces %v dbr %v, want host replaced delete-before-replace", d.GetReplaces(), d.GetDeleteBeforeReplace())
		}
	})

	t.Run("version change upgrades in place, server first, agent drained", func(t *testing.T) {
		before := len(f.eventLines(t))
		newSrv := f.localSpec(t, srvHost, v2)
		d := srv.diff(t, c, mustEncode(t, newSrv))
		if d.GetChanges() != pulumirpc.DiffResponse_DIFF_SOME || len(d.GetReplaces()) > 0 || !slices.Contains(d.GetDiffs(), "version") {
			t.Fatalf("server diff = %v replaces %v diffs %v, want an in-place version update", d.GetChanges(), d.GetReplaces(), d.GetDiffs())
		}
		srv.update(t, c, mustEncode(t, newSrv))
		if st, _ := decodeState(t, srv.outputs); st.InstalledVersion != v2 {
			t.Fatalf("server version after update = %q", st.InstalledVersion)
		}
		agt.update(t, c, mustEncode(t, agtSpec(v2)))
		if st, _ := decodeState(t, agt.outputs); st.InstalledVersion != v2 {
			t.Fatalf("agent version after update = %q", st.InstalledVersion)
		}
		ev := f.eventLines(t)[before:]
		srvInstall := indexOf(ev, "install k3s k3s version "+v2)
		drain := indexOf(ev, "drain agt-1")
		agtInstall := indexOf(ev, "install k3s-agent k3s version "+v2)
		uncordon := indexOf(ev, "uncordon agt-1")
		if srvInstall < 0 || drain < srvInstall || agtInstall < drain || uncordon < agtInstall {
			t.Errorf("upgrade events out of order (server install %d, drain %d, agent install %d, uncordon %d):\n%s",
				srvInstall, drain, agtInstall, uncordon, strings.Join(ev, "\n"))
		}
		for _, n := range []*rpcNode{srv, agt} {
			if d := n.diff(t, c, n.inputs); d.GetChanges() != pulumirpc.DiffResponse_DIFF_NONE {
				t.Errorf("%s: diff after upgrade = %v, want none", n.urn, d.GetDiffs())
			}
		}
	})

	t.Run("removing hosts uninstalls them", func(t *testing.T) {
		before := len(f.eventLines(t))
		for _, n := range []*rpcNode{agt, srv} {
			if _, err := c.Delete(ctx, &pulumirpc.DeleteRequest{Id: n.id, Urn: n.urn, Type: n.typ, Properties: n.outputs, OldInputs: n.inputs}); err != nil {
				t.Fatalf("delete %s: %v", n.urn, err)
			}
			resp, err := c.Read(ctx, &pulumirpc.ReadRequest{Id: n.id, Urn: n.urn, Type: n.typ, Properties: n.outputs, Inputs: n.inputs})
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetId() != "" {
				t.Errorf("%s: read after delete returned id %q, want gone", n.urn, resp.GetId())
			}
		}
		ev := f.eventLines(t)[before:]
		last := -1
		for _, want := range []string{"drain agt-1", "delete node agt-1", "uninstall k3s-agent", "uninstall k3s "} {
			j := indexOf(ev, want)
			if j <= last {
				t.Errorf("removal event %q missing or out of order:\n%s", want, strings.Join(ev, "\n"))
			}
			last = j
		}
		for _, root := range []string{srvHost.Root, agtHost.Root} {
			if _, err := os.Stat(filepath.Join(root, "usr/local/bin/k3s")); err == nil {
				t.Errorf("k3s binary left under %s", root)
			}
		}
	})
}

func TestPreviewCreateTouchesNothingAndMarksOutputsUnknown(t *testing.T) {
	f := newFixture(t)
	c := grpcProvider(t)
	h := hosttest.StartSSHD(t, "srv-1")
	u := urn(TypeServerNode, "srv-1")
	resp, err := c.Create(context.Background(), &pulumirpc.CreateRequest{Urn: u, Type: TypeServerNode, Properties: mustEncode(t, f.localSpec(t, h, v1)), Preview: true})
	if err != nil {
		t.Fatal(err)
	}
	_, pm := decodeState(t, resp.GetProperties())
	if kc := pm["kubeconfig"]; !kc.IsSecret() || !kc.SecretValue().Element.IsComputed() {
		t.Errorf("preview kubeconfig = %v, want a secret unknown", kc)
	}
	if entries, _ := os.ReadDir(h.Root); len(entries) > 0 {
		t.Errorf("preview wrote to the host: %v", entries)
	}
}

func TestCheckReportsEveryBadInput(t *testing.T) {
	c := grpcProvider(t)
	key, hostKey := hosttest.NewKey(t)
	good := NodeSpec{Host: "127.0.0.1", Port: 22, User: "root", PrivateKey: key, HostKey: hostKey, NodeName: "n1",
		APIAddress: "203.0.113.10", Binary: &Artifact{URL: "https://example.invalid/k3s", SHA256: strings.Repeat("a", 64)}}
	for _, tc := range []struct {
		name   string
		typ    string
		mutate func(*NodeSpec)
		want   []string // failing properties
	}{
		{"valid server", TypeServerNode, func(*NodeSpec) {}, nil},
		{"agent without server url or token", TypeAgentNode, func(*NodeSpec) {}, []string{"serverUrl", "token"}},
		{"everything wrong at once", TypeServerNode, func(s *NodeSpec) {
			s.Host, s.Port, s.HostKey, s.NodeName, s.Version, s.RootPrefix, s.APIAddress = "", 70000, "nope", "Bad_Name", "1.36", "rel", ""
			s.Binary = &Artifact{URL: "https://x", LocalPath: "/tmp/k3s", SHA256: "xyz"}
		}, []string{"host", "port", "hostKey", "nodeName", "version", "rootPrefix", "apiAddress", "binary"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := good
			tc.mutate(&s)
			resp, err := c.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn(tc.typ, "n1"), Type: tc.typ, News: mustEncode(t, s)})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range resp.GetFailures() {
				if !slices.Contains(got, f.GetProperty()) {
					got = append(got, f.GetProperty())
				}
			}
			slices.Sort(got)
			want := slices.Clone(tc.want)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("failing properties = %v, want %v (%v)", got, want, resp.GetFailures())
			}
		})
	}
}

// TestPreflightRejectsBadHostsBeforeAnyChange: the preflight (which every node depends on) reports
// each bad host, and nothing is written to the good ones.
func TestPreflightRejectsBadHostsBeforeAnyChange(t *testing.T) {
	c := grpcProvider(t)
	good, other := hosttest.StartSSHD(t, "srv-1"), hosttest.StartSSHD(t, "agt-1")
	wrongKey, _ := hosttest.NewKey(t)
	ph := func(h *hosttest.Host, role Role) PreflightHost {
		return PreflightHost{Name: h.Name, Role: role, Host: h.Address, Port: h.Port, User: h.User, PrivateKey: h.PrivateKey, HostKey: h.HostKey, RootPrefix: h.Root}
	}
	closedPort := func() int {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}()
	for _, tc := range []struct {
		name  string
		hosts func() []PreflightHost
		want  []string // substrings, one per expected failure
	}{
		{"all good", func() []PreflightHost { return []PreflightHost{ph(good, RoleServer), ph(other, RoleAgent)} }, nil},
		{"duplicate address", func() []PreflightHost {
			d := ph(good, RoleAgent)
			d.Name = "dup"
			return []PreflightHost{ph(good, RoleServer), d}
		}, []string{`is also host "srv-1"`}},
		{"no server role", func() []PreflightHost { return []PreflightHost{ph(good, RoleAgent), ph(other, RoleAgent)} }, []string{"no host has role server"}},
		{"unreachable host", func() []PreflightHost {
			u := ph(other, RoleAgent)
			u.Port = closedPort
			return []PreflightHost{ph(good, RoleServer), u}
		}, []string{"unreachable"}},
		{"wrong key", func() []PreflightHost {
			u := ph(other, RoleAgent)
			u.PrivateKey = wrongKey
			return []PreflightHost{ph(good, RoleServer), u}
		}, []string{"unable to authenticate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := c.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn(TypePreflight, "pf"), Type: TypePreflight,
				News: mustEncode(t, PreflightSpec{Hosts: tc.hosts()})})
			if err != nil {
				t.Fatal(err)
			}
			fs := resp.GetFailures()
			if len(fs) != len(tc.want) {
				t.Fatalf("failures = %v, want %d matching %v", fs, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.Contains(fs[i].GetReason(), w) {
					t.Errorf("failure %q lacks %q", fs[i].GetReason(), w)
				}
			}
		})
	}
	t.Run("changed host key", func(t *testing.T) {
		hosts := []PreflightHost{ph(good, RoleServer), ph(other, RoleAgent)}
		other.ChangeHostKey(t)
		resp, err := c.Check(context.Background(), &pulumirpc.CheckRequest{Urn: urn(TypePreflight, "pf"), Type: TypePreflight,
			News: mustEncode(t, PreflightSpec{Hosts: hosts})})
		if err != nil {
			t.Fatal(err)
		}
		if fs := resp.GetFailures(); len(fs) != 1 || !strings.Contains(fs[0].GetReason(), "host key mismatch") || !strings.Contains(fs[0].GetReason(), `"agt-1"`) {
			t.Errorf("failures = %v, want one host key mismatch for agt-1", fs)
		}
	})
	for _, h := range []*hosttest.Host{good, other} {
		if entries, _ := os.ReadDir(h.Root); len(entries) > 0 {
			t.Errorf("preflight wrote under %s: %v", h.Root, entries)
		}
	}
}
