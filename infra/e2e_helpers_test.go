//go:build e2e

package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// env is one end-to-end environment: a local control plane, an isolated
// Pulumi home and file backend, and a copy of a stack's config file.
type env struct {
	t        testing.TB
	root     string // repository root
	bin      string
	work     string // temp dir for state, backend, plugin home
	lcState  string
	pulumiEn []string
	kube     *kubeREST
}

func repoRoot(t testing.TB) string {
	t.Helper()
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(wd) // tests run in infra/
}

func newEnv(t testing.TB) *env {
	t.Helper()
	root := repoRoot(t)
	e := &env{t: t, root: root, bin: filepath.Join(root, "bin"), work: t.TempDir()}
	var missing []string
	for _, b := range []string{"pulumi", "pulumi-language-go", "pulumi-resource-kubernetes", "localcluster", "etcd", "kube-apiserver", "kwok"} {
		if _, err := os.Stat(filepath.Join(e.bin, b)); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		t.Fatalf("missing tools in %s: %v; run `make tools` (the e2e test needs the real toolchain)", e.bin, missing)
	}
	e.lcState = filepath.Join(e.work, "localcluster")
	e.pulumiEn = append(os.Environ(),
		"PATH="+e.bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"PULUMI_HOME="+filepath.Join(e.work, "pulumi-home"),
		"PULUMI_BACKEND_URL=file://"+filepath.Join(e.work, "backend"),
		"PULUMI_CONFIG_PASSPHRASE=ordermesh-dev-only-passphrase",
		"PULUMI_SKIP_UPDATE_CHECK=true",
		"PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true",
		"PULUMI_IGNORE_AMBIENT_PLUGINS=true",
	)
	if err := os.MkdirAll(filepath.Join(e.work, "backend"), 0o700); err != nil {
		t.Fatal(err)
	}
	e.mustRun("pulumi", "plugin", "install", "resource", "kubernetes", "v4.32.0", "--file", filepath.Join(e.bin, "pulumi-resource-kubernetes"))
	return e
}

// crdsDir is the air-gapped CRD directory: ORDERMESH_CRDS_DIR or ../shared/crds.
func (e *env) crdsDir() string {
	if d := os.Getenv("ORDERMESH_CRDS_DIR"); d != "" {
		return d
	}
	d := filepath.Join(e.root, "..", "shared", "crds")
	if _, err := os.Stat(d); err != nil {
		e.t.Fatalf("no CRD directory: set ORDERMESH_CRDS_DIR or provide ../shared/crds (%v)", err)
	}
	return d
}

// clusterUp starts the local control plane with the upstream CRDs and
// registers its shutdown, checking afterwards that no process is left.
func (e *env) clusterUp() {
	e.t.Helper()
	crds := e.crdsDir()
	start := time.Now()
	e.mustRun("localcluster", "up", "--state-dir", e.lcState, "--bin-dir", e.bin,
		"--crds", filepath.Join(crds, "strimzi"), "--crds", filepath.Join(crds, "istio"),
		"--crds", filepath.Join(crds, "prometheus-operator"))
	e.t.Logf("local control plane with CRDs ready in %.1fs", time.Since(start).Seconds())
	var st struct {
		Kubeconfig string `json:"kubeconfig"`
		Processes  []struct {
			Name string `json:"name"`
			PID  int    `json:"pid"`
		} `json:"processes"`
	}
	b, err := os.ReadFile(filepath.Join(e.lcState, "state.json"))
	if err != nil {
		e.t.Fatal(err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() {
		if _, err := os.Stat(e.lcState); err == nil {
			out, err := e.run("localcluster", "down", "--state-dir", e.lcState)
			if err != nil {
				e.t.Errorf("localcluster down: %v\n%s", err, out)
			}
		}
		for _, p := range st.Processes {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", p.PID)); err == nil {
				if stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.PID)); !bytes.Contains(stat, []byte(") Z")) {
					e.t.Errorf("%s (pid %d) still running after down", p.Name, p.PID)
				}
			}
		}
	})
	e.kube = newKubeREST(e.t, st.Kubeconfig)
	// Programs that use the ambient kubeconfig (the policy pack's broken
	// test program) target this control plane too.
	e.pulumiEn = append(e.pulumiEn, "KUBECONFIG="+st.Kubeconfig)
}

// stackConfig copies the repository's Pulumi.<stack>.yaml into the work dir
// with the local cluster pointed at this test's control plane, plus extra
// top-level config values, and returns its path.
func (e *env) stackConfig(stack string, overrides map[string]any) string {
	e.t.Helper()
	src := filepath.Join(e.root, "Pulumi."+stack+".yaml")
	var doc map[string]any
	b, err := os.ReadFile(src)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &doc); err != nil {
		e.t.Fatalf("%s: %v", src, err)
	}
	cfg, _ := doc["config"].(map[string]any)
	if cfg == nil {
		cfg = map[string]any{}
	}
	// Whatever the stack targets (an existing cluster's context, ...), the
	// test points it at its own local control plane.
	cluster := map[string]any{"mode": "local", "localStateDir": e.lcState}
	cfg["ordermesh:cluster"] = cluster
	for k, v := range overrides {
		cfg[k] = v
	}
	doc["config"] = cfg
	out, err := yaml.Marshal(doc)
	if err != nil {
		e.t.Fatal(err)
	}
	path := filepath.Join(e.work, "Pulumi."+stack+".yaml")
	if err := os.WriteFile(path, out, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return path
}

func (e *env) run(name string, args ...string) (string, error) {
	return e.runIn(e.root, name, args...)
}

// runIn runs a tool from bin/ in dir with the isolated Pulumi environment.
func (e *env) runIn(dir, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(e.bin, name), args...)
	cmd.Dir = dir
	cmd.Env = e.pulumiEn
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func (e *env) mustRun(name string, args ...string) string {
	e.t.Helper()
	start := time.Now()
	out, err := e.run(name, args...)
	if err != nil {
		e.t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	e.t.Logf("%s %s: %.1fs", name, firstArgs(args), time.Since(start).Seconds())
	return out
}

func firstArgs(args []string) string {
	if len(args) > 2 {
		return strings.Join(args[:2], " ")
	}
	return strings.Join(args, " ")
}

// kubeREST reads objects from the API server with the kubeconfig's token.
type kubeREST struct {
	t      testing.TB
	server string
	token  string
	http   *http.Client
}

func newKubeREST(t testing.TB, kubeconfigPath string) *kubeREST {
	t.Helper()
	b, err := os.ReadFile(kubeconfigPath)
	if err != nil {
		t.Fatal(err)
	}
	var kc struct {
		Clusters []struct {
			Cluster struct {
				Server string `yaml:"server"`
				CA     string `yaml:"certificate-authority-data"`
			} `yaml:"cluster"`
		} `yaml:"clusters"`
		Users []struct {
			User struct {
				Token string `yaml:"token"`
			} `yaml:"user"`
		} `yaml:"users"`
	}
	if err := yaml.Unmarshal(b, &kc); err != nil || len(kc.Clusters) == 0 || len(kc.Users) == 0 {
		t.Fatalf("kubeconfig %s: %v", kubeconfigPath, err)
	}
	ca, err := base64.StdEncoding.DecodeString(kc.Clusters[0].Cluster.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &kubeREST{t: t, server: kc.Clusters[0].Cluster.Server, token: kc.Users[0].User.Token,
		http: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
}

// get fetches path into out; it returns the HTTP status code.
func (k *kubeREST) get(path string, out any) int {
	req, _ := http.NewRequest(http.MethodGet, k.server+path, nil)
	req.Header.Set("Authorization", "Bearer "+k.token)
	resp, err := k.http.Do(req)
	if err != nil {
		k.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			k.t.Fatalf("GET %s: %v", path, err)
		}
	}
	return resp.StatusCode
}

// items lists objects at path as generic maps.
func (k *kubeREST) items(path string) []map[string]any {
	var list struct {
		Items []map[string]any `json:"items"`
	}
	if code := k.get(path, &list); code != http.StatusOK {
		k.t.Fatalf("list %s: HTTP %d", path, code)
	}
	return list.Items
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, detail := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, detail)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// field walks nested maps: field(obj, "status", "readyReplicas").
func field(obj map[string]any, path ...string) any {
	var cur any = obj
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[p]
	}
	return cur
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
	dir, err := os.MkdirTemp(e.work, "project-"+stack+"-")
	if err != nil {
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

// pulumiEnv runs pulumi with extra environment variables; stdout only, so
// JSON output stays parseable.
func (p *project) pulumiEnv(extra []string, args ...string) (string, error) {
	cmd := exec.Command(filepath.Join(p.e.bin, "pulumi"), args...)
	cmd.Dir = p.dir
	cmd.Env = append(append([]string{}, p.e.pulumiEn...), extra...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out) + stderr.String(), err
	}
	return string(out), nil
}

// programProject is an isolated project for another Pulumi program of the
// repository (e.g. the policy pack's broken test program) and its stack
// config without the checkout's secrets salt.
func (e *env) programProject(src, stack string) *project {
	e.t.Helper()
	dir, err := os.MkdirTemp(e.work, "project-"+stack+"-")
	if err != nil {
		e.t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(src, "Pulumi.yaml"))
	if err != nil {
		e.t.Fatal(err)
	}
	y := strings.TrimRight(string(b), "\n") + "\nmain: " + src + "\n"
	if err := os.WriteFile(filepath.Join(dir, "Pulumi.yaml"), []byte(y), 0o600); err != nil {
		e.t.Fatal(err)
	}
	var doc map[string]any
	if b, err := os.ReadFile(filepath.Join(src, "Pulumi."+stack+".yaml")); err == nil {
		if err := yaml.Unmarshal(b, &doc); err != nil {
			e.t.Fatal(err)
		}
	}
	delete(doc, "encryptionsalt")
	out, err := yaml.Marshal(doc)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "Pulumi."+stack+".yaml"), out, 0o600); err != nil {
		e.t.Fatal(err)
	}
	return &project{e: e, dir: dir}
}

// policyPack is the absolute path of the built policy pack: the CLI starts
// it from the program's directory, so a relative path would not resolve.
func (e *env) policyPack() string {
	p := filepath.Join(e.bin, "ordermesh-policies")
	if _, err := os.Stat(p); err != nil {
		e.t.Fatalf("policy pack not built (%v): run `make tools`", err)
	}
	return p
}

// previewSummary builds and runs tools/previewsummary on an events file.
func (e *env) previewSummary(stack, events string) string {
	e.t.Helper()
	bin := filepath.Join(e.work, "previewsummary")
	if _, err := os.Stat(bin); err != nil {
		cmd := exec.Command("go", "build", "-o", bin, "./tools/previewsummary")
		cmd.Dir = e.root
		if out, err := cmd.CombinedOutput(); err != nil {
			e.t.Fatalf("build previewsummary: %v\n%s", err, out)
		}
	}
	out, err := exec.Command(bin, "-stack", stack, "-events", events).CombinedOutput()
	if err != nil {
		e.t.Fatalf("previewsummary on real events: %v\n%s", err, out)
	}
	return string(out)
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
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
