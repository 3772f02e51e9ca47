//go:build sshd

package k3s_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/components/k3s"
	"github.com/ordermesh/ordermesh/components/k3s/internal/hosttest"
)

// repoRoot is two directories up from this file.
func repoRoot(t *testing.T) string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

type pulumiCLI struct {
	t       *testing.T
	bin     string
	project string
	cfgFile string
	env     []string
}

func (p *pulumiCLI) run(args ...string) string {
	p.t.Helper()
	start := time.Now()
	cmd := exec.Command(filepath.Join(p.bin, "pulumi"), args...)
	cmd.Dir = p.project
	cmd.Env = p.env
	out, err := cmd.CombinedOutput()
	p.t.Logf("pulumi %s: %.1fs", strings.Join(args[:min(2, len(args))], " "), time.Since(start).Seconds())
	if err != nil {
		p.t.Fatalf("pulumi %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// runFail runs a command that must fail and returns its output.
func (p *pulumiCLI) runFail(args ...string) string {
	p.t.Helper()
	cmd := exec.Command(filepath.Join(p.bin, "pulumi"), args...)
	cmd.Dir = p.project
	cmd.Env = p.env
	out, err := cmd.CombinedOutput()
	if err == nil {
		p.t.Fatalf("pulumi %s succeeded, want failure:\n%s", strings.Join(args, " "), out)
	}
	return string(out)
}

func (p *pulumiCLI) configure(hosts []map[string]any, s hosttest.StandIn, images string) {
	p.t.Helper()
	b, err := json.Marshal(hosts)
	if err != nil {
		p.t.Fatal(err)
	}
	art := func(path string) string {
		return `{"localPath":"` + path + `","sha256":"` + hosttest.SHA256(p.t, path) + `"}`
	}
	p.run("config", "set", "--config-file", p.cfgFile, "--secret", "hostsJson", string(b))
	p.run("config", "set", "--config-file", p.cfgFile, "version", s.Version)
	p.run("config", "set", "--config-file", p.cfgFile, "binary", art(s.Binary))
	p.run("config", "set", "--config-file", p.cfgFile, "images", art(images))
	p.run("config", "set", "--config-file", p.cfgFile, "installScript", art(s.InstallScript))
}

func events(t *testing.T, p string) []string {
	b, _ := os.ReadFile(p)
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func contains(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// TestPulumiUpProvisionsReRunsUpgradesAndDestroys runs the real engine (bin/pulumi with
// pulumi-language-go and the built plugin) against two loopback sshd hosts with the stand-in k3s.
func TestPulumiUpProvisionsReRunsUpgradesAndDestroys(t *testing.T) {
	root := repoRoot(t)
	bin := filepath.Join(root, "bin")
	for _, tool := range []string{"pulumi", "pulumi-language-go", "pulumi-resource-ordermesh"} {
		if _, err := os.Stat(filepath.Join(bin, tool)); err != nil {
			t.Fatalf("bin/%s missing: run `make tools` first: %v", tool, err)
		}
	}
	tmp := t.TempDir()
	evLog := filepath.Join(tmp, "events.log")
	v1 := hosttest.WriteStandIn(t, filepath.Join(tmp, "v1"), "v1.36.4+k3s1", evLog)
	v2 := hosttest.WriteStandIn(t, filepath.Join(tmp, "v2"), "v1.36.5+k3s1", evLog)
	images := filepath.Join(tmp, "k3s-airgap-images-amd64.tar.zst")
	if err := os.WriteFile(images, []byte("stand-in images"), 0o644); err != nil {
		t.Fatal(err)
	}
	srv, agt := hosttest.StartSSHD(t, "srv-1"), hosttest.StartSSHD(t, "agt-1")
	hostCfg := func(h *hosttest.Host, role string) map[string]any {
		return map[string]any{"name": h.Name, "address": h.Address, "port": h.Port, "user": h.User,
			"privateKey": h.PrivateKey, "hostKey": h.HostKey, "role": role, "rootPrefix": h.Root}
	}

	home := filepath.Join(tmp, "pulumi-home")
	// The project file lives in the temp dir (so stack files never land in the repository); its main is
	// the program inside the module, which pulumi-language-go builds there.
	project := filepath.Join(tmp, "project")
	if err := os.MkdirAll(project, 0o755); err != nil {
		t.Fatal(err)
	}
	projectYAML := "name: k3s-e2e\nruntime: go\nmain: " + filepath.Join(root, "components/k3s/testdata/cluster") + "\n"
	if err := os.WriteFile(filepath.Join(project, "Pulumi.yaml"), []byte(projectYAML), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &pulumiCLI{t: t, bin: bin, project: project, cfgFile: filepath.Join(project, "Pulumi.e2e.yaml")}
	p.env = append(os.Environ(),
		"PATH="+bin+":"+os.Getenv("PATH"),
		"PULUMI_HOME="+home,
		"PULUMI_BACKEND_URL=file://"+filepath.Join(tmp, "backend"),
		"PULUMI_CONFIG_PASSPHRASE=dev",
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
		"PULUMI_IGNORE_AMBIENT_PLUGINS=true",
	)
	if err := os.MkdirAll(filepath.Join(tmp, "backend"), 0o755); err != nil {
		t.Fatal(err)
	}
	p.run("plugin", "install", "resource", "ordermesh", k3s.PluginVersion, "--file", filepath.Join(bin, "pulumi-resource-ordermesh"))
	p.run("stack", "init", "e2e", "--non-interactive")
	t.Cleanup(func() {
		// Best effort if a step failed midway: leave no stand-in daemons behind (hosttest also kills them).
		cmd := exec.Command(filepath.Join(bin, "pulumi"), "stack", "rm", "--yes", "--force", "-s", "e2e")
		cmd.Dir, cmd.Env = p.project, p.env
		_ = cmd.Run()
	})
	up := func(extra ...string) string {
		return p.run(append([]string{"up", "--yes", "--skip-preview", "--non-interactive", "--config-file", p.cfgFile, "-s", "e2e"}, extra...)...)
	}

	t.Run("first up installs server then agent", func(t *testing.T) {
		p.t = t
		p.configure([]map[string]any{hostCfg(srv, "server"), hostCfg(agt, "agent")}, v1, images)
		up()
		ev := events(t, evLog)
		if !contains(ev, "install k3s k3s version v1.36.4+k3s1") || !contains(ev, "install k3s-agent k3s version v1.36.4+k3s1") {
			t.Fatalf("events after first up:\n%s", strings.Join(ev, "\n"))
		}
		kc := p.run("stack", "output", "kubeconfig", "--show-secrets", "-s", "e2e")
		if !strings.Contains(kc, "server: https://203.0.113.10:6443") {
			t.Errorf("kubeconfig output:\n%s", kc)
		}
		if plain := p.run("stack", "output", "kubeconfig", "-s", "e2e"); !strings.Contains(plain, "[secret]") {
			t.Errorf("kubeconfig output is not a secret: %q", plain)
		}
		state := p.run("stack", "export", "-s", "e2e")
		if strings.Contains(state, "BEGIN OPENSSH PRIVATE KEY") || strings.Contains(state, "c3RhbmQtaW4tY2VydA") {
			t.Error("state holds a private key or the kubeconfig in plaintext")
		}
	})

	t.Run("second up changes nothing", func(t *testing.T) {
		p.t = t
		before := len(events(t, evLog))
		up("--expect-no-changes")
		if ev := events(t, evLog); len(ev) != before {
			t.Errorf("no-op up touched hosts: %v", ev[before:])
		}
	})

	t.Run("changed host key stops the upgrade before any host changes", func(t *testing.T) {
		p.t = t
		before := len(events(t, evLog))
		agt.ChangeHostKey(t)
		p.configure([]map[string]any{hostCfg(srv, "server"), hostCfg(agt, "agent")}, v2, images)
		out := p.runFail("up", "--yes", "--skip-preview", "--non-interactive", "--config-file", p.cfgFile, "-s", "e2e")
		if !strings.Contains(out, "host key mismatch") || !strings.Contains(out, `"agt-1"`) {
			t.Errorf("up output does not name the host key mismatch on agt-1:\n%s", out)
		}
		if ev := events(t, evLog); len(ev) != before {
			t.Errorf("hosts changed despite the failed preflight: %v", ev[before:])
		}
		agt.RestoreHostKey(t)
	})

	t.Run("version change upgrades node by node", func(t *testing.T) {
		p.t = t
		before := len(events(t, evLog))
		p.configure([]map[string]any{hostCfg(srv, "server"), hostCfg(agt, "agent")}, v2, images)
		out := up()
		ev := events(t, evLog)[before:]
		if !contains(ev, "install k3s k3s version v1.36.5+k3s1") || !contains(ev, "drain agt-1") || !contains(ev, "install k3s-agent k3s version v1.36.5+k3s1") {
			t.Errorf("upgrade events:\n%s\n%s", strings.Join(ev, "\n"), out)
		}
		if strings.Contains(out, "replaced") {
			t.Errorf("upgrade replaced nodes instead of updating them:\n%s", out)
		}
	})

	t.Run("removing a host uninstalls it", func(t *testing.T) {
		p.t = t
		before := len(events(t, evLog))
		p.configure([]map[string]any{hostCfg(srv, "server")}, v2, images)
		up()
		ev := events(t, evLog)[before:]
		if !contains(ev, "uninstall k3s-agent") || contains(ev, "uninstall k3s ") {
			t.Errorf("removal events:\n%s", strings.Join(ev, "\n"))
		}
	})

	t.Run("destroy uninstalls the rest", func(t *testing.T) {
		p.t = t
		before := len(events(t, evLog))
		p.run("destroy", "--yes", "--skip-preview", "--non-interactive", "--config-file", p.cfgFile, "-s", "e2e")
		if ev := events(t, evLog)[before:]; !contains(ev, "uninstall k3s ") {
			t.Errorf("destroy events:\n%s", strings.Join(ev, "\n"))
		}
		if _, err := os.Stat(filepath.Join(srv.Root, "usr/local/bin/k3s")); err == nil {
			t.Error("k3s left on the server after destroy")
		}
	})
}
