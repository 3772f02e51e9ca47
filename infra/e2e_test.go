//go:build e2e

// The end-to-end test applies the real program with the real Pulumi CLI,
// language host and Kubernetes provider to a real API server (the local
// control plane with the upstream CRDs), then checks the cluster, a no-change
// preview, destroy and shutdown, for the dev and prod profiles. Run it with
// `make test-e2e`.
package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/stacks"
)

func TestEndToEnd(t *testing.T) {
	e := newEnv(t)
	e.clusterUp() // one control plane for every stack below; stopped and checked at the end

	t.Run("bad config fails the preview listing every problem and touches nothing", func(t *testing.T) {
		proj := e.project("dev", map[string]any{
			"ordermesh:kafka": map[string]any{"brokers": -1, "replication": 5},
			"ordermesh:services": map[string]any{
				"payment": map[string]any{"canary": map[string]any{"enabled": true, "weight": 120}},
				"paymnet": map[string]any{"replicas": 2},
			},
		})
		proj.mustPulumi("stack", "init", "dev", "--non-interactive")
		out, err := proj.pulumi("preview", "--non-interactive", "--stack", "dev")
		if err == nil {
			t.Fatalf("preview with bad config succeeded:\n%s", out)
		}
		for _, want := range []string{"ordermesh:kafka.brokers", "ordermesh:services.payment.canary.weight", "paymnet"} {
			if !strings.Contains(out, want) {
				t.Errorf("preview output does not name %s:\n%s", want, out)
			}
		}
		if code := e.kube.get("/api/v1/namespaces/orders", nil); code != http.StatusNotFound {
			t.Errorf("namespace orders: HTTP %d after a failed preview, want 404", code)
		}
		proj.mustPulumi("stack", "rm", "dev", "--yes", "--non-interactive")
	})

	t.Run("policy pack rejects the broken stack naming each violated rule", func(t *testing.T) {
		proj := e.programProject(filepath.Join(e.root, "policies", "testdata", "broken"), "broken")
		proj.mustPulumi("stack", "init", "broken", "--non-interactive")
		out, err := proj.pulumi("preview", "--non-interactive", "--stack", "broken", "--policy-pack", e.policyPack())
		if err == nil {
			t.Fatalf("preview of the broken stack passed the policy pack:\n%s", out)
		}
		for _, rule := range []string{"workload-resources", "service-type-restricted", "canary-weights-sum-100", "kafka-topic-replication"} {
			if !strings.Contains(out, rule) {
				t.Errorf("violated rule %s not named:\n%s", rule, out)
			}
		}
	})

	for _, tc := range []struct {
		profile string
		secrets map[string]string
		check   func(t *testing.T, e *env, cfg *stacks.Config)
	}{
		{profile: "dev", check: checkDev},
		{profile: "prod", secrets: map[string]string{"ordermesh:vaultAdminToken": "e2e-admin-token"}, check: checkProd},
	} {
		t.Run(tc.profile, func(t *testing.T) {
			cfg, err := stacks.Resolve(tc.profile, map[string]string{"ordermesh:profile": tc.profile})
			if err != nil {
				t.Fatal(err)
			}
			proj := e.project(tc.profile, nil)
			proj.mustPulumi("stack", "init", tc.profile, "--non-interactive")
			for k, v := range tc.secrets {
				proj.mustPulumi("config", "set", "--secret", "--stack", tc.profile, k, v)
			}
			start := time.Now()
			out := proj.mustPulumi("up", "--yes", "--non-interactive", "--skip-preview", "--stack", tc.profile)
			t.Logf("pulumi up (%s): %.1fs, %s", tc.profile, time.Since(start).Seconds(), resourceSummary(out))
			assertNoPlaintextInState(t, e, tc.secrets)

			t.Run("namespaces exist with their labels", func(t *testing.T) { checkNamespaces(t, e, cfg) })
			t.Run("every platform custom resource was accepted by the upstream CRD schemas", func(t *testing.T) { checkCustomResources(t, e, cfg) })
			t.Run("profile specifics", func(t *testing.T) { tc.check(t, e, cfg) })

			t.Run("a second preview shows no changes", func(t *testing.T) {
				start := time.Now()
				out := proj.mustPulumi("preview", "--expect-no-changes", "--non-interactive", "--stack", tc.profile)
				t.Logf("pulumi preview (%s, no changes): %.1fs", tc.profile, time.Since(start).Seconds())
				if !strings.Contains(out, "unchanged") {
					t.Errorf("preview output does not report unchanged resources:\n%s", out)
				}
			})

			t.Run("the policy pack passes and the preview summary reads the real events", func(t *testing.T) {
				events := filepath.Join(e.work, tc.profile+"-events.json")
				out, err := proj.pulumiEnv([]string{"PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true"}, "preview", "--json", "--non-interactive", "--stack", tc.profile,
					"--policy-pack", e.policyPack(), "--policy-pack-config", filepath.Join(e.root, "policies", "config", tc.profile+".json"))
				if err := os.WriteFile(events, []byte(out), 0o600); err != nil {
					t.Fatal(err)
				}
				if err != nil {
					t.Fatalf("preview with the policy pack failed (%v); events in %s:\n%s", err, events, tail(out, 40))
				}
				summary := e.previewSummary(tc.profile, events)
				if !strings.Contains(summary, "`"+tc.profile+"`") || !strings.Contains(summary, " 0 mandatory") {
					t.Errorf("summary of a passing %s preview:\n%s", tc.profile, summary)
				}
			})

			t.Run("destroy removes everything", func(t *testing.T) {
				proj.mustPulumi("destroy", "--yes", "--non-interactive", "--skip-preview", "--stack", tc.profile)
				eventually(t, 90*time.Second, "namespace orders gone", func() (bool, string) {
					var ns map[string]any
					code := e.kube.get("/api/v1/namespaces/"+cfg.Namespaces.Apps, &ns)
					phase, _ := field(ns, "status", "phase").(string)
					return code == http.StatusNotFound, phase
				})
			})
		})
	}
}

var resourcesLine = regexp.MustCompile(`\+ (\d+) created`)

func resourceSummary(out string) string {
	if m := resourcesLine.FindStringSubmatch(out); m != nil {
		return m[1] + " resources created"
	}
	return "resource count not found"
}

// assertNoPlaintextInState checks the exported state for secret values.
func assertNoPlaintextInState(t *testing.T, e *env, secrets map[string]string) {
	t.Helper()
	err := filepath.Walk(filepath.Join(e.work, "backend"), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for k, v := range secrets {
			if strings.Contains(string(b), v) {
				t.Errorf("secret %s found in plaintext in %s", k, path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func checkNamespaces(t *testing.T, e *env, cfg *stacks.Config) {
	n := cfg.Namespaces
	for name, role := range map[string]string{n.Apps: "apps", n.Kafka: "kafka", n.Mesh: "mesh", n.Vault: "vault", n.Observability: "observability", n.Ingress: "ingress"} {
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
	var apps map[string]any
	e.kube.get("/api/v1/namespaces/"+n.Apps, &apps)
	if labels, _ := field(apps, "metadata", "labels").(map[string]any); labels["istio-injection"] != "enabled" {
		t.Errorf("apps namespace lacks istio-injection=enabled: %v", labels)
	}
}

// checkCustomResources lists every kind of custom resource the program
// creates; they exist only if the API server accepted them under the
// upstream CRD schemas (server-side apply).
func checkCustomResources(t *testing.T, e *env, cfg *stacks.Config) {
	n := cfg.Namespaces
	topics := 2 * len(cfg.Kafka.Topics)
	wantAtLeast := []struct {
		path string
		min  int
	}{
		{"/apis/kafka.strimzi.io/v1/namespaces/" + n.Kafka + "/kafkas", 1},
		{"/apis/kafka.strimzi.io/v1/namespaces/" + n.Kafka + "/kafkanodepools", 1},
		{"/apis/kafka.strimzi.io/v1/namespaces/" + n.Kafka + "/kafkatopics", topics},
		{"/apis/kafka.strimzi.io/v1/namespaces/" + n.Apps + "/kafkausers", len(cfg.Services)},
		{"/apis/security.istio.io/v1/namespaces/" + n.Mesh + "/peerauthentications", 1},
		{"/apis/security.istio.io/v1/namespaces/" + n.Apps + "/authorizationpolicies", 2},
		{"/apis/networking.istio.io/v1/namespaces/" + n.Apps + "/destinationrules", len(cfg.Services)},
		{"/apis/networking.istio.io/v1/namespaces/" + n.Apps + "/virtualservices", 1},
		{"/apis/networking.istio.io/v1/namespaces/" + n.Ingress + "/gateways", 1},
		{"/apis/telemetry.istio.io/v1/namespaces/" + n.Mesh + "/telemetries", 1},
		{"/apis/monitoring.coreos.com/v1/namespaces/" + n.Apps + "/servicemonitors", len(cfg.Services)},
		{"/apis/monitoring.coreos.com/v1/namespaces/" + n.Observability + "/prometheusrules", 1},
	}
	for _, w := range wantAtLeast {
		if got := len(e.kube.items(w.path)); got < w.min {
			t.Errorf("%s: %d objects, want at least %d", w.path, got, w.min)
		}
	}
	for _, topic := range e.kube.items("/apis/kafka.strimzi.io/v1/namespaces/" + n.Kafka + "/kafkatopics") {
		name, _ := field(topic, "spec", "topicName").(string)
		if name == "" {
			name, _ = field(topic, "metadata", "name").(string)
		}
		replicas, _ := field(topic, "spec", "replicas").(float64)
		if int(replicas) != cfg.Kafka.Replication {
			t.Errorf("topic %s: replicas %v, want %d", name, replicas, cfg.Kafka.Replication)
		}
	}
}

// deployments returns the apps namespace's Deployments by name.
func deployments(e *env, ns string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, d := range e.kube.items("/apis/apps/v1/namespaces/" + ns + "/deployments") {
		name, _ := field(d, "metadata", "name").(string)
		out[name] = d
	}
	return out
}

// waitReady waits until every Deployment of the services (and their
// canaries) has all its replicas ready.
func waitReady(t *testing.T, e *env, cfg *stacks.Config) map[string]map[string]any {
	t.Helper()
	var ds map[string]map[string]any
	eventually(t, 120*time.Second, "all Deployments ready", func() (bool, string) {
		ds = deployments(e, cfg.Namespaces.Apps)
		var notReady []string
		for _, name := range cfg.SortedServiceNames() {
			want := []string{name + "-v1"}
			if cfg.Services[name].Canary.Enabled {
				want = append(want, name+"-v2")
			}
			for _, dn := range want {
				d, ok := ds[dn]
				spec, _ := field(d, "spec", "replicas").(float64)
				ready, _ := field(d, "status", "readyReplicas").(float64)
				if !ok || spec == 0 || ready != spec {
					notReady = append(notReady, fmt.Sprintf("%s %v/%v", dn, ready, spec))
				}
			}
		}
		return len(notReady) == 0, strings.Join(notReady, ", ")
	})
	return ds
}

// pdbs returns each service's PDB status once the disruption controller has
// observed it.
func pdbs(t *testing.T, e *env, cfg *stacks.Config) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	eventually(t, 60*time.Second, "PDB status observed", func() (bool, string) {
		for _, p := range e.kube.items("/apis/policy/v1/namespaces/" + cfg.Namespaces.Apps + "/poddisruptionbudgets") {
			name, _ := field(p, "metadata", "name").(string)
			out[name] = p
		}
		for _, name := range cfg.SortedServiceNames() {
			if _, ok := field(out[name], "status", "disruptionsAllowed").(float64); !ok {
				return false, name + " not observed"
			}
			if field(out[name], "status", "currentHealthy") != field(out[name], "status", "expectedPods") {
				return false, name + " not all healthy yet"
			}
		}
		return true, ""
	})
	return out
}

func checkDev(t *testing.T, e *env, cfg *stacks.Config) {
	ds := waitReady(t, e, cfg)
	for _, name := range cfg.SortedServiceNames() {
		if _, ok := ds[name+"-v2"]; ok {
			t.Errorf("dev has a canary Deployment for %s", name)
		}
		if r := field(ds[name+"-v1"], "spec", "replicas"); r != float64(1) {
			t.Errorf("%s-v1 replicas = %v, want 1", name, r)
		}
	}
	for name, p := range pdbs(t, e, cfg) {
		if allowed, _ := field(p, "status", "disruptionsAllowed").(float64); allowed < 1 {
			t.Errorf("PDB %s allows %v disruptions, want >= 1", name, allowed)
		}
	}
	jobs := e.kube.items("/apis/batch/v1/namespaces/" + cfg.Namespaces.Vault + "/jobs")
	if len(jobs) != 1 || field(jobs[0], "status", "succeeded") != float64(1) {
		t.Errorf("want one succeeded Vault configuration Job, got %d jobs", len(jobs))
	}
}

func checkProd(t *testing.T, e *env, cfg *stacks.Config) {
	ds := waitReady(t, e, cfg)
	for _, name := range cfg.SortedServiceNames() {
		if r := field(ds[name+"-v1"], "spec", "replicas"); r != float64(3) {
			t.Errorf("%s-v1 replicas = %v, want 3", name, r)
		}
		if _, ok := ds[name+"-v2"]; ok != cfg.Services[name].Canary.Enabled {
			t.Errorf("%s canary Deployment present = %v, want %v", name, ok, cfg.Services[name].Canary.Enabled)
		}
	}
	for name, p := range pdbs(t, e, cfg) {
		if m := field(p, "spec", "minAvailable"); m != float64(2) {
			t.Errorf("PDB %s minAvailable = %v, want 2", name, m)
		}
		if allowed, _ := field(p, "status", "disruptionsAllowed").(float64); allowed < 1 {
			t.Errorf("PDB %s allows %v disruptions, want >= 1 (it would block drains)", name, allowed)
		}
	}

	// Zone spread: the three stable pods of each service sit in three zones.
	nodeZone := map[string]string{}
	for _, n := range e.kube.items("/api/v1/nodes") {
		name, _ := field(n, "metadata", "name").(string)
		labels, _ := field(n, "metadata", "labels").(map[string]any)
		nodeZone[name], _ = labels["topology.kubernetes.io/zone"].(string)
	}
	zones := map[string]map[string]bool{}
	for _, p := range e.kube.items("/api/v1/namespaces/" + cfg.Namespaces.Apps + "/pods?labelSelector=version%3Dv1") {
		labels, _ := field(p, "metadata", "labels").(map[string]any)
		app, _ := labels["app.kubernetes.io/name"].(string)
		node, _ := field(p, "spec", "nodeName").(string)
		if zones[app] == nil {
			zones[app] = map[string]bool{}
		}
		zones[app][nodeZone[node]] = true
	}
	for _, name := range cfg.SortedServiceNames() {
		if len(zones[name]) != 3 {
			t.Errorf("%s stable pods span zones %v, want 3 zones", name, keys(zones[name]))
		}
	}

	// End-user JWT at the edge: accepted by the upstream Istio CRDs, with the
	// verified subject forwarded to the order service.
	ras := e.kube.items("/apis/security.istio.io/v1/namespaces/" + cfg.Namespaces.Ingress + "/requestauthentications")
	if len(ras) != 1 {
		t.Fatalf("want one RequestAuthentication at the ingress gateway, got %d", len(ras))
	}
	rules, _ := field(ras[0], "spec", "jwtRules").([]any)
	if len(rules) != 1 || rules[0].(map[string]any)["issuer"] != cfg.Mesh.JWT.Issuer || rules[0].(map[string]any)["outputClaimToHeaders"] == nil {
		t.Errorf("jwtRules = %v, want issuer %s with outputClaimToHeaders", rules, cfg.Mesh.JWT.Issuer)
	}
	denyWithoutToken := false
	for _, ap := range e.kube.items("/apis/security.istio.io/v1/namespaces/" + cfg.Namespaces.Ingress + "/authorizationpolicies") {
		if field(ap, "spec", "action") == "DENY" {
			denyWithoutToken = true
		}
	}
	if !denyWithoutToken {
		t.Error("no DENY AuthorizationPolicy requiring a token at the ingress gateway")
	}

	// Canary routing: header canary=true to v2, the rest split 95/5.
	for _, vs := range e.kube.items("/apis/networking.istio.io/v1/namespaces/" + cfg.Namespaces.Apps + "/virtualservices") {
		name, _ := field(vs, "metadata", "name").(string)
		routes, _ := field(vs, "spec", "http").([]any)
		if len(routes) < 2 {
			continue // the gateway's public route has no canary split
		}
		var weights []int
		for _, d := range routes[len(routes)-1].(map[string]any)["route"].([]any) {
			w, _ := d.(map[string]any)["weight"].(float64)
			weights = append(weights, int(w))
		}
		sort.Sort(sort.Reverse(sort.IntSlice(weights)))
		if fmt.Sprint(weights) != "[95 5]" {
			t.Errorf("VirtualService %s default route weights %v, want [95 5]", name, weights)
		}
	}
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
