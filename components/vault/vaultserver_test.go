//go:build vaultserver

// Tests against a real Vault server (v1.1.2 dev mode, built by `make
// vault-tool`). They run the exact script the configuration Job runs,
// rendered from the component's plan, with the real vault CLI.
//
//	make test-vault
//	ORDERMESH_VAULT_BIN=/path/to/vault go test -tags vaultserver ./components/vault/
package vault

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// vaultBin finds the vault binary: $ORDERMESH_VAULT_BIN or <repo>/bin/vault.
// A missing binary fails the test; it is never skipped.
func vaultBin(tb testing.TB) string {
	tb.Helper()
	p := os.Getenv("ORDERMESH_VAULT_BIN")
	if p == "" {
		p = filepath.Join("..", "..", "bin", "vault")
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		tb.Fatalf("vault binary not found at %s (%v): run `make vault-tool` or set ORDERMESH_VAULT_BIN", abs, err)
	}
	return abs
}

type devServer struct {
	bin     string
	addr    string
	version string
	log     *bytes.Buffer
	client  *http.Client
}

// startDev starts `vault server -dev` on a free loopback port and waits
// until it answers.
func startDev(tb testing.TB) *devServer {
	tb.Helper()
	bin := vaultBin(tb)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hostport := l.Addr().String()
	l.Close()
	s := &devServer{bin: bin, addr: "http://" + hostport, log: &bytes.Buffer{}, client: &http.Client{Timeout: 10 * time.Second}}
	cmd := exec.Command(bin, "server", "-dev", "-dev-listen-address="+hostport, "-dev-root-token-id=root")
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.Env = append(os.Environ(), "HOME="+tb.TempDir())
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start vault: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, body, err := s.call("GET", "sys/health", "", nil)
		if err == nil && code == http.StatusOK {
			s.version, _ = body["version"].(string)
			return s
		}
		if time.Now().After(deadline) {
			tb.Fatalf("vault dev server not ready at %s: %v\n%s", s.addr, err, s.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// call performs one HTTP API request; token "" means the root token.
func (s *devServer) call(method, path, token string, body any) (int, map[string]any, error) {
	if token == "" {
		token = "root"
	}
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.addr+"/v1/"+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("X-Vault-Token", token)
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	out := map[string]any{}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return resp.StatusCode, nil, fmt.Errorf("%s %s: decode %q: %w", method, path, raw, err)
		}
	}
	return resp.StatusCode, out, nil
}

// mustCall is call that fails the test on transport errors or an
// unexpected status.
func (s *devServer) mustCall(tb testing.TB, method, path, token string, body any, want int) map[string]any {
	tb.Helper()
	code, out, err := s.call(method, path, token, body)
	if err != nil {
		tb.Fatal(err)
	}
	if code != want {
		tb.Fatalf("%s %s: status %d, want %d: %v", method, path, code, want, out)
	}
	return out
}

// apply renders the plan with the component's RenderScript and runs it with
// sh and the real vault CLI, exactly as the Job does. seeds maps seed file
// names to their data.
func (s *devServer) apply(tb testing.TB, plan *Plan, seeds map[string]map[string]string) (string, error) {
	tb.Helper()
	script, err := RenderScript(plan)
	if err != nil {
		return "", err
	}
	dir := tb.TempDir()
	seedDir := filepath.Join(dir, "seed")
	if err := os.Mkdir(seedDir, 0o700); err != nil {
		tb.Fatal(err)
	}
	for name, data := range seeds {
		b, _ := json.Marshal(data)
		if err := os.WriteFile(filepath.Join(seedDir, name), b, 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	path := filepath.Join(dir, "configure.sh")
	if err := os.WriteFile(path, []byte(script), 0o700); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command("sh", path)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"VAULT_ADDR=" + s.addr,
		"VAULT_TOKEN=root",
		"VAULT_BIN=" + s.bin,
		"SEED_DIR=" + seedDir,
		"WAIT_SECONDS=10",
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("configuration script failed: %w\n%s", err, out)
	}
	return string(out), nil
}

// is11 reports whether the server is the v1.1 test build whose tolerated
// differences apply.
func (s *devServer) is11() bool { return strings.HasPrefix(s.version, "1.1.") }

func testCACert(tb testing.TB) string {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "ordermesh-test-ca"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// testArgs declares the order system with seed secrets. The CA certificate
// is set because Vault 1.1 requires one (current Vault in a pod reads its
// own); it is a real product field.
func testArgs(tb testing.TB, names []string) Args {
	var svcs []Service
	for _, n := range names {
		svc := Service{Name: n, Namespace: "orders", Secrets: []SeedSecret{{Path: "config"}}}
		if n == "payment" {
			svc.Secrets = append(svc.Secrets, SeedSecret{Path: "gateway/api"})
		}
		svcs = append(svcs, svc)
	}
	return Args{KVMount: "services", KubernetesCACert: testCACert(tb), Services: svcs}
}

func seedData(a Args, version string) map[string]map[string]string {
	out := map[string]map[string]string{}
	for _, s := range a.Services {
		for _, sec := range s.Secrets {
			out[SeedFileName(s.Name, sec.Path)] = map[string]string{"value": s.Name + "/" + sec.Path + "@" + version}
		}
	}
	return out
}

func mustPlan(tb testing.TB, a Args) *Plan {
	tb.Helper()
	p, err := NewPlan(a)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// checkIsolation verifies, for every service, with a token carrying only
// that service's policy (plus Vault's default policy, as a login token
// has): it can read each of its own secrets and nothing else; every other
// service's path, its own paths for writing, the metadata paths and the
// policy API are refused (403); sys/capabilities agrees. It returns every
// violation found.
func checkIsolation(tb testing.TB, s *devServer, a Args) []string {
	tb.Helper()
	a = a.applyDefaults()
	var problems []string
	paths := map[string][]string{} // service -> its secret API paths
	for _, svc := range a.Services {
		for _, sec := range svc.Secrets {
			paths[svc.Name] = append(paths[svc.Name], ServiceSecretPrefix(a.KVMount, svc.Name)+sec.Path)
		}
	}
	for _, svc := range a.Services {
		tok := s.mustCall(tb, "POST", "auth/token/create", "", map[string]any{
			"policies": []string{PolicyName(a.NamePrefix, svc.Name)}, "ttl": "10m",
		}, http.StatusOK)["auth"].(map[string]any)["client_token"].(string)

		expect := map[string][]string{} // path -> exact capabilities
		for _, p := range paths[svc.Name] {
			expect[p] = []string{"read"}
		}
		for other, ps := range paths {
			if other == svc.Name {
				continue
			}
			for _, p := range ps {
				expect[p] = []string{"deny"}
			}
		}
		expect[a.KVMount+"/metadata/"+svc.Name+"/config"] = []string{"deny"}
		expect["sys/policy/"+PolicyName(a.NamePrefix, svc.Name)] = []string{"deny"}

		var query []string
		for p := range expect {
			query = append(query, p)
		}
		sort.Strings(query)
		caps := s.mustCall(tb, "POST", "sys/capabilities", "", map[string]any{"token": tok, "paths": query}, http.StatusOK)
		for _, p := range query {
			var got []string
			if raw, ok := caps[p].([]any); ok {
				for _, c := range raw {
					got = append(got, c.(string))
				}
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, expect[p]) {
				problems = append(problems, fmt.Sprintf("%s: capabilities on %s = %v, want %v", svc.Name, p, got, expect[p]))
			}
		}

		for _, p := range query {
			code, _, err := s.call("GET", p, tok, nil)
			if err != nil {
				tb.Fatal(err)
			}
			want := http.StatusForbidden
			if expect[p][0] == "read" {
				want = http.StatusOK
			}
			if code != want {
				problems = append(problems, fmt.Sprintf("%s: GET %s = %d, want %d", svc.Name, p, code, want))
			}
		}
		for _, p := range paths[svc.Name] {
			code, _, err := s.call("PUT", p, tok, map[string]any{"data": map[string]string{"x": "y"}})
			if err != nil {
				tb.Fatal(err)
			}
			if code != http.StatusForbidden {
				problems = append(problems, fmt.Sprintf("%s: PUT %s = %d, want 403", svc.Name, p, code))
			}
		}
	}
	return problems
}

// snapshot reads back everything the configuration owns, for idempotency
// comparisons.
func snapshot(tb testing.TB, s *devServer, a Args) map[string]any {
	tb.Helper()
	a = a.applyDefaults()
	snap := map[string]any{}
	mounts := s.mustCall(tb, "GET", "sys/mounts", "", nil, http.StatusOK)
	m := mounts[a.KVMount+"/"].(map[string]any)
	snap["mount"] = []any{m["type"], m["options"], m["accessor"]}
	auths := s.mustCall(tb, "GET", "sys/auth", "", nil, http.StatusOK)
	au := auths[a.AuthPath+"/"].(map[string]any)
	snap["auth"] = []any{au["type"], au["accessor"]}
	snap["config"] = s.mustCall(tb, "GET", "auth/"+a.AuthPath+"/config", "", nil, http.StatusOK)["data"]
	pols := s.mustCall(tb, "GET", "sys/policy", "", nil, http.StatusOK)["policies"].([]any)
	for _, p := range pols {
		name := p.(string)
		snap["policy/"+name] = s.mustCall(tb, "GET", "sys/policy/"+name, "", nil, http.StatusOK)["rules"]
	}
	code, roles, err := s.call("LIST", "auth/"+a.AuthPath+"/role", "", nil)
	if err != nil {
		tb.Fatal(err)
	}
	if code == http.StatusOK {
		for _, r := range roles["data"].(map[string]any)["keys"].([]any) {
			name := r.(string)
			snap["role/"+name] = s.mustCall(tb, "GET", "auth/"+a.AuthPath+"/role/"+name, "", nil, http.StatusOK)["data"]
		}
	}
	for _, svc := range a.Services {
		for _, sec := range svc.Secrets {
			p := a.KVMount + "/data/" + svc.Name + "/" + sec.Path
			snap["secret/"+p] = s.mustCall(tb, "GET", p, "", nil, http.StatusOK)["data"]
		}
	}
	return snap
}

func TestVaultServerConfiguresOrderSystem(t *testing.T) {
	s := startDev(t)
	t.Logf("vault server version %s at %s", s.version, s.addr)
	args := testArgs(t, orderSystem)
	a := args.applyDefaults()
	out, err := s.apply(t, mustPlan(t, args), seedData(args, "v1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("first run output:\n%s", out)

	t.Run("mount and auth method exist", func(t *testing.T) {
		mounts := s.mustCall(t, "GET", "sys/mounts", "", nil, http.StatusOK)
		m, ok := mounts["services/"].(map[string]any)
		if !ok || m["type"] != "kv" || m["options"].(map[string]any)["version"] != "2" {
			t.Errorf("services/ mount = %v, want kv version 2", mounts["services/"])
		}
		auths := s.mustCall(t, "GET", "sys/auth", "", nil, http.StatusOK)
		if au, ok := auths["kubernetes/"].(map[string]any); !ok || au["type"] != "kubernetes" {
			t.Errorf("kubernetes/ auth = %v", auths["kubernetes/"])
		}
	})

	t.Run("auth config reads back", func(t *testing.T) {
		cfg := s.mustCall(t, "GET", "auth/kubernetes/config", "", nil, http.StatusOK)["data"].(map[string]any)
		if cfg["kubernetes_host"] != a.KubernetesHost || cfg["kubernetes_ca_cert"] != a.KubernetesCACert {
			t.Errorf("auth config = %v", cfg)
		}
	})

	t.Run("policies read back equal to the generated ones", func(t *testing.T) {
		for _, svc := range orderSystem {
			rules := s.mustCall(t, "GET", "sys/policy/ordermesh-"+svc, "", nil, http.StatusOK)["rules"].(string)
			got, err := ParsePolicy(rules)
			if err != nil {
				t.Fatal(err)
			}
			if want := ServicePolicy("services", svc); !reflect.DeepEqual(got, want) {
				t.Errorf("policy %s = %+v, want %+v", svc, got, want)
			}
		}
	})

	t.Run("roles read back", func(t *testing.T) {
		for _, svc := range orderSystem {
			role := s.mustCall(t, "GET", "auth/kubernetes/role/ordermesh-"+svc, "", nil, http.StatusOK)["data"].(map[string]any)
			if fmt.Sprint(role["bound_service_account_names"]) != "["+svc+"]" ||
				fmt.Sprint(role["bound_service_account_namespaces"]) != "[orders]" {
				t.Errorf("role %s bindings = %v / %v", svc, role["bound_service_account_names"], role["bound_service_account_namespaces"])
			}
			tp, has := role["token_policies"]
			switch {
			case has:
				if fmt.Sprint(tp) != "[ordermesh-"+svc+"]" {
					t.Errorf("role %s token_policies = %v", svc, tp)
				}
			case s.is11():
				// Tolerated v1.1 difference: token_policies/token_ttl are
				// accepted and dropped (1.1 knows only policies/ttl). The
				// product keeps current field names; login is not exercised.
				if role["policies"] != nil {
					t.Errorf("role %s: legacy policies unexpectedly set: %v", svc, role["policies"])
				}
			default:
				t.Errorf("role %s has no token_policies on Vault %s", svc, s.version)
			}
		}
		if s.is11() {
			t.Logf("tolerated on %s: roles drop token_policies/token_ttl (read back: absent)", s.version)
		}
	})

	t.Run("seed secrets written", func(t *testing.T) {
		got := s.mustCall(t, "GET", "services/data/payment/gateway/api", "", nil, http.StatusOK)["data"].(map[string]any)
		if got["data"].(map[string]any)["value"] != "payment/gateway/api@v1" {
			t.Errorf("seed = %v", got)
		}
	})

	t.Run("each service reads only its own secrets", func(t *testing.T) {
		for _, p := range checkIsolation(t, s, args) {
			t.Error(p)
		}
	})

	t.Run("re-running changes nothing", func(t *testing.T) {
		before := snapshot(t, s, args)
		// New seed values must not overwrite existing secrets.
		if _, err := s.apply(t, mustPlan(t, args), seedData(args, "v2")); err != nil {
			t.Fatal(err)
		}
		after := snapshot(t, s, args)
		if !reflect.DeepEqual(before, after) {
			for k := range after {
				if !reflect.DeepEqual(before[k], after[k]) {
					t.Errorf("%s changed on re-run:\n before %v\n after  %v", k, before[k], after[k])
				}
			}
			t.FailNow()
		}
	})

	t.Run("removing a service removes its policy and role only", func(t *testing.T) {
		// Unmanaged policy and role (no prefix) must survive the prune.
		s.mustCall(t, "PUT", "sys/policy/team-audit", "", map[string]any{"policy": `{"path":{"sys/audit":{"capabilities":["read"]}}}`}, http.StatusNoContent)
		s.mustCall(t, "PUT", "auth/kubernetes/role/team-audit", "", map[string]any{
			"bound_service_account_names": []string{"audit"}, "bound_service_account_namespaces": []string{"audit"},
		}, http.StatusNoContent)

		fewer := testArgs(t, orderSystem[:5]) // drops notification
		fewer.KubernetesCACert = args.KubernetesCACert
		out, err := s.apply(t, mustPlan(t, fewer), seedData(fewer, "v1"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "delete policy ordermesh-notification") || !strings.Contains(out, "delete role ordermesh-notification") {
			t.Errorf("script output does not report the deletions:\n%s", out)
		}
		for _, p := range []string{"sys/policy/ordermesh-notification", "auth/kubernetes/role/ordermesh-notification"} {
			if code, _, _ := s.call("GET", p, "", nil); code != http.StatusNotFound {
				t.Errorf("GET %s = %d after removal, want 404", p, code)
			}
		}
		for _, p := range []string{"sys/policy/team-audit", "auth/kubernetes/role/team-audit", "sys/policy/ordermesh-order", "auth/kubernetes/role/ordermesh-order"} {
			s.mustCall(t, "GET", p, "", nil, http.StatusOK)
		}
		for _, p := range checkIsolation(t, s, fewer) {
			t.Error(p)
		}
		// Restoring the service brings policy and role back.
		if _, err := s.apply(t, mustPlan(t, args), seedData(args, "v1")); err != nil {
			t.Fatal(err)
		}
		s.mustCall(t, "GET", "sys/policy/ordermesh-notification", "", nil, http.StatusOK)
	})
}

// TestVaultServerIsolationCheckCatchesOverBroadPolicy proves checkIsolation
// can fail: one service's policy is replaced on the server by an over-broad
// one (the whole mount, and write on its own prefix), and the check must
// report it.
func TestVaultServerIsolationCheckCatchesOverBroadPolicy(t *testing.T) {
	s := startDev(t)
	args := testArgs(t, orderSystem)
	if _, err := s.apply(t, mustPlan(t, args), seedData(args, "v1")); err != nil {
		t.Fatal(err)
	}
	broad := Policy{Path: map[string]PathRule{
		"services/data/*":       {Capabilities: []Capability{CapRead}},
		"services/data/order/*": {Capabilities: []Capability{CapRead, CapUpdate}},
	}}
	if err := CheckServicePolicy(broad, "services", "order"); err == nil {
		t.Fatal("static check accepted the over-broad policy")
	}
	doc, err := broad.JSON()
	if err != nil {
		t.Fatal(err)
	}
	s.mustCall(t, "PUT", "sys/policy/ordermesh-order", "", map[string]any{"policy": doc}, http.StatusNoContent)

	problems := checkIsolation(t, s, args)
	joined := strings.Join(problems, "\n")
	for _, want := range []string{
		"order: capabilities on services/data/payment/config",
		"order: GET services/data/payment/config = 200, want 403",
		"order: PUT services/data/order/config = 200, want 403",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("isolation check missed %q; it reported:\n%s", want, joined)
		}
	}
	for _, p := range problems {
		if !strings.HasPrefix(p, "order: ") {
			t.Errorf("violation blamed on an unaffected service: %s", p)
		}
	}
}

// TestVaultServerV11Differences records the behaviours where Vault 1.1.2
// differs from current Vault, so a change in the test server is noticed.
func TestVaultServerV11Differences(t *testing.T) {
	s := startDev(t)
	if !s.is11() {
		t.Fatalf("this test documents Vault 1.1 behaviour; server is %s", s.version)
	}
	t.Run("auth config without CA is refused", func(t *testing.T) {
		// Current Vault in a pod uses the pod's CA, so the product's
		// default config has no kubernetes_ca_cert; 1.1 requires one.
		args := Args{KVMount: "services", Services: []Service{{Name: "order", Namespace: "orders"}}}
		out, err := s.apply(t, mustPlan(t, args), nil)
		if err == nil || !strings.Contains(out, "kubernetes_ca_cert must be set") {
			t.Fatalf("err = %v, output:\n%s", err, out)
		}
	})
	t.Run("current role field names are dropped", func(t *testing.T) {
		s.mustCall(t, "POST", "sys/auth/k2", "", map[string]any{"type": "kubernetes"}, http.StatusNoContent)
		s.mustCall(t, "PUT", "auth/k2/role/r", "", KubernetesRole{
			BoundServiceAccountNames: []string{"a"}, BoundServiceAccountNamespaces: []string{"b"},
			TokenPolicies: []string{"p"}, TokenTTL: "1h", Audience: "vault",
		}, http.StatusNoContent)
		role := s.mustCall(t, "GET", "auth/k2/role/r", "", nil, http.StatusOK)["data"].(map[string]any)
		for _, k := range []string{"token_policies", "token_ttl", "audience"} {
			if _, ok := role[k]; ok {
				t.Errorf("1.1 kept %s; update docs/VAULT.md", k)
			}
		}
		if role["policies"] != nil || role["ttl"].(float64) != 0 {
			t.Errorf("role = %v", role)
		}
	})
}

// BenchmarkConfigure measures one run of the configuration script (the
// Job's work) against a dev server: "first" on a fresh server, "rerun" on
// an already configured one.
//
//	go test -tags vaultserver -run '^$' -bench Configure -benchtime 3x ./components/vault/
func BenchmarkConfigure(b *testing.B) {
	ca := testCACert(b)
	for _, n := range []int{6, 30} {
		var names []string
		for i := range n {
			names = append(names, fmt.Sprintf("svc-%02d", i))
		}
		args := testArgs(b, names)
		args.KubernetesCACert = ca
		plan := mustPlan(b, args)
		seeds := seedData(args, "v1")
		b.Run(fmt.Sprintf("first/services=%d", n), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				s := startDev(b)
				b.StartTimer()
				if _, err := s.apply(b, plan, seeds); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(fmt.Sprintf("rerun/services=%d", n), func(b *testing.B) {
			s := startDev(b)
			if _, err := s.apply(b, plan, seeds); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for b.Loop() {
				if _, err := s.apply(b, plan, seeds); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
