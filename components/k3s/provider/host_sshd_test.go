//go:build sshd

package provider

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/components/k3s/internal/hosttest"
	"github.com/ordermesh/ordermesh/components/k3s/sshx"
)

const (
	v1 = "v1.36.4+k3s1"
	v2 = "v1.36.5+k3s1"
)

// fixture is a set of artifacts on "this machine" (the one running Pulumi): the stand-in k3s for two
// versions, a fake images tarball, and an HTTP server on loopback that serves them like a release.
type fixture struct {
	dir     string
	events  string
	standin map[string]hosttest.StandIn
	images  string
	baseURL string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	f := &fixture{dir: dir, events: filepath.Join(dir, "events.log"), standin: map[string]hosttest.StandIn{}}
	for _, v := range []string{v1, v2} {
		f.standin[v] = hosttest.WriteStandIn(t, filepath.Join(dir, v), v, f.events)
	}
	f.images = filepath.Join(dir, "k3s-airgap-images-amd64.tar.zst")
	if err := os.WriteFile(f.images, []byte("stand-in images tarball, not real images"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A release-like layout: /<version>/{k3s,k3s-airgap-images-amd64.tar.zst,install.sh,sha256sum-amd64.txt}.
	mux := http.NewServeMux()
	for v, s := range f.standin {
		sums := hosttest.SHA256(t, s.Binary) + "  k3s\n" + hosttest.SHA256(t, f.images) + "  k3s-airgap-images-amd64.tar.zst\n"
		mux.HandleFunc("/"+v+"/k3s", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, s.Binary) })
		mux.HandleFunc("/"+v+"/install.sh", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, s.InstallScript) })
		mux.HandleFunc("/"+v+"/k3s-airgap-images-amd64.tar.zst", func(w http.ResponseWriter, r *http.Request) { http.ServeFile(w, r, f.images) })
		mux.HandleFunc("/"+v+"/sha256sum-amd64.txt", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(sums)) })
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	f.baseURL = "http://" + l.Addr().String()
	return f
}

// localSpec installs version from local files uploaded over SSH, checksums pinned.
func (f *fixture) localSpec(t *testing.T, h *hosttest.Host, version string) NodeSpec {
	s := f.standin[version]
	return NodeSpec{
		Host: h.Address, Port: h.Port, User: h.User, PrivateKey: h.PrivateKey, HostKey: h.HostKey,
		NodeName: h.Name, RootPrefix: h.Root, Version: version,
		Binary:              &Artifact{LocalPath: s.Binary, SHA256: hosttest.SHA256(t, s.Binary)},
		Images:              &Artifact{LocalPath: f.images},
		InstallScript:       &Artifact{LocalPath: s.InstallScript},
		APIAddress:          "203.0.113.10",
		ReadyTimeoutSeconds: 20,
		DrainTimeoutSeconds: 20,
	}
}

// urlSpec has the host download version from the loopback "release", checked against its sha256sum file.
func (f *fixture) urlSpec(t *testing.T, h *hosttest.Host, version string) NodeSpec {
	s := f.localSpec(t, h, version)
	rel := f.baseURL + "/" + version
	s.Binary = &Artifact{URL: rel + "/k3s"}
	s.Images = &Artifact{URL: rel + "/k3s-airgap-images-amd64.tar.zst"}
	s.InstallScript = &Artifact{URL: rel + "/install.sh"}
	s.ChecksumsURL = rel + "/sha256sum-amd64.txt"
	return s
}

func (f *fixture) eventLines(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(f.events)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

type logSink struct {
	mu   sync.Mutex
	msgs []string
}

func (l *logSink) log(s string) { l.mu.Lock(); l.msgs = append(l.msgs, s); l.mu.Unlock() }
func (l *logSink) joined() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.msgs, "\n")
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNodeInstallsServerThenAgentOverSSH(t *testing.T) {
	f := newFixture(t)
	for _, tc := range []struct {
		name string
		spec func(*testing.T, *hosttest.Host, string) NodeSpec
	}{
		{"local files uploaded over ssh", f.localSpec},
		{"urls downloaded by the host and checksum-verified", f.urlSpec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			srvHost, agtHost := hosttest.StartSSHD(t, "srv-1"), hosttest.StartSSHD(t, "agt-1")

			srvSpec := tc.spec(t, srvHost, v1)
			srvSpec.TLSSANs = []string{"k3s.example.org"}
			srv, err := connect(ctx, RoleServer, srvSpec, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.close()
			if err := srv.install(ctx); err != nil {
				t.Fatal(err)
			}
			st, err := srv.probe(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if !st.installed || st.version != v1 {
				t.Fatalf("server probe = %+v, want installed %s", st, v1)
			}
			if !strings.Contains(st.kubeconfig, "server: https://203.0.113.10:6443") || strings.Contains(st.kubeconfig, "127.0.0.1") {
				t.Errorf("kubeconfig server not rewritten to the public address:\n%s", st.kubeconfig)
			}
			if !strings.HasPrefix(st.nodeToken, "K10") {
				t.Errorf("node token = %q, want k3s's K10... form", st.nodeToken)
			}
			l := layout{srvHost.Root}
			args := readFile(t, filepath.Join(l.dataDir(), "standin-args"))
			for _, want := range []string{"--tls-san 203.0.113.10", "--tls-san k3s.example.org", "--disable traefik",
				"--disable servicelb", "--node-name srv-1", "--data-dir " + l.dataDir(), "--write-kubeconfig " + l.kubeconfig()} {
				if !strings.Contains(args, want) {
					t.Errorf("k3s server args %q lack %q", args, want)
				}
			}
			if got := hosttest.SHA256(t, filepath.Join(l.imagesDir(), "k3s-airgap-images-amd64.tar.zst")); got != hosttest.SHA256(t, f.images) {
				t.Errorf("images tarball on host has sha256 %s", got)
			}
			if fi, err := os.Stat(l.kubeconfig()); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("kubeconfig %s: %v, mode %v; want 0600", l.kubeconfig(), err, fi.Mode())
			}

			agtSpec := tc.spec(t, agtHost, v1)
			agtSpec.ServerURL = "https://127.0.0.1:6443"
			agtSpec.Token = st.nodeToken
			agt, err := connect(ctx, RoleAgent, agtSpec, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer agt.close()
			if err := agt.install(ctx); err != nil {
				t.Fatal(err)
			}
			join := readFile(t, filepath.Join(layout{agtHost.Root}.dataDir(), "agent/standin-join"))
			if want := "url=https://127.0.0.1:6443\ntoken=" + st.nodeToken + "\n"; join != want {
				t.Errorf("agent joined with %q, want %q", join, want)
			}
			if ast, err := agt.probe(ctx); err != nil || !ast.installed || ast.version != v1 || ast.kubeconfig != "" {
				t.Errorf("agent probe = %+v, %v", ast, err)
			}
		})
	}
}

func TestRepeatedInstallSkipsTransfersWhoseChecksumMatches(t *testing.T) {
	f := newFixture(t)
	h := hosttest.StartSSHD(t, "srv-1")
	ctx := context.Background()
	sink := &logSink{}
	n, err := connect(ctx, RoleServer, f.localSpec(t, h, v1), sink.log)
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	for i := range 2 {
		if err := n.install(ctx); err != nil {
			t.Fatalf("install %d: %v", i, err)
		}
	}
	logs := sink.joined()
	if got := strings.Count(logs, "uploading binary"); got != 1 {
		t.Errorf("binary uploaded %d times over two installs, want 1:\n%s", got, logs)
	}
	for _, a := range []string{"binary", "images", "installScript"} {
		if !strings.Contains(logs, a+" already in place") {
			t.Errorf("second install did not skip %s:\n%s", a, logs)
		}
	}
}

func TestArtifactWithWrongChecksumIsNotInstalled(t *testing.T) {
	f := newFixture(t)
	wrong := strings.Repeat("0", 64)
	for _, tc := range []struct {
		name string
		spec func(*testing.T, *hosttest.Host, string) NodeSpec
	}{
		{"download", f.urlSpec},
		{"local file", f.localSpec},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := hosttest.StartSSHD(t, "srv-1")
			spec := tc.spec(t, h, v1)
			spec.Binary.SHA256 = wrong
			n, err := connect(context.Background(), RoleServer, spec, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer n.close()
			err = n.install(context.Background())
			if err == nil || !strings.Contains(err.Error(), "sha256") || !strings.Contains(err.Error(), wrong) {
				t.Fatalf("install error = %v, want a sha256 mismatch naming %s", err, wrong)
			}
			l := layout{h.Root}
			for _, p := range []string{l.k3s(), l.k3s() + ".ordermesh-download", l.uninstall(RoleServer)} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s exists after a failed checksum", p)
				}
			}
		})
	}
}

func TestConnectRefusesBadHosts(t *testing.T) {
	h := hosttest.StartSSHD(t, "srv-1")
	otherKey, _ := hosttest.NewKey(t)
	_, otherHostKey := hosttest.NewKey(t)
	closed := func() int {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().(*net.TCPAddr).Port
	}()
	base := sshx.Target{Address: h.Address, Port: h.Port, User: h.User, PrivateKey: h.PrivateKey, HostKey: h.HostKey}
	for _, tc := range []struct {
		name   string
		mutate func(*sshx.Target)
		want   string
		is     error
	}{
		{"unreachable host", func(t *sshx.Target) { t.Port = closed }, "unreachable", nil},
		{"wrong client key", func(t *sshx.Target) { t.PrivateKey = otherKey }, "unable to authenticate", nil},
		{"host key differs from the pinned one", func(t *sshx.Target) { t.HostKey = otherHostKey }, "host key mismatch", sshx.ErrHostKeyMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tgt := base
			tc.mutate(&tgt)
			c, err := sshx.Dial(context.Background(), tgt)
			if err == nil {
				c.Close()
				t.Fatal("connected, want refusal")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q lacks %q", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
	t.Run("host key changed after pinning", func(t *testing.T) {
		h.ChangeHostKey(t)
		_, err := sshx.Dial(context.Background(), base)
		if !errors.Is(err, sshx.ErrHostKeyMismatch) {
			t.Fatalf("error = %v, want host key mismatch", err)
		}
	})
}

func TestUninstallStopsK3sAndRemovesItsFiles(t *testing.T) {
	f := newFixture(t)
	h := hosttest.StartSSHD(t, "srv-1")
	ctx := context.Background()
	spec := f.localSpec(t, h, v1)
	spec.Firewall = &Firewall{Enabled: true, Peers: []string{"127.0.0.2"}, ApplyCommand: "nft -c -f", RemoveCommand: "true"}
	start := time.Now()
	n, err := connect(ctx, RoleServer, spec, func(s string) { t.Logf("%v %s", time.Since(start), s) })
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	if err := n.install(ctx); err != nil {
		t.Fatal(err)
	}
	l := layout{h.Root}
	pid := strings.TrimSpace(readFile(t, filepath.Join(l.dataDir(), "standin.pid")))
	if !strings.Contains(readFile(t, l.firewallFile()), "tcp dport { 22, 6443, 80, 443 } accept") {
		t.Error("firewall ruleset not rendered on the host")
	}
	if err := n.uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{l.k3s(), l.dataDir(), l.kubeconfig(), l.uninstall(RoleServer), l.stageDir(), l.firewallFile()} {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("%s still exists after uninstall", p)
		}
	}
	// A killed daemon may linger as a zombie where PID 1 does not reap; that is not "running".
	if stat, err := os.ReadFile("/proc/" + pid + "/stat"); err == nil && !strings.Contains(string(stat), ") Z ") {
		t.Errorf("stand-in k3s (pid %s) still running after uninstall", pid)
	}
	if st, err := n.probe(ctx); err != nil || st.installed {
		t.Errorf("probe after uninstall = %+v, %v; want not installed", st, err)
	}
}

func TestJoiningServerInstallsWithServerURLAndClusterToken(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	first, second := hosttest.StartSSHD(t, "srv-1"), hosttest.StartSSHD(t, "srv-2")
	s1 := f.localSpec(t, first, v1)
	s1.ExtraArgs = []string{"--cluster-init"}
	n1, err := connect(ctx, RoleServer, s1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n1.close()
	if err := n1.install(ctx); err != nil {
		t.Fatal(err)
	}
	st1, err := n1.probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s2 := f.localSpec(t, second, v1)
	s2.ServerURL, s2.Token = "https://127.0.0.1:6443", st1.nodeToken
	n2, err := connect(ctx, RoleServer, s2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n2.close()
	if err := n2.install(ctx); err != nil {
		t.Fatal(err)
	}
	st2, err := n2.probe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st2.nodeToken != st1.nodeToken {
		t.Errorf("joining server token %q, want the first server's %q", st2.nodeToken, st1.nodeToken)
	}
	if args := readFile(t, filepath.Join(layout{first.Root}.dataDir(), "standin-args")); !strings.Contains(args, "--cluster-init") {
		t.Errorf("first server args %q lack --cluster-init", args)
	}
	if args := readFile(t, filepath.Join(layout{second.Root}.dataDir(), "standin-args")); !strings.Contains(args, "--server https://127.0.0.1:6443") {
		t.Errorf("joining server args %q lack --server", args)
	}
	env := readFile(t, filepath.Join(layout{second.Root}.systemdDir(), "k3s.service.env"))
	if !strings.Contains(env, "K3S_TOKEN="+st1.nodeToken) {
		t.Errorf("installer env %q lacks the cluster token", env)
	}
}
