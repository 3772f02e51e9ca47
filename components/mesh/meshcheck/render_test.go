//go:build mesh

// The render test runs the real program (pulumi, the Go language host and the
// Kubernetes provider in render mode) for the dev and prod stacks, then checks
// the rendered manifests with istioctl validate, istioctl analyze and
// meshcheck; it also feeds deliberately broken copies and expects failures, and
// applies the prod render's Istio resources to a local control plane carrying
// the upstream Istio CRDs. Run it with `make test-mesh`.
package meshcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/ordermesh/ordermesh/stacks"
)

// rendered is one stack rendered by the real program.
type rendered struct {
	stack string
	dir   string
	cfg   *stacks.Config
}

var renders = map[string]*rendered{}

// tk is the toolkit shared by the tests: repository root, bin dir, work dir.
var tk struct {
	root, bin, work string
	env             []string
}

func TestMain(m *testing.M) {
	os.Exit(func() int {
		work, err := os.MkdirTemp("", "meshcheck-render-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(work)
		if err := setup(work); err != nil {
			fmt.Fprintln(os.Stderr, "mesh render test setup:", err)
			return 1
		}
		return m.Run()
	}())
}

func setup(work string) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	root := wd
	for {
		b, err := os.ReadFile(filepath.Join(root, "go.mod"))
		if err == nil && bytes.HasPrefix(b, []byte("module github.com/ordermesh/ordermesh\n")) {
			break
		}
		if filepath.Dir(root) == root {
			return fmt.Errorf("no ordermesh go.mod above %s", wd)
		}
		root = filepath.Dir(root)
	}
	tk.root, tk.bin, tk.work = root, filepath.Join(root, "bin"), work
	var missing []string
	for _, b := range []string{"pulumi", "pulumi-language-go", "pulumi-resource-kubernetes", "istioctl", "meshanalyze", "localcluster"} {
		if _, err := os.Stat(filepath.Join(tk.bin, b)); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("missing tools in %s: %v; run `make tools`", tk.bin, missing)
	}
	// The provider takes KUBECONFIG as its kubeconfig, which render mode
	// refuses: drop it (istioctl gets a path that does not exist, see run).
	var base []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KUBECONFIG=") {
			base = append(base, kv)
		}
	}
	tk.env = append(base,
		"PATH="+tk.bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PULUMI_HOME="+filepath.Join(work, "pulumi-home"),
		"PULUMI_BACKEND_URL=file://"+filepath.Join(work, "backend"),
		"PULUMI_CONFIG_PASSPHRASE=ordermesh-dev-only-passphrase",
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
		"PULUMI_IGNORE_AMBIENT_PLUGINS=true",
	)
	if err := os.MkdirAll(filepath.Join(work, "backend"), 0o700); err != nil {
		return err
	}
	if out, err := run(work, "pulumi", "plugin", "install", "resource", "kubernetes", "v4.32.0", "--file", filepath.Join(tk.bin, "pulumi-resource-kubernetes")); err != nil {
		return fmt.Errorf("plugin install: %v\n%s", err, out)
	}
	return nil
}

// run runs a tool from bin/ in dir; the output holds stdout and stderr.
func run(dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(tk.bin, name), args...)
	if name == "kubectl" {
		cmd = exec.CommandContext(ctx, "kubectl", args...)
	}
	cmd.Dir = dir
	cmd.Env = tk.env
	if name == "istioctl" || name == "meshanalyze" {
		// They must never reach a real cluster from this test.
		cmd.Env = append(slices.Clone(tk.env), "KUBECONFIG="+filepath.Join(tk.work, "no-kubeconfig"))
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// render runs `pulumi up` of stack in render mode: a temp project whose main
// is the checkout's infra/, the repository's stack file with the cluster
// switched to {mode: existing, renderDir} and chart installs off (they would
// need the internet; the checks are about ordermesh's own resources).
func render(t *testing.T, stack string) *rendered {
	t.Helper()
	if r := renders[stack]; r != nil {
		return r
	}
	proj := filepath.Join(tk.work, "project-"+stack)
	dir := filepath.Join(tk.work, "render-"+stack)
	if err := os.MkdirAll(proj, 0o700); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(tk.root, "Pulumi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	y := strings.Replace(string(b), "main: infra/", "main: "+filepath.Join(tk.root, "infra"), 1)
	if y == string(b) {
		t.Fatal("Pulumi.yaml has no `main: infra/` line")
	}
	if err := os.WriteFile(filepath.Join(proj, "Pulumi.yaml"), []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	b, err = os.ReadFile(filepath.Join(tk.root, "Pulumi."+stack+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	cfg, _ := doc["config"].(map[string]any)
	if cfg == nil {
		cfg = map[string]any{}
	}
	cfg["ordermesh:cluster"] = map[string]any{"mode": "existing", "renderDir": dir}
	cfg["ordermesh:operators"] = map[string]any{"install": false}
	doc["config"] = cfg
	out, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(proj, "Pulumi."+stack+".yaml"), out, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"stack", "init", stack, "--non-interactive"},
		// Render mode never talks to Vault; prod requires the admin token to be set.
		{"config", "set", "--secret", "--stack", stack, "ordermesh:vaultAdminToken", "render-only-not-a-token"},
		{"up", "--yes", "--non-interactive", "--skip-preview", "--stack", stack},
	} {
		start := time.Now()
		if out, err := run(proj, "pulumi", args...); err != nil {
			t.Fatalf("pulumi %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("pulumi %s (%s): %.1fs", args[0], stack, time.Since(start).Seconds())
	}
	resolved, err := stacks.Resolve("", rawConfig(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	r := &rendered{stack: stack, dir: dir, cfg: resolved}
	renders[stack] = r
	return r
}

// rawConfig turns stack-file config into what stacks.Resolve takes: strings,
// objects and lists as JSON.
func rawConfig(t *testing.T, cfg map[string]any) map[string]string {
	raw := map[string]string{}
	for k, v := range cfg {
		switch v := v.(type) {
		case string:
			raw[k] = v
		default:
			b, err := json.Marshal(v)
			if err != nil {
				t.Fatalf("%s: %v", k, err)
			}
			raw[k] = string(b)
		}
	}
	return raw
}

// result is what the checks say about a directory of manifests.
type result struct {
	validate, analyze, meshanalyze          error
	validateOut, analyzeOut, meshanalyzeOut string
	findings                                Findings
}

func (r result) failed() bool {
	return r.validate != nil || r.analyze != nil || r.meshanalyze != nil || len(r.findings) > 0
}

func (r result) String() string {
	return fmt.Sprintf("istioctl validate: %v\n%s\nistioctl analyze: %v\n%s\nmeshanalyze: %v\n%s\nmeshcheck: %v",
		r.validate, r.validateOut, r.analyze, r.analyzeOut, r.meshanalyze, r.meshanalyzeOut, r.findings.Err())
}

// check is the test command: istioctl validate (per-resource semantics),
// istioctl analyze in file mode over every namespace (cross-references),
// meshanalyze (the same analyzers with the rendered Services, Pods made from
// the Deployments, and Namespaces) and meshcheck (platform rules) on the
// manifests under dir.
func check(t *testing.T, dir string, cfg *stacks.Config) result {
	t.Helper()
	var r result
	start := time.Now()
	r.validateOut, r.validate = run(dir, "istioctl", "validate", "-x", "-f", dir)
	t.Logf("istioctl validate: %.1fs", time.Since(start).Seconds())
	start = time.Now()
	r.analyzeOut, r.analyze = run(dir, "istioctl", "analyze", "--use-kube=false", "-A", "--failure-threshold", "Error", dir)
	t.Logf("istioctl analyze: %.1fs", time.Since(start).Seconds())
	start = time.Now()
	r.meshanalyzeOut, r.meshanalyze = run(dir, "meshanalyze", "-pods-from-deployments", "-failure-threshold", "Error", dir)
	t.Logf("meshanalyze: %.1fs", time.Since(start).Seconds())
	m, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	r.findings = Check(m, GraphFromConfig(cfg))
	return r
}

func TestRealRendersPass(t *testing.T) {
	for _, stack := range []string{"dev", "staging", "prod"} {
		t.Run(stack, func(t *testing.T) {
			r := render(t, stack)
			m, err := LoadDir(r.dir)
			if err != nil {
				t.Fatal(err)
			}
			// The checks must have something to check.
			want := map[string]int{"VirtualService": 2, "DestinationRule": 2, "AuthorizationPolicy": 3, "Gateway": 1, "Deployment": 2}
			for kind, n := range want {
				if got := m.Count(kind); got < n {
					t.Errorf("render has %d %s, want at least %d", got, kind, n)
				}
			}
			// The JWT resources exist exactly when the stack has an issuer.
			if want := map[bool]int{true: 1}[r.cfg.Mesh.JWT.Issuer != ""]; m.Count("RequestAuthentication") != want {
				t.Errorf("%s render has %d RequestAuthentication, want %d", stack, m.Count("RequestAuthentication"), want)
			}
			t.Logf("%s: %d objects rendered", stack, m.Len())
			res := check(t, r.dir, r.cfg)
			if res.failed() {
				t.Fatalf("checks fail on the real %s render:\n%s", stack, res)
			}
			// istioctl validate names every file it checked.
			if n := strings.Count(res.validateOut, " is valid") + strings.Count(res.validateOut, " has warnings"); n < m.Len() {
				t.Errorf("istioctl validate reported on %d files of %d objects:\n%s", n, m.Len(), res.validateOut)
			}
			t.Logf("%s: warnings below the failure threshold:\nistioctl validate:\n%s\nmeshanalyze:\n%s", stack, res.validateOut, res.meshanalyzeOut)
		})
	}
}

func TestBrokenRendersFail(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, docs []manifest, cfg *stacks.Config) string
		// rule meshcheck must report ("" for none); analyze and meshanalyze
		// say whether istioctl analyze / meshanalyze must fail too.
		rule                 string
		analyze, meshanalyze bool
	}{
		{name: "missing subset", mutate: dropReferencedSubset, rule: RuleSubsetExists, analyze: true, meshanalyze: true},
		{name: "weights 60/50", mutate: weights6050, rule: RuleRouteWeights},
		{name: "undeclared principal", mutate: foreignPrincipal, rule: RulePrincipalDeclared},
		// File-mode istioctl analyze has no Services, so only meshanalyze sees this.
		{name: "route to a host without Service", mutate: unknownHost, meshanalyze: true},
	}
	for _, stack := range []string{"dev", "prod"} {
		for _, tt := range tests {
			t.Run(stack+"/"+tt.name, func(t *testing.T) {
				r := render(t, stack)
				dir := copyDir(t, r.dir)
				docs := loadManifests(t, dir)
				what := tt.mutate(t, docs, r.cfg)
				t.Logf("broke %s", what)
				res := check(t, dir, r.cfg)
				if !res.failed() {
					t.Fatalf("checks pass on a render with %s", what)
				}
				var rules []string
				for _, f := range res.findings {
					rules = append(rules, f.Rule)
				}
				if tt.rule != "" && !slices.Contains(rules, tt.rule) {
					t.Errorf("meshcheck rules = %v, want %s:\n%s", rules, tt.rule, res)
				}
				if tt.analyze && res.analyze == nil {
					t.Errorf("istioctl analyze accepts a render with %s:\n%s", what, res.analyzeOut)
				}
				if tt.meshanalyze && res.meshanalyze == nil {
					t.Errorf("meshanalyze accepts a render with %s:\n%s", what, res.meshanalyzeOut)
				}
				// Record what Istio's own tools make of the platform rules.
				t.Logf("istioctl validate err=%v, istioctl analyze err=%v, meshanalyze err=%v, meshcheck rules=%v", res.validate, res.analyze, res.meshanalyze, rules)
			})
		}
	}
}

// TestIstioResourcesAcceptedByUpstreamCRDs applies every Istio resource of the
// prod render (JWT at the gateway included) to a local control plane with the
// upstream Istio CRDs and reads the gateway's JWT resources back: a field the
// schema does not know would be pruned silently.
func TestIstioResourcesAcceptedByUpstreamCRDs(t *testing.T) {
	r := render(t, "prod")
	crds := os.Getenv("ORDERMESH_CRDS_DIR")
	if crds == "" {
		crds = filepath.Join(tk.root, "..", "shared", "crds")
	}
	state := filepath.Join(tk.work, "localcluster")
	start := time.Now()
	if out, err := run(tk.work, "localcluster", "up", "--state-dir", state, "--bin-dir", tk.bin, "--crds", filepath.Join(crds, "istio")); err != nil {
		t.Fatalf("localcluster up: %v\n%s", err, out)
	}
	t.Logf("local control plane with Istio CRDs: %.1fs", time.Since(start).Seconds())
	t.Cleanup(func() {
		if out, err := run(tk.work, "localcluster", "down", "--state-dir", state); err != nil {
			t.Errorf("localcluster down: %v\n%s", err, out)
		}
	})
	var st struct {
		Kubeconfig string `json:"kubeconfig"`
	}
	b, err := os.ReadFile(filepath.Join(state, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	kubectl := func(args ...string) (string, error) {
		return run(tk.work, "kubectl", append([]string{"--kubeconfig", st.Kubeconfig}, args...)...)
	}
	docs := loadManifests(t, r.dir)
	namespaces := map[string]bool{}
	var istio []manifest
	for _, d := range docs {
		if strings.Contains(d.apiVersion(), ".istio.io/") {
			istio = append(istio, d)
			namespaces[d.namespace()] = true
		}
	}
	if len(istio) < 10 {
		t.Fatalf("only %d Istio resources in the prod render", len(istio))
	}
	for ns := range namespaces {
		if out, err := kubectl("create", "namespace", ns); err != nil {
			t.Fatalf("create namespace %s: %v\n%s", ns, err, out)
		}
	}
	for _, d := range istio {
		if out, err := kubectl("apply", "--server-side", "--field-manager=meshcheck", "-f", d.path); err != nil {
			t.Errorf("%s %s/%s rejected: %v\n%s", d.kind(), d.namespace(), d.name(), err, out)
		}
	}
	ingress := r.cfg.Namespaces.Ingress
	out, err := kubectl("get", "-n", ingress, "requestauthentications.security.istio.io/ingress-jwt", "-o", "json")
	if err != nil {
		t.Fatalf("get RequestAuthentication: %v\n%s", err, out)
	}
	var ra struct {
		Spec struct {
			JWTRules []struct {
				Issuer               string `json:"issuer"`
				JWKSURI              string `json:"jwksUri"`
				OutputClaimToHeaders []struct {
					Header, Claim string
				} `json:"outputClaimToHeaders"`
			} `json:"jwtRules"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(out), &ra); err != nil {
		t.Fatal(err)
	}
	if len(ra.Spec.JWTRules) != 1 || ra.Spec.JWTRules[0].Issuer != r.cfg.Mesh.JWT.Issuer || ra.Spec.JWTRules[0].JWKSURI != r.cfg.Mesh.JWT.JWKSURI {
		t.Errorf("stored jwtRules = %+v, want issuer %s", ra.Spec.JWTRules, r.cfg.Mesh.JWT.Issuer)
	} else if c := ra.Spec.JWTRules[0].OutputClaimToHeaders; len(c) != 1 || c[0].Claim != "sub" || c[0].Header != "x-ordermesh-customer" {
		t.Errorf("stored outputClaimToHeaders = %+v, want sub -> x-ordermesh-customer", c)
	}
	out, err = kubectl("get", "-n", ingress, "authorizationpolicies.security.istio.io/require-jwt", "-o", "jsonpath={.spec.action} {.spec.rules[0].from[0].source.notRequestPrincipals} {.spec.rules[0].to[0].operation.notPaths}")
	if err != nil {
		t.Fatalf("get require-jwt: %v\n%s", err, out)
	}
	if !strings.HasPrefix(out, `DENY ["*"] [`) || !strings.Contains(out, "/grpc.health.v1.Health/Check") {
		t.Errorf("stored require-jwt = %q, want DENY without principal except the health paths", out)
	}
}

// --- manifest editing for the broken copies --------------------------------------

// manifest is one rendered object and its file.
type manifest struct {
	path string
	obj  map[string]any
}

func (m manifest) kind() string       { s, _ := m.obj["kind"].(string); return s }
func (m manifest) apiVersion() string { s, _ := m.obj["apiVersion"].(string); return s }
func (m manifest) meta(k string) string {
	md, _ := m.obj["metadata"].(map[string]any)
	s, _ := md[k].(string)
	return s
}
func (m manifest) name() string      { return m.meta("name") }
func (m manifest) namespace() string { return m.meta("namespace") }
func (m manifest) spec() map[string]any {
	s, _ := m.obj["spec"].(map[string]any)
	return s
}

func (m manifest) save(t *testing.T) {
	t.Helper()
	b, err := yaml.Marshal(m.obj)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(m.path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func loadManifests(t *testing.T, dir string) []manifest {
	t.Helper()
	var out []manifest
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || filepath.Ext(path) != ".yaml" {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var obj map[string]any
		if err := yaml.Unmarshal(b, &obj); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if bytes.Contains(b, []byte("\n---")) {
			return fmt.Errorf("%s: expected one object per rendered file", path)
		}
		out = append(out, manifest{path: path, obj: obj})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no manifests under %s", dir)
	}
	return out
}

func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// httpRoutes returns the VirtualService's http routes and their destinations.
func httpRoutes(m manifest) []map[string]any {
	var out []map[string]any
	hs, _ := m.spec()["http"].([]any)
	for _, h := range hs {
		if r, ok := h.(map[string]any); ok {
			out = append(out, r)
		}
	}
	return out
}

func destinations(route map[string]any) []map[string]any {
	var out []map[string]any
	ds, _ := route["route"].([]any)
	for _, d := range ds {
		if rd, ok := d.(map[string]any); ok {
			out = append(out, rd)
		}
	}
	return out
}

func dest(rd map[string]any) (host, subset string) {
	d, _ := rd["destination"].(map[string]any)
	host, _ = d["host"].(string)
	subset, _ = d["subset"].(string)
	return host, subset
}

// dropReferencedSubset removes from a DestinationRule a subset a
// VirtualService routes to.
func dropReferencedSubset(t *testing.T, docs []manifest, _ *stacks.Config) string {
	for _, vs := range docs {
		if vs.kind() != "VirtualService" {
			continue
		}
		for _, r := range httpRoutes(vs) {
			for _, rd := range destinations(r) {
				host, subset := dest(rd)
				if subset == "" {
					continue
				}
				for _, dr := range docs {
					if dr.kind() != "DestinationRule" || dr.spec()["host"] != host {
						continue
					}
					subsets, _ := dr.spec()["subsets"].([]any)
					kept := []any{}
					for _, s := range subsets {
						if s.(map[string]any)["name"] != subset {
							kept = append(kept, s)
						}
					}
					if len(kept) == len(subsets) {
						continue
					}
					dr.spec()["subsets"] = kept
					dr.save(t)
					return fmt.Sprintf("subset %s removed from DestinationRule %s/%s (VirtualService %s/%s routes to it)", subset, dr.namespace(), dr.name(), vs.namespace(), vs.name())
				}
			}
		}
	}
	t.Fatal("no VirtualService routes to a subset of a rendered DestinationRule")
	return ""
}

// unknownHost points the first routed destination of a VirtualService at a
// host no Service provides.
func unknownHost(t *testing.T, docs []manifest, _ *stacks.Config) string {
	for _, vs := range docs {
		if vs.kind() != "VirtualService" {
			continue
		}
		for _, r := range httpRoutes(vs) {
			for _, rd := range destinations(r) {
				host, _ := dest(rd)
				if host == "" {
					continue
				}
				d := rd["destination"].(map[string]any)
				d["host"] = "billing." + vs.namespace() + ".svc.cluster.local"
				delete(d, "subset")
				vs.save(t)
				return fmt.Sprintf("VirtualService %s/%s routing to billing.%s (no such Service) instead of %s", vs.namespace(), vs.name(), vs.namespace(), host)
			}
		}
	}
	t.Fatal("no VirtualService with a destination")
	return ""
}

// weights6050 weights a split 60/50 (a canary split when there is one; else
// a lone destination at 60, which Istio also scales to 100%).
func weights6050(t *testing.T, docs []manifest, _ *stacks.Config) string {
	var single *manifest
	for i, vs := range docs {
		if vs.kind() != "VirtualService" {
			continue
		}
		for _, r := range httpRoutes(vs) {
			ds := destinations(r)
			if len(ds) >= 2 {
				ds[0]["weight"], ds[1]["weight"] = 60, 50
				vs.save(t)
				return fmt.Sprintf("weights 60/50 in VirtualService %s/%s", vs.namespace(), vs.name())
			}
			if len(ds) == 1 && single == nil {
				single = &docs[i]
			}
		}
	}
	if single == nil {
		t.Fatal("no VirtualService with a route")
	}
	ds := destinations(httpRoutes(*single)[0])
	ds[0]["weight"] = 60
	single.save(t)
	return fmt.Sprintf("weight 60 on the only destination of VirtualService %s/%s", single.namespace(), single.name())
}

// foreignPrincipal makes an ALLOW policy name a real service that is not a
// declared caller of the protected one.
func foreignPrincipal(t *testing.T, docs []manifest, cfg *stacks.Config) string {
	g := GraphFromConfig(cfg)
	for _, ap := range docs {
		if ap.kind() != "AuthorizationPolicy" {
			continue
		}
		if a, _ := ap.spec()["action"].(string); a != "" && a != "ALLOW" {
			continue
		}
		sel, _ := ap.spec()["selector"].(map[string]any)
		ml, _ := sel["matchLabels"].(map[string]any)
		rules, _ := ap.spec()["rules"].([]any)
		for _, r := range rules {
			from, _ := r.(map[string]any)["from"].([]any)
			for _, f := range from {
				src, _ := f.(map[string]any)["source"].(map[string]any)
				ps, _ := src["principals"].([]any)
				if len(ps) == 0 {
					continue
				}
				for _, w := range g.Workloads {
					if w.Namespace != ap.namespace() || ml["app.kubernetes.io/name"] != w.Name {
						continue
					}
					for _, other := range g.Workloads {
						p := fmt.Sprintf("cluster.local/ns/%s/sa/%s", other.Namespace, other.Name)
						if other.Name != w.Name && !slices.Contains(w.Callers, p) {
							src["principals"] = []any{p}
							ap.save(t)
							return fmt.Sprintf("principal %s (not a declared caller) allowed by AuthorizationPolicy %s/%s", p, ap.namespace(), ap.name())
						}
					}
				}
			}
		}
	}
	t.Fatal("no ALLOW AuthorizationPolicy with principals for a declared service")
	return ""
}
