package meshcheck

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Fixtures shaped like the provider's render output: one object per file.
const (
	gatewayYAML = `apiVersion: networking.istio.io/v1
kind: Gateway
metadata: {name: public, namespace: istio-ingress}
spec:
  selector: {istio: ingressgateway}
  servers: [{port: {number: 80, name: http, protocol: HTTP}, hosts: [orders.example]}]
`
	publicVSYAML = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: order-api-public, namespace: istio-ingress}
spec:
  hosts: [orders.example]
  gateways: [istio-ingress/public]
  http:
  - name: order-api
    route: [{destination: {host: order.orders.svc.cluster.local, port: {number: 8080}}}]
`
	orderDRYAML = `apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: order, namespace: orders}
spec:
  host: order.orders.svc.cluster.local
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
`
	orderVSYAML = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: order, namespace: orders}
spec:
  hosts: [order.orders.svc.cluster.local]
  http:
  - name: canary-header
    match: [{headers: {canary: {exact: "true"}}}]
    route: [{destination: {host: order.orders.svc.cluster.local, subset: v2}}]
  - name: weighted
    route:
    - {destination: {host: order.orders.svc.cluster.local, subset: v1}, weight: 95}
    - {destination: {host: order.orders.svc.cluster.local, subset: v2}, weight: 5}
`
	orderAPYAML = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: order, namespace: orders}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: order}}
  action: ALLOW
  rules:
  - from: [{source: {principals: [cluster.local/ns/istio-ingress/sa/istio-ingressgateway]}}]
    to: [{operation: {ports: ["8080"]}}]
  - to: [{operation: {ports: ["9090"], paths: [/metrics]}}]
`
	paymentAPYAML = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: payment, namespace: orders}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: payment}}
  rules:
  - from: [{source: {principals: [cluster.local/ns/orders/sa/order]}}]
`
	requireJWTYAML = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: require-jwt, namespace: istio-ingress}
spec:
  selector: {matchLabels: {istio: ingressgateway}}
  action: DENY
  rules:
  - from: [{source: {notRequestPrincipals: ["*"]}}]
    to: [{operation: {notPaths: [/grpc.health.v1.Health/Check]}}]
`
	allowNothingYAML = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-nothing, namespace: orders}
spec: {}
`
	deploymentYAML = `apiVersion: apps/v1
kind: Deployment
metadata: {name: order-v1, namespace: orders, labels: {app.kubernetes.io/name: order}}
spec: {replicas: 1}
`
)

func graph() CallGraph {
	return CallGraph{Workloads: []Workload{
		{Name: "order", Namespace: "orders", Labels: map[string]string{"app.kubernetes.io/name": "order"},
			Callers: []string{"cluster.local/ns/istio-ingress/sa/istio-ingressgateway"}},
		{Name: "payment", Namespace: "orders", Labels: map[string]string{"app.kubernetes.io/name": "payment"},
			Callers: []string{"cluster.local/ns/orders/sa/order"}},
	}}
}

func validRender() map[string]string {
	return map[string]string{
		"1-manifest/gateway.yaml":       gatewayYAML,
		"1-manifest/public-vs.yaml":     publicVSYAML,
		"1-manifest/order-dr.yaml":      orderDRYAML,
		"1-manifest/order-vs.yaml":      orderVSYAML,
		"1-manifest/order-ap.yaml":      orderAPYAML,
		"1-manifest/payment-ap.yaml":    paymentAPYAML,
		"1-manifest/require-jwt.yaml":   requireJWTYAML,
		"1-manifest/allow-nothing.yaml": allowNothingYAML,
		"1-manifest/deployment.yaml":    deploymentYAML,
	}
}

func writeRender(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		// edit changes the valid render; the strings replace old -> new in a file.
		file, old, new string
		wantRules      []string
		wantText       string
	}{
		{name: "the valid render passes"},
		{
			name: "weights summing to 110 fail", file: "1-manifest/order-vs.yaml", old: "weight: 5", new: "weight: 15",
			wantRules: []string{RuleRouteWeights}, wantText: "sum to 110",
		},
		{
			name: "weights 60/50 fail", file: "1-manifest/order-vs.yaml", old: "weight: 95", new: "weight: 60",
			// 60 + 5 = 65
			wantRules: []string{RuleRouteWeights}, wantText: "sum to 65",
		},
		{
			name: "a split without weights fails", file: "1-manifest/order-vs.yaml", old: ", weight: 95", new: "",
			wantRules: []string{RuleRouteWeights}, wantText: "sum to 5",
		},
		{
			name: "a single destination weighted below 100 fails", file: "1-manifest/public-vs.yaml", old: "port: {number: 8080}}}", new: "port: {number: 8080}}, weight: 50}",
			wantRules: []string{RuleRouteWeights}, wantText: "http[0] (order-api): route weights sum to 50",
		},
		{
			name: "a missing subset fails", file: "1-manifest/order-dr.yaml", old: ", {name: v2, labels: {version: v2}}", new: "",
			// both the header route and the weighted route name v2
			wantRules: []string{RuleSubsetExists, RuleSubsetExists}, wantText: `subset "v2" of host order.orders.svc.cluster.local`,
		},
		{
			name: "a subset of a host without DestinationRule fails", file: "1-manifest/order-dr.yaml", old: "host: order.orders", new: "host: orders.orders",
			wantRules: []string{RuleSubsetExists, RuleSubsetExists, RuleSubsetExists}, wantText: "subset",
		},
		{
			name: "a short host resolves in the resource's namespace", file: "1-manifest/order-dr.yaml", old: "host: order.orders.svc.cluster.local", new: "host: order",
		},
		{
			name: "a missing gateway fails", file: "1-manifest/public-vs.yaml", old: "istio-ingress/public", new: "istio-ingress/private",
			wantRules: []string{RuleGatewayExists}, wantText: "no Gateway istio-ingress/private",
		},
		{
			name: "a principal that is not a declared caller fails", file: "1-manifest/payment-ap.yaml", old: "sa/order", new: "sa/shipping",
			wantRules: []string{RulePrincipalDeclared}, wantText: `"cluster.local/ns/orders/sa/shipping" is not a declared caller of orders/payment`,
		},
		{
			name: "the gateway calling a service that does not declare it fails", file: "1-manifest/payment-ap.yaml",
			old: "cluster.local/ns/orders/sa/order", new: "cluster.local/ns/istio-ingress/sa/istio-ingressgateway",
			wantRules: []string{RulePrincipalDeclared}, wantText: "not a declared caller of orders/payment",
		},
		{
			name: "a principal from a foreign namespace fails", file: "1-manifest/payment-ap.yaml", old: "ns/orders/sa/order", new: "ns/default/sa/order",
			wantRules: []string{RulePrincipalDeclared},
		},
		{
			name: "a wildcard principal fails", file: "1-manifest/payment-ap.yaml", old: "cluster.local/ns/orders/sa/order", new: "cluster.local/ns/orders/sa/*",
			wantRules: []string{RulePrincipalFormat, RulePrincipalDeclared}, wantText: "no wildcards",
		},
		{
			name: "a malformed principal fails", file: "1-manifest/payment-ap.yaml", old: "cluster.local/ns/orders/sa/order", new: "orders/order",
			wantRules: []string{RulePrincipalFormat, RulePrincipalDeclared}, wantText: "must be <trust-domain>/ns/<namespace>/sa/<service-account>",
		},
		{
			name: "a namespace-wide allow must suit every service", file: "1-manifest/payment-ap.yaml", old: "  selector: {matchLabels: {app.kubernetes.io/name: payment}}\n", new: "",
			// order's callers do not include order itself
			wantRules: []string{RulePrincipalDeclared}, wantText: "orders/order",
		},
		{
			name: "an allow for an undeclared workload fails", file: "1-manifest/payment-ap.yaml", old: "name: payment}", new: "name: billing}",
			wantRules: []string{RulePolicyTarget}, wantText: "selects no declared service",
		},
		{
			name: "DENY policies may name anyone", file: "1-manifest/payment-ap.yaml", old: "  rules:", new: "  action: DENY\n  rules:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files := validRender()
			if tt.file != "" {
				body := files[tt.file]
				if !strings.Contains(body, tt.old) {
					t.Fatalf("fixture %s does not contain %q", tt.file, tt.old)
				}
				files[tt.file] = strings.Replace(body, tt.old, tt.new, 1)
			}
			m, err := LoadDir(writeRender(t, files))
			if err != nil {
				t.Fatal(err)
			}
			if m.Len() != len(files) {
				t.Fatalf("loaded %d objects, want %d", m.Len(), len(files))
			}
			got := Check(m, graph())
			var rules []string
			for _, f := range got {
				rules = append(rules, f.Rule)
			}
			if strings.Join(rules, ",") != strings.Join(tt.wantRules, ",") {
				t.Fatalf("rules = %v, want %v; findings:\n%v", rules, tt.wantRules, got.Err())
			}
			if tt.wantText != "" && !strings.Contains(got.Error(), tt.wantText) {
				t.Errorf("findings do not mention %q:\n%v", tt.wantText, got)
			}
			if (got.Err() == nil) != (len(tt.wantRules) == 0) {
				t.Errorf("Err() = %v with %d findings", got.Err(), len(got))
			}
		})
	}
}

func TestLoadDirReadsMultiDocumentFilesAndSkipsEmptyDocuments(t *testing.T) {
	dir := writeRender(t, map[string]string{
		"all.yaml":   "---\n" + gatewayYAML + "---\n---\n" + publicVSYAML,
		"notes.txt":  "not a manifest",
		"list.json":  `[{"kind": "Namespace"}]`,
		"sub/x.json": `{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "orders"}}`,
	})
	m, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Len() != 3 || m.Count("VirtualService") != 1 || m.Count("Namespace") != 1 {
		t.Errorf("loaded %d objects (%d VirtualService, %d Namespace), want 3 (1, 1)", m.Len(), m.Count("VirtualService"), m.Count("Namespace"))
	}
}

func TestLoadDirReportsTheBrokenFile(t *testing.T) {
	dir := writeRender(t, map[string]string{"bad.yaml": "kind: [unclosed"})
	_, err := LoadDir(dir)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml") {
		t.Errorf("err = %v, want it to name bad.yaml", err)
	}
}
