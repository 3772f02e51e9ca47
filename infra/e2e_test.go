//go:build e2e

// The end-to-end test applies the real program with the real Pulumi CLI,
// language host and Kubernetes provider to a real API server (the local
// control plane with the upstream CRDs), then checks the cluster, a no-change
// preview, destroy and shutdown. Run it with `make test-e2e`.
package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestDevStackEndToEnd(t *testing.T) {
	e := newEnv(t)
	e.clusterUp()
	proj := e.project("dev", nil)

	proj.mustPulumi("stack", "init", "dev", "--non-interactive")
	start := time.Now()
	proj.mustPulumi("up", "--yes", "--non-interactive", "--skip-preview", "--stack", "dev")
	t.Logf("pulumi up (dev): %.1fs", time.Since(start).Seconds())

	t.Run("namespaces exist with their labels", func(t *testing.T) {
		want := map[string]string{"orders": "apps", "kafka": "kafka", "istio-system": "mesh", "vault": "vault", "observability": "observability"}
		for name, role := range want {
			var ns map[string]any
			if code := e.kube.get("/api/v1/namespaces/"+name, &ns); code != http.StatusOK {
				t.Errorf("namespace %s: HTTP %d", name, code)
				continue
			}
			labels, _ := field(ns, "metadata", "labels").(map[string]any)
			if labels["ordermesh.io/role"] != role || labels["app.kubernetes.io/part-of"] != "ordermesh" {
				t.Errorf("namespace %s labels = %v, want role %s", name, labels, role)
			}
		}
	})

	t.Run("a second preview shows no changes", func(t *testing.T) {
		start := time.Now()
		out := proj.mustPulumi("preview", "--expect-no-changes", "--non-interactive", "--stack", "dev")
		t.Logf("pulumi preview (no changes): %.1fs", time.Since(start).Seconds())
		if !strings.Contains(out, "unchanged") {
			t.Errorf("preview output does not report unchanged resources:\n%s", out)
		}
	})

	t.Run("destroy removes the namespaces", func(t *testing.T) {
		proj.mustPulumi("destroy", "--yes", "--non-interactive", "--skip-preview", "--stack", "dev")
		eventually(t, 60*time.Second, "namespace orders gone or terminating", func() (bool, string) {
			var ns map[string]any
			code := e.kube.get("/api/v1/namespaces/orders", &ns)
			phase, _ := field(ns, "status", "phase").(string)
			return code == http.StatusNotFound || phase == "Terminating", phase
		})
	})
}

func TestBadConfigFailsBeforeTouchingResources(t *testing.T) {
	e := newEnv(t)
	e.clusterUp()
	proj := e.project("dev", map[string]any{
		"ordermesh:profile": "dev",
		"ordermesh:kafka":   map[string]any{"brokers": -1, "replication": 5},
		"ordermesh:services": map[string]any{
			"payment": map[string]any{"canary": map[string]any{"enabled": true, "weight": 120}},
		},
	})
	proj.mustPulumi("stack", "init", "dev", "--non-interactive")
	out, err := proj.pulumi("preview", "--non-interactive", "--stack", "dev")
	if err == nil {
		t.Fatalf("preview with bad config succeeded:\n%s", out)
	}
	for _, want := range []string{"ordermesh:kafka.brokers", "ordermesh:services.payment.canary.weight"} {
		if !strings.Contains(out, want) {
			t.Errorf("preview output does not name %s:\n%s", want, out)
		}
	}
	var list map[string]any
	e.kube.get("/api/v1/namespaces/orders", &list)
	if list != nil {
		t.Errorf("namespace orders exists after a failed preview")
	}
}

// project is an isolated Pulumi project for one stack: its own Pulumi.yaml
// whose main is the repository's infra/, so stack config files written by
// the CLI (salts, test overrides) never touch the checkout.
type project struct {
	e   *env
	dir string
}

func (e *env) project(stack string, overrides map[string]any) *project {
	e.t.Helper()
	dir := filepath.Join(e.work, "project-"+stack)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		e.t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(e.root, "Pulumi.yaml"))
	if err != nil {
		e.t.Fatal(err)
	}
	y := strings.Replace(string(b), "main: infra/", "main: "+filepath.Join(e.root, "infra"), 1)
	if y == string(b) {
		e.t.Fatal("Pulumi.yaml has no `main: infra/` line to point at the checkout")
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), []byte(y), 0o600); err != nil {
		e.t.Fatal(err)
	}
	cfg := e.stackConfig(stack, overrides)
	if err := os.Rename(cfg, filepath.Join(dir, "Pulumi."+stack+".yaml")); err != nil {
		e.t.Fatal(err)
	}
	return &project{e: e, dir: dir}
}

func (p *project) pulumi(args ...string) (string, error) {
	return p.e.runIn(p.dir, "pulumi", args...)
}

func (p *project) mustPulumi(args ...string) string {
	p.e.t.Helper()
	start := time.Now()
	out, err := p.pulumi(args...)
	if err != nil {
		p.e.t.Fatalf("pulumi %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	p.e.t.Logf("pulumi %s: %.1fs", firstArgs(args), time.Since(start).Seconds())
	return out
}
