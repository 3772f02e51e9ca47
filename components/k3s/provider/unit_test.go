package provider

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
)

func TestRewriteKubeconfigPointsAtThePublicAddress(t *testing.T) {
	for _, tc := range []struct{ name, in, addr, want string }{
		{"ipv4", "    server: https://127.0.0.1:6443\n", "203.0.113.10", "    server: https://203.0.113.10:6443\n"},
		{"dns name", "    server: https://127.0.0.1:6443\n", "k3s.example.org", "    server: https://k3s.example.org:6443\n"},
		{"ipv6 is bracketed", "    server: https://127.0.0.1:6443\n", "2001:db8::1", "    server: https://[2001:db8::1]:6443\n"},
		{"localhost form", "  server: https://localhost:6443\n", "198.51.100.7", "  server: https://198.51.100.7:6443\n"},
		{"other servers untouched", "    server: https://10.0.0.5:6443\n", "203.0.113.10", "    server: https://10.0.0.5:6443\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := rewriteKubeconfig(tc.in, tc.addr); got != tc.want {
				t.Errorf("rewriteKubeconfig = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseChecksumsReadsSha256sumOutput(t *testing.T) {
	got := parseChecksums("aaaa  k3s\nbbbb *k3s-airgap-images-amd64.tar.zst\n\nmalformed\n")
	if got["k3s"] != "aaaa" || got["k3s-airgap-images-amd64.tar.zst"] != "bbbb" || len(got) != 2 {
		t.Errorf("parseChecksums = %v", got)
	}
}

func TestRenderFirewallOpensOnlyPublicPortsToTheWorld(t *testing.T) {
	rules := RenderFirewall(Firewall{Enabled: true, Peers: []string{"10.0.0.2", "10.1.0.0/16", "2001:db8::2"},
		PublicTCPPorts: []int{22, 6443, 80, 443}})
	for _, want := range []string{
		"policy drop;",
		"tcp dport { 22, 6443, 80, 443 } accept",
		"elements = { 10.0.0.2, 10.1.0.0/16 }",
		"elements = { 2001:db8::2 }",
		"ip saddr @peers4 tcp dport { 2379-2380, 6443, 10250 } accept",
		"ip saddr @peers4 udp dport { 8472, 51820, 51821 } accept",
		"delete table inet ordermesh",
	} {
		if !strings.Contains(rules, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, rules)
		}
	}
	// 10250 (kubelet) and 2379 (etcd) must never be open to everyone.
	for _, line := range strings.Split(rules, "\n") {
		if strings.Contains(line, "10250") && !strings.Contains(line, "@peers") {
			t.Errorf("kubelet port open beyond peers: %q", line)
		}
	}
}

// TestRenderedFirewallPassesNft runs the real nft parser in check mode (-c: nothing is loaded).
func TestRenderedFirewallPassesNft(t *testing.T) {
	nft, err := exec.LookPath("nft")
	if err != nil {
		t.Fatalf("nft not found: install the Debian package nftables: %v", err)
	}
	for _, f := range []Firewall{
		{Peers: []string{"10.0.0.2", "2001:db8::2"}, PublicTCPPorts: []int{22, 6443, 80, 443}},
		{PublicTCPPorts: []int{22}},
	} {
		p := filepath.Join(t.TempDir(), "fw.nft")
		if err := os.WriteFile(p, []byte(RenderFirewall(f)), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(nft, "-c", "-f", p).CombinedOutput(); err != nil {
			t.Errorf("nft -c rejected the ruleset for %+v: %v\n%s", f, err, out)
		}
	}
}

func TestChangedKeysIgnoresSecretnessAndEmptyValues(t *testing.T) {
	olds := resource.NewPropertyMapFromMap(map[string]any{"host": "a", "token": "t", "tlsSans": []any{}, "version": "v1"})
	olds["token"] = resource.MakeSecret(olds["token"])
	news := resource.NewPropertyMapFromMap(map[string]any{"host": "a", "token": "t", "version": "v2"})
	news["serverUrl"] = resource.MakeComputed(resource.NewStringProperty(""))
	got := changedKeys(olds, news, nil)
	if want := []string{"serverUrl", "version"}; !slices.Equal(got, want) {
		t.Errorf("changedKeys = %v, want %v", got, want)
	}
}

func TestExecArgsCarryRootPrefixAndServerFlags(t *testing.T) {
	s := NodeSpec{NodeName: "n1", RootPrefix: "/r", APIAddress: "203.0.113.10", TLSSANs: []string{"k.example"}}.withDefaults(RoleServer)
	n := &node{role: RoleServer, spec: s, l: layout{s.RootPrefix}}
	got := strings.Join(n.execArgs(), " ")
	want := "server --node-name n1 --data-dir /r/var/lib/rancher/k3s --write-kubeconfig /r/etc/rancher/k3s/k3s.yaml " +
		"--write-kubeconfig-mode 0600 --tls-san 203.0.113.10 --tls-san k.example --disable traefik --disable servicelb"
	if got != want {
		t.Errorf("exec args\n got %s\nwant %s", got, want)
	}
	s.RootPrefix = "/"
	n = &node{role: RoleAgent, spec: s, l: layout{"/"}}
	if got := strings.Join(n.execArgs(), " "); got != "agent --node-name n1" {
		t.Errorf("agent exec args on / = %q", got)
	}
}

func TestDefaultsPinTheReleaseAndItsChecksums(t *testing.T) {
	s := NodeSpec{}.withDefaults(RoleServer)
	if s.Version != "v1.36.4+k3s1" || s.Binary.URL != "https://github.com/k3s-io/k3s/releases/download/v1.36.4+k3s1/k3s" ||
		s.ChecksumsURL != "https://github.com/k3s-io/k3s/releases/download/v1.36.4+k3s1/sha256sum-amd64.txt" ||
		s.InstallScript.URL != "https://raw.githubusercontent.com/k3s-io/k3s/v1.36.4+k3s1/install.sh" {
		t.Errorf("defaults = %+v %+v %+v", s, s.Binary, s.InstallScript)
	}
}

func TestJoiningServerGetsServerFlagAndFirstServerNone(t *testing.T) {
	for _, tc := range []struct {
		name, serverURL string
		want            bool
	}{{"first server", "", false}, {"joining server", "https://10.0.0.1:6443", true}} {
		t.Run(tc.name, func(t *testing.T) {
			s := NodeSpec{NodeName: "s", APIAddress: "203.0.113.10", ServerURL: tc.serverURL}.withDefaults(RoleServer)
			got := strings.Join((&node{role: RoleServer, spec: s, l: layout{"/"}}).execArgs(), " ")
			if has := strings.Contains(got, "--server "+tc.serverURL); tc.want != has {
				t.Errorf("exec args %q: --server present = %v, want %v", got, has, tc.want)
			}
		})
	}
}
