package mesh

import (
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/components/internal/pulumimock"
	"github.com/ordermesh/ordermesh/components/versions"
	"github.com/ordermesh/ordermesh/components/versions/crdcheck"
)

type (
	recorded = pulumimock.Resource
	mocks    struct{ pulumimock.Monitor }
)

func (m *mocks) one(t *testing.T, typ string) map[string]any {
	t.Helper()
	rs := m.OfType(typ)
	if len(rs) != 1 {
		t.Fatalf("want one %s, got %d", typ, len(rs))
	}
	return rs[0].Inputs
}

func pct(v float64) *float64 { return &v }

func devArgs() *Args {
	return &Args{
		AppNamespaces:          []string{"orders"},
		TracingSamplingPercent: pct(100),
		OTelCollectorHost:      "otel-collector.observability.svc.cluster.local",
		IngressHost:            "orders.localtest.me",
		OrderAPI:               Destination{Namespace: "orders"},
		GatewayServiceType:     "NodePort",
	}
}

func prodArgs() *Args {
	return &Args{
		AppNamespaces:          []string{"orders", "orders-workers"},
		TracingSamplingPercent: pct(5),
		OTelCollectorHost:      "otel-collector.observability.svc.cluster.local",
		IngressHost:            "api.ordermesh.example.com",
		IngressTLSSecret:       "api-tls",
		JWT:                    JWT{Issuer: "https://auth.ordermesh.example.com", JWKSURI: "https://auth.ordermesh.example.com/.well-known/jwks.json"},
		OrderAPI:               Destination{Namespace: "orders", Port: 8081, PathPrefix: "/v1/orders"},
	}
}

func run(t *testing.T, args *Args) (*mocks, *Mesh, error) {
	t.Helper()
	m := &mocks{}
	var mesh *Mesh
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var err error
		mesh, err = NewMesh(ctx, "mesh", args)
		return err
	}, pulumi.WithMocks("ordermesh", "test", m))
	return m, mesh, err
}

func spec(in map[string]any) map[string]any { return in["spec"].(map[string]any) }

func TestNewMeshInstallsPinnedChartsWithTracingProvider(t *testing.T) {
	m, _, err := run(t, devArgs())
	if err != nil {
		t.Fatal(err)
	}
	charts := m.OfType("kubernetes:helm.sh/v4:Chart")
	if len(charts) != 3 {
		t.Fatalf("want 3 charts, got %d", len(charts))
	}
	want := map[string]versions.Chart{"base": versions.IstioBase, "istiod": versions.Istiod, "gateway": versions.IstioGateway}
	for _, c := range charts {
		pin := want[c.Inputs["chart"].(string)]
		if c.Inputs["version"] != pin.Version || c.Inputs["version"] != "1.30.4" ||
			c.Inputs["repositoryOpts"].(map[string]any)["repo"] != pin.Repo {
			t.Errorf("chart %s inputs = %v", c.Name, c.Inputs)
		}
		if c.Inputs["chart"] == "istiod" {
			mc := c.Inputs["values"].(map[string]any)["meshConfig"].(map[string]any)
			p := mc["extensionProviders"].([]any)[0].(map[string]any)
			otel := p["opentelemetry"].(map[string]any)
			if p["name"] != DefaultTracingProvider || otel["service"] != "otel-collector.observability.svc.cluster.local" || otel["port"] != 4317.0 {
				t.Errorf("istiod extension provider = %v", p)
			}
		}
		if c.Inputs["chart"] == "gateway" && c.Inputs["namespace"] != DefaultGatewayNamespace {
			t.Errorf("gateway namespace = %v", c.Inputs["namespace"])
		}
	}
}

func TestNewMeshWithoutOperatorsCreatesNoCharts(t *testing.T) {
	off := false
	args := prodArgs()
	args.InstallOperators = &off
	m, _, err := run(t, args)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Resources {
		if strings.Contains(r.Type, "helm") {
			t.Errorf("chart %s created with InstallOperators=false", r.Name)
		}
	}
	if len(m.OfType("kubernetes:security.istio.io/v1:PeerAuthentication")) != 1 {
		t.Error("PeerAuthentication missing")
	}
}

func TestNewMeshEnforcesStrictMTLSAndDenyByDefault(t *testing.T) {
	m, _, err := run(t, prodArgs())
	if err != nil {
		t.Fatal(err)
	}
	pa := m.one(t, "kubernetes:security.istio.io/v1:PeerAuthentication")
	if spec(pa)["mtls"].(map[string]any)["mode"] != "STRICT" || pa["metadata"].(map[string]any)["namespace"] != "istio-system" {
		t.Errorf("PeerAuthentication = %v", pa)
	}
	var aps []recorded
	for _, ap := range m.OfType("kubernetes:security.istio.io/v1:AuthorizationPolicy") {
		if ap.Inputs["metadata"].(map[string]any)["name"] == "allow-nothing" {
			aps = append(aps, ap)
		}
	}
	if len(aps) != 2 {
		t.Fatalf("want an allow-nothing AuthorizationPolicy per app namespace, got %d", len(aps))
	}
	for _, ap := range aps {
		if len(spec(ap.Inputs)) != 0 {
			t.Errorf("allow-nothing policy must have an empty spec, got %v", spec(ap.Inputs))
		}
	}
	patches := m.OfType("kubernetes:core/v1:NamespacePatch")
	if len(patches) != 2 {
		t.Fatalf("want 2 namespace patches, got %d", len(patches))
	}
	if l := patches[0].Inputs["metadata"].(map[string]any)["labels"].(map[string]any); l["istio-injection"] != "enabled" {
		t.Errorf("injection labels = %v", l)
	}
}

func TestNewMeshSamplesTracesAtProfileRate(t *testing.T) {
	for name, tc := range map[string]struct {
		args *Args
		want float64
	}{"dev": {devArgs(), 100}, "prod": {prodArgs(), 5}} {
		t.Run(name, func(t *testing.T) {
			m, _, err := run(t, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			tel := m.one(t, "kubernetes:telemetry.istio.io/v1:Telemetry")
			tr := spec(tel)["tracing"].([]any)[0].(map[string]any)
			if tr["randomSamplingPercentage"] != tc.want || tr["providers"].([]any)[0].(map[string]any)["name"] != DefaultTracingProvider {
				t.Errorf("tracing = %v", tr)
			}
		})
	}
}

func TestNewMeshRoutesPublicOrderAPI(t *testing.T) {
	m, mesh, err := run(t, prodArgs())
	if err != nil {
		t.Fatal(err)
	}
	gw := spec(m.one(t, "kubernetes:networking.istio.io/v1:Gateway"))
	servers := gw["servers"].([]any)
	if len(servers) != 2 {
		t.Fatalf("TLS ingress wants http+https servers, got %v", servers)
	}
	https := servers[1].(map[string]any)["tls"].(map[string]any)
	if https["credentialName"] != "api-tls" || https["mode"] != "SIMPLE" {
		t.Errorf("https tls = %v", https)
	}
	vs := spec(m.one(t, "kubernetes:networking.istio.io/v1:VirtualService"))
	route := vs["http"].([]any)[0].(map[string]any)
	dest := route["route"].([]any)[0].(map[string]any)["destination"].(map[string]any)
	if dest["host"] != "order.orders.svc.cluster.local" || dest["port"].(map[string]any)["number"] != 8081.0 {
		t.Errorf("destination = %v", dest)
	}
	if route["match"].([]any)[0].(map[string]any)["uri"].(map[string]any)["prefix"] != "/v1/orders" || route["timeout"] != "10s" {
		t.Errorf("route = %v", route)
	}
	if vs["gateways"].([]any)[0] != "istio-ingress/public" {
		t.Errorf("gateways = %v", vs["gateways"])
	}
	ch := make(chan string, 1)
	mesh.GatewayRef.ApplyT(func(s string) string { ch <- s; return s })
	if got := <-ch; got != "istio-ingress/public" {
		t.Errorf("GatewayRef = %q", got)
	}
}

func TestPublicRouteHonoursTheCanarySplit(t *testing.T) {
	args := prodArgs()
	args.OrderAPI.CanaryWeight = 5
	m, _, err := run(t, args)
	if err != nil {
		t.Fatal(err)
	}
	routes := spec(m.one(t, "kubernetes:networking.istio.io/v1:VirtualService"))["http"].([]any)
	if len(routes) != 2 {
		t.Fatalf("want a canary-header route and a weighted route, got %v", routes)
	}
	header := routes[0].(map[string]any)
	if h := header["match"].([]any)[0].(map[string]any)["headers"].(map[string]any)["canary"]; h.(map[string]any)["exact"] != "true" {
		t.Errorf("first route matches %v, want header canary=true", h)
	}
	if d := header["route"].([]any)[0].(map[string]any)["destination"].(map[string]any); d["subset"] != "v2" {
		t.Errorf("canary-header route goes to %v, want subset v2", d)
	}
	split := map[string]float64{}
	for _, r := range routes[1].(map[string]any)["route"].([]any) {
		rd := r.(map[string]any)
		split[rd["destination"].(map[string]any)["subset"].(string)] = rd["weight"].(float64)
	}
	if split["v1"] != 95 || split["v2"] != 5 {
		t.Errorf("default split = %v, want v1 95 / v2 5", split)
	}

	args.OrderAPI.CanaryWeight = 101
	if _, _, err := run(t, args); err == nil || !strings.Contains(err.Error(), "OrderAPI.CanaryWeight") {
		t.Errorf("weight 101: err = %v, want it named", err)
	}
}

func TestNewMeshParentsEveryChild(t *testing.T) {
	m, _, err := run(t, devArgs())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Resources {
		if r.Type != "ordermesh:mesh:Mesh" && !strings.HasSuffix(r.Parent, "ordermesh:mesh:Mesh::mesh") {
			t.Errorf("%s %s has parent %q", r.Type, r.Name, r.Parent)
		}
	}
}

func TestNewMeshRequiresJWTAtIngressWhenConfigured(t *testing.T) {
	for name, tc := range map[string]struct {
		args *Args
		want int
	}{"dev without issuer": {devArgs(), 0}, "prod with issuer": {prodArgs(), 1}} {
		t.Run(name, func(t *testing.T) {
			m, _, err := run(t, tc.args)
			if err != nil {
				t.Fatal(err)
			}
			ras := m.OfType("kubernetes:security.istio.io/v1:RequestAuthentication")
			if len(ras) != tc.want {
				t.Fatalf("want %d RequestAuthentication, got %d", tc.want, len(ras))
			}
			var deny map[string]any
			for _, ap := range m.OfType("kubernetes:security.istio.io/v1:AuthorizationPolicy") {
				if ap.Inputs["metadata"].(map[string]any)["name"] == "require-jwt" {
					deny = spec(ap.Inputs)
				}
			}
			if tc.want == 0 {
				if deny != nil {
					t.Errorf("require-jwt policy without an issuer: %v", deny)
				}
				return
			}
			rule := spec(ras[0].Inputs)["jwtRules"].([]any)[0].(map[string]any)
			if rule["issuer"] != "https://auth.ordermesh.example.com" || rule["jwksUri"] == "" {
				t.Errorf("jwt rule = %v", rule)
			}
			src := deny["rules"].([]any)[0].(map[string]any)["from"].([]any)[0].(map[string]any)["source"].(map[string]any)
			if deny["action"] != "DENY" || src["notRequestPrincipals"].([]any)[0] != "*" {
				t.Errorf("require-jwt = %v", deny)
			}
			if deny["selector"].(map[string]any)["matchLabels"].(map[string]any)["istio"] != "ingressgateway" {
				t.Errorf("require-jwt must select the ingress gateway: %v", deny["selector"])
			}
			claims, _ := rule["outputClaimToHeaders"].([]any)
			if len(claims) != 1 || claims[0].(map[string]any)["claim"] != "sub" || claims[0].(map[string]any)["header"] != DefaultCustomerHeader {
				t.Errorf("outputClaimToHeaders = %v, want sub -> %s", rule["outputClaimToHeaders"], DefaultCustomerHeader)
			}
			to, _ := deny["rules"].([]any)[0].(map[string]any)["to"].([]any)
			if len(to) != 1 {
				t.Fatalf("require-jwt has no path exceptions: %v", deny)
			}
			notPaths := to[0].(map[string]any)["operation"].(map[string]any)["notPaths"].([]any)
			if len(notPaths) != len(DefaultPublicPaths) || notPaths[0] != DefaultPublicPaths[0] {
				t.Errorf("notPaths = %v, want %v", notPaths, DefaultPublicPaths)
			}
		})
	}
}

func TestJWTExceptionsAndClaimHeadersFollowArgs(t *testing.T) {
	for name, tc := range map[string]struct {
		jwt          JWT
		wantNotPaths []string // nil: the rule has no "to" (every path needs a token)
		wantHeaders  map[string]string
	}{
		"no exceptions when PublicPaths is empty": {
			jwt:         JWT{PublicPaths: []string{}},
			wantHeaders: map[string]string{DefaultCustomerHeader: "sub"},
		},
		"custom paths and claims": {
			jwt:          JWT{PublicPaths: []string{"/healthz", "/public/*"}, ClaimHeaders: []ClaimHeader{{Claim: "sub", Header: "x-user"}, {Claim: "tenant", Header: "x-tenant"}}},
			wantNotPaths: []string{"/healthz", "/public/*"},
			wantHeaders:  map[string]string{"x-user": "sub", "x-tenant": "tenant"},
		},
	} {
		t.Run(name, func(t *testing.T) {
			args := prodArgs()
			tc.jwt.Issuer, tc.jwt.JWKSURI = args.JWT.Issuer, args.JWT.JWKSURI
			args.JWT = tc.jwt
			objs, err := Render(args)
			if err != nil {
				t.Fatal(err)
			}
			var ra requestAuthenticationSpec
			var deny authorizationPolicySpec
			for _, o := range objs {
				switch o.Name {
				case "ingress-jwt":
					ra = o.Spec.(requestAuthenticationSpec)
				case "require-jwt":
					deny = o.Spec.(authorizationPolicySpec)
				}
			}
			got := map[string]string{}
			for _, c := range ra.JWTRules[0].OutputClaimToHeaders {
				got[c.Header] = c.Claim
			}
			if len(got) != len(tc.wantHeaders) {
				t.Errorf("claim headers = %v, want %v", got, tc.wantHeaders)
			}
			for h, c := range tc.wantHeaders {
				if got[h] != c {
					t.Errorf("header %s = claim %q, want %q", h, got[h], c)
				}
			}
			r := deny.Rules[0]
			if tc.wantNotPaths == nil {
				if len(r.To) != 0 {
					t.Errorf("want no path exceptions, got %v", r.To)
				}
				return
			}
			if len(r.To) != 1 || strings.Join(r.To[0].Operation.NotPaths, ",") != strings.Join(tc.wantNotPaths, ",") {
				t.Errorf("to = %+v, want notPaths %v", r.To, tc.wantNotPaths)
			}
		})
	}
}

func TestRenderDoesNotAliasCallerSlices(t *testing.T) {
	args := prodArgs()
	paths := []string{"/healthz"}
	args.JWT.PublicPaths = paths
	objs, err := Render(args)
	if err != nil {
		t.Fatal(err)
	}
	paths[0] = "/changed"
	for _, o := range objs {
		if o.Name == "require-jwt" {
			if got := o.Spec.(authorizationPolicySpec).Rules[0].To[0].Operation.NotPaths[0]; got != "/healthz" {
				t.Errorf("rendered notPaths changed with the caller's slice: %q", got)
			}
		}
	}
}

func TestNewMeshPermissiveMode(t *testing.T) {
	args := devArgs()
	args.MTLSMode = "PERMISSIVE"
	m, _, err := run(t, args)
	if err != nil {
		t.Fatal(err)
	}
	if mode := spec(m.one(t, "kubernetes:security.istio.io/v1:PeerAuthentication"))["mtls"].(map[string]any)["mode"]; mode != "PERMISSIVE" {
		t.Errorf("mode = %v", mode)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	args := &Args{
		AppNamespaces:          []string{"Orders", "istio-system", "x", "x"},
		TracingSamplingPercent: pct(120),
		OTelCollectorHost:      "",
		IngressHost:            "bad host",
		OrderAPI:               Destination{Namespace: "orders", Port: 70000, PathPrefix: "v1"},
		GatewayServiceType:     "External",
		MTLSMode:               "DISABLE",
		JWT: JWT{Issuer: "https://idp", JWKSURI: "http://idp/jwks", PublicPaths: []string{"healthz", "/a*b"},
			ClaimHeaders: []ClaimHeader{{Claim: "", Header: "X-Customer"}, {Claim: "sub", Header: "x-c"}, {Claim: "email", Header: "x-c"}}},
	}
	_, err := Render(args)
	if err == nil {
		t.Fatal("want error")
	}
	for _, w := range []string{
		`AppNamespaces[0] = "Orders"`, `AppNamespaces[1] = "istio-system": must not be the Istio root`,
		`AppNamespaces[3] = "x": is listed twice`, "TracingSamplingPercent = 120: must be 0..100",
		`OTelCollectorHost = ""`, `IngressHost = "bad host"`, "OrderAPI.Port = 70000", `OrderAPI.PathPrefix = "v1"`,
		`GatewayServiceType = "External"`, `MTLSMode = "DISABLE"`, `JWT.JWKSURI = "http://idp/jwks"`,
		`JWT.PublicPaths[0] = "healthz"`, `JWT.PublicPaths[1] = "/a*b"`, `JWT.ClaimHeaders[0].Claim = ""`,
		`JWT.ClaimHeaders[0].Header = "X-Customer"`, `JWT.ClaimHeaders[2].Header = "x-c": is listed twice`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\nmissing %q", err, w)
		}
	}
	m, _, runErr := run(t, args)
	if runErr == nil || len(m.Resources) != 0 {
		t.Errorf("NewMesh: err=%v, %d resources", runErr, len(m.Resources))
	}
}

func TestRenderedResourcesMatchUpstreamCRDs(t *testing.T) {
	dir, err := crdcheck.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	set, err := crdcheck.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string]*Args{"dev": devArgs(), "prod": prodArgs()} {
		t.Run(name, func(t *testing.T) {
			m, _, err := run(t, args)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range m.Resources {
				if !strings.Contains(r.Type, ".istio.io/") {
					continue
				}
				n++
				for _, e := range set.Validate(r.Inputs) {
					t.Errorf("%s: %v", r.Name, e)
				}
			}
			if n < 5 {
				t.Fatalf("only %d Istio resources rendered", n)
			}
		})
	}
}
