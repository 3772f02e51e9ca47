package service

import (
	"fmt"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/components/versions/crdcheck"
	"github.com/ordermesh/ordermesh/stacks"
)

// recorder is a Pulumi mock monitor that records the inputs of every resource.
type recorder struct {
	mu  sync.Mutex
	res []recorded
}

type recorded struct {
	typ, name        string
	inputs           map[string]any
	parent, provider string
}

func (r *recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rec := recorded{typ: args.TypeToken, name: args.Name, inputs: args.Inputs.Mappable(), provider: args.Provider}
	if args.RegisterRPC != nil {
		rec.parent = args.RegisterRPC.GetParent()
	}
	r.res = append(r.res, rec)
	return args.Name + "_id", args.Inputs, nil
}

func (r *recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return args.Args, nil
}

// objects returns the recorded Kubernetes objects of a kind, keyed by namespace/name.
func (r *recorder) objects(kind string) map[string]map[string]any {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]map[string]any{}
	for _, x := range r.res {
		// Tokens are kubernetes:<group/version>:<Kind>, custom resources included.
		if x.typ[strings.LastIndex(x.typ, ":")+1:] != kind {
			continue
		}
		name := fmt.Sprint(get(x.inputs, "metadata.name"))
		out[fmt.Sprint(get(x.inputs, "metadata.namespace"))+"/"+name] = x.inputs
	}
	return out
}

// get walks a dotted path; numeric segments index lists.
func get(m any, path string) any {
	cur := m
	for _, seg := range strings.Split(path, ".") {
		switch c := cur.(type) {
		case map[string]any:
			cur = c[seg]
		case []any:
			var i int
			if _, err := fmt.Sscan(seg, &i); err != nil || i >= len(c) {
				return nil
			}
			cur = c[i]
		default:
			return nil
		}
	}
	return cur
}

func run(t *testing.T, program func(ctx *pulumi.Context) error) *recorder {
	t.Helper()
	rec := &recorder{}
	if err := pulumi.RunErr(program, pulumi.WithMocks("ordermesh", "test", rec)); err != nil {
		t.Fatal(err)
	}
	return rec
}

// deployAll deploys every configured service of cfg with the default platform.
func deployAll(t *testing.T, cfg *stacks.Config) *recorder {
	t.Helper()
	return run(t, func(ctx *pulumi.Context) error {
		if _, err := NewNamespacePolicies(ctx, "apps", &NamespacePoliciesArgs{Namespace: cfg.Namespaces.Apps, Istio: cfg.Mesh.Enabled}); err != nil {
			return err
		}
		for _, name := range cfg.SortedServiceNames() {
			args, err := ArgsFromConfig(cfg, name, Platform{ServiceMonitorLabels: map[string]string{"release": "prom"}})
			if err != nil {
				return err
			}
			if _, err := NewMicroservice(ctx, name, args); err != nil {
				return err
			}
		}
		return nil
	})
}

func resolve(t *testing.T, profile string, raw map[string]string) *stacks.Config {
	t.Helper()
	cfg, err := stacks.Resolve(profile, raw)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestDevProfileDeploysOneReplicaWithoutCanary(t *testing.T) {
	rec := deployAll(t, resolve(t, "dev", nil))
	deps := rec.objects("Deployment")
	for _, name := range stacks.ServiceNames {
		d := deps["orders/"+name+"-v1"]
		if d == nil {
			t.Fatalf("no Deployment orders/%s-v1; have %v", name, keys(deps))
		}
		if got := get(d, "spec.replicas"); got != 1.0 {
			t.Errorf("%s replicas = %v, want 1", name, got)
		}
		if _, ok := deps["orders/"+name+"-v2"]; ok {
			t.Errorf("%s has a canary Deployment in dev", name)
		}
		if got := get(d, "spec.template.spec.topologySpreadConstraints"); got != nil {
			t.Errorf("%s has topology spread in dev: %v", name, got)
		}
	}
	pdbs := rec.objects("PodDisruptionBudget")
	if got := get(pdbs["orders/order"], "spec.minAvailable"); got != 0.0 {
		t.Errorf("dev PDB minAvailable = %v, want 0", got)
	}
	vs := rec.objects("VirtualService")["orders/order"]
	routes, _ := get(vs, "spec.http").([]any)
	if len(routes) != 1 || get(routes[0], "route.0.destination.subset") != "v1" || get(routes[0], "route.1") != nil {
		t.Errorf("dev VirtualService routes = %v, want everything to v1", routes)
	}
	if subsets, _ := get(rec.objects("DestinationRule")["orders/order"], "spec.subsets").([]any); len(subsets) != 1 {
		t.Errorf("dev DestinationRule subsets = %v, want only v1", subsets)
	}
}

func TestStagingProfileSitsBetweenDevAndProd(t *testing.T) {
	rec := deployAll(t, resolve(t, "staging", nil))
	d := rec.objects("Deployment")["orders/shipping-v1"]
	if get(d, "spec.replicas") != 2.0 || get(d, "spec.template.spec.topologySpreadConstraints.0.whenUnsatisfiable") != "ScheduleAnyway" {
		t.Errorf("staging shipping: replicas %v spread %v, want 2 with zone spread", get(d, "spec.replicas"), get(d, "spec.template.spec.topologySpreadConstraints"))
	}
	if get(rec.objects("PodDisruptionBudget")["orders/shipping"], "spec.minAvailable") != 1.0 {
		t.Error("staging PDB minAvailable != 1")
	}
	if n := len(rec.objects("Deployment")); n != 6 {
		t.Errorf("%d Deployments in staging, want 6 (no canaries)", n)
	}
}

func TestProdProfileDeploysThreeReplicasPDBTwoZoneSpreadAndCanary(t *testing.T) {
	rec := deployAll(t, resolve(t, "prod", nil))
	deps := rec.objects("Deployment")
	d := deps["orders/order-v1"]
	if got := get(d, "spec.replicas"); got != 3.0 {
		t.Errorf("replicas = %v, want 3", got)
	}
	spread := get(d, "spec.template.spec.topologySpreadConstraints.0")
	if get(spread, "topologyKey") != "topology.kubernetes.io/zone" || get(spread, "maxSkew") != 1.0 || get(spread, "whenUnsatisfiable") != "DoNotSchedule" {
		t.Errorf("topology spread = %v, want zone maxSkew 1 DoNotSchedule", spread)
	}
	if got := get(spread, "labelSelector.matchLabels"); !reflect.DeepEqual(got, map[string]any{NameLabel: "order", VersionLabel: "v1"}) {
		t.Errorf("spread selector = %v", got)
	}
	canary := deps["orders/order-v2"]
	if canary == nil {
		t.Fatal("no canary Deployment order-v2 in prod")
	}
	if got := get(canary, "spec.template.metadata.labels.version"); got != "v2" {
		t.Errorf("canary version label = %v", got)
	}
	if got := get(canary, "spec.template.spec.containers.0.image"); got != "ghcr.io/ordermesh/order:"+stacks.DefaultImageTag {
		t.Errorf("canary image = %v", got)
	}
	if _, ok := deps["orders/notification-v2"]; ok {
		t.Error("notification (a worker without callers) got a canary")
	}
	if got := get(rec.objects("PodDisruptionBudget")["orders/order"], "spec.minAvailable"); got != 2.0 {
		t.Errorf("PDB minAvailable = %v, want 2", got)
	}
	hpa := rec.objects("HorizontalPodAutoscaler")["orders/order"]
	if get(hpa, "spec.minReplicas") != 3.0 || get(hpa, "spec.scaleTargetRef.name") != "order-v1" || get(hpa, "spec.metrics.0.resource.target.averageUtilization") != 70.0 {
		t.Errorf("hpa = %v", get(hpa, "spec"))
	}

	vs := rec.objects("VirtualService")["orders/order"]
	if get(vs, "apiVersion") != "networking.istio.io/v1" {
		t.Errorf("VirtualService apiVersion = %v", get(vs, "apiVersion"))
	}
	header := get(vs, "spec.http.0")
	if get(header, "match.0.headers.canary.exact") != "true" || get(header, "route.0.destination.subset") != "v2" {
		t.Errorf("first route = %v, want canary: \"true\" -> v2", header)
	}
	weighted := get(vs, "spec.http.1.route")
	if get(weighted, "0.destination.subset") != "v1" || get(weighted, "0.weight") != 95.0 ||
		get(weighted, "1.destination.subset") != "v2" || get(weighted, "1.weight") != 5.0 {
		t.Errorf("weighted route = %v, want v1 95 / v2 5", weighted)
	}
	dr := rec.objects("DestinationRule")["orders/order"]
	if get(dr, "spec.subsets.1.labels.version") != "v2" || get(dr, "spec.trafficPolicy.outlierDetection.consecutive5xxErrors") != 5.0 ||
		get(dr, "spec.trafficPolicy.connectionPool.tcp.maxConnections") != 100.0 {
		t.Errorf("destination rule = %v", get(dr, "spec"))
	}
}

func TestPodsRunRestricted(t *testing.T) {
	rec := deployAll(t, resolve(t, "prod", nil))
	for key, d := range rec.objects("Deployment") {
		pod := get(d, "spec.template.spec")
		c := get(pod, "containers.0")
		checks := map[string]any{
			"pod runAsNonRoot":           get(pod, "securityContext.runAsNonRoot") == true,
			"pod seccomp RuntimeDefault": get(pod, "securityContext.seccompProfile.type") == "RuntimeDefault",
			"token only for Vault users": get(pod, "automountServiceAccountToken") == strings.HasPrefix(key, "orders/payment-"),
			"readOnlyRootFilesystem":     get(c, "securityContext.readOnlyRootFilesystem") == true,
			"no privilege escalation":    get(c, "securityContext.allowPrivilegeEscalation") == false,
			"drop ALL":                   reflect.DeepEqual(get(c, "securityContext.capabilities.drop"), []any{"ALL"}),
			"grpc readiness probe":       get(c, "readinessProbe.grpc.port") == 8080.0,
			"grpc liveness probe":        get(c, "livenessProbe.grpc.port") == 8080.0,
			"grpc startup probe":         get(c, "startupProbe.grpc.port") == 8080.0,
			"cpu request":                get(c, "resources.requests.cpu") == "250m",
			"memory limit":               get(c, "resources.limits.memory") == "512Mi",
		}
		for what, ok := range checks {
			if ok != true {
				t.Errorf("%s: %s not satisfied", key, what)
			}
		}
		labels, _ := get(d, "spec.template.metadata.labels").(map[string]any)
		for _, l := range []string{NameLabel, "app.kubernetes.io/instance", "app.kubernetes.io/part-of", "app.kubernetes.io/version", VersionLabel} {
			if labels[l] == nil || labels[l] == "" {
				t.Errorf("%s: pod label %s missing", key, l)
			}
		}
	}
}

func TestServiceAccountTokenOnlyWhenNeeded(t *testing.T) {
	cfg := resolve(t, "dev", map[string]string{"ordermesh:services": `{"inventory": {"needsKubeAPI": true}}`})
	rec := deployAll(t, cfg)
	deps := rec.objects("Deployment")
	sas := rec.objects("ServiceAccount")
	for _, name := range stacks.ServiceNames {
		want := name == stacks.InventoryService
		// payment uses Vault: its agent logs in with the token, but it gets no API egress.
		wantToken := want || name == stacks.PaymentService
		if got := get(deps["orders/"+name+"-v1"], "spec.template.spec.automountServiceAccountToken"); got != wantToken {
			t.Errorf("%s automount = %v, want %v", name, got, wantToken)
		}
		if got := get(sas["orders/"+name], "automountServiceAccountToken"); got != wantToken {
			t.Errorf("%s service account automount = %v, want %v", name, got, wantToken)
		}
		egress := egressPorts(rec.objects("NetworkPolicy")["orders/"+name])
		if got := slices.Contains(egress, "*:443"); got != want {
			t.Errorf("%s egress to the API server = %v, want %v (%v)", name, got, want, egress)
		}
	}
}

// egressPorts flattens a NetworkPolicy's egress into "namespace:port" strings ("*" for any
// destination).
func egressPorts(np map[string]any) []string {
	var out []string
	rules, _ := get(np, "spec.egress").([]any)
	for _, r := range rules {
		ns := "*"
		if v := get(r, "to.0.namespaceSelector.matchLabels"); v != nil {
			ns = fmt.Sprint(v.(map[string]any)[namespaceLabel])
		}
		ports, _ := get(r, "ports").([]any)
		for _, p := range ports {
			out = append(out, fmt.Sprintf("%s:%v", ns, get(p, "port")))
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// ingressFrom lists "namespace/labels:port" sources of a NetworkPolicy's ingress.
func ingressFrom(np map[string]any) []string {
	var out []string
	rules, _ := get(np, "spec.ingress").([]any)
	for _, r := range rules {
		ns := fmt.Sprint(get(r, "from.0.namespaceSelector.matchLabels").(map[string]any)[namespaceLabel])
		labels := fmt.Sprint(get(r, "from.0.podSelector.matchLabels"))
		out = append(out, fmt.Sprintf("%s/%s:%v", ns, labels, get(r, "ports.0.port")))
	}
	sort.Strings(out)
	return out
}

func principals(ap map[string]any) []string {
	var out []string
	rules, _ := get(ap, "spec.rules").([]any)
	for _, r := range rules {
		ps, _ := get(r, "from.0.source.principals").([]any)
		for _, p := range ps {
			out = append(out, fmt.Sprint(p))
		}
	}
	sort.Strings(out)
	return out
}

func TestReferenceCallGraphPolicies(t *testing.T) {
	rec := deployAll(t, resolve(t, "prod", nil))
	nps := rec.objects("NetworkPolicy")
	aps := rec.objects("AuthorizationPolicy")

	gw := "cluster.local/ns/istio-ingress/sa/istio-ingressgateway"
	for _, name := range stacks.ServiceNames {
		np, ap := nps["orders/"+name], aps["orders/"+name]
		wantPrincipals := []string(nil)
		wantIngress := []string{"observability/map[]:9090"}
		if name == stacks.OrderService || name == stacks.OrderQueryService {
			wantPrincipals = []string{gw}
			wantIngress = []string{"istio-ingress/map[istio:ingressgateway]:8080", "observability/map[]:9090"}
		}
		if got := principals(ap); !reflect.DeepEqual(got, wantPrincipals) {
			t.Errorf("%s AuthorizationPolicy principals = %v, want %v", name, got, wantPrincipals)
		}
		if got := ingressFrom(np); !reflect.DeepEqual(got, wantIngress) {
			t.Errorf("%s NetworkPolicy ingress = %v, want %v", name, got, wantIngress)
		}
		// Services talk over Kafka: egress is DNS, the brokers, the collector, istiod (+ Vault
		// for payment), and no other service.
		want := []string{"istio-system:15012", "kafka:9092", "kube-system:53", "observability:4317"}
		if name == stacks.PaymentService {
			want = append(want, "vault:8200")
			sort.Strings(want)
		}
		if got := egressPorts(np); !reflect.DeepEqual(got, want) {
			t.Errorf("%s NetworkPolicy egress = %v, want %v", name, got, want)
		}
		if got := get(np, "spec.policyTypes"); !reflect.DeepEqual(got, []any{"Ingress", "Egress"}) {
			t.Errorf("%s policyTypes = %v", name, got)
		}
	}
	order := aps["orders/order"]
	paths := get(order, "spec.rules.0.to.0.operation.paths")
	if !reflect.DeepEqual(paths, []any{
		"/ordermesh.order.v1.OrderService/CreateOrder", "/ordermesh.order.v1.OrderService/GetOrder", "/ordermesh.order.v1.OrderService/CancelOrder",
	}) {
		t.Errorf("order allowed methods = %v", paths)
	}
	if get(order, "apiVersion") != "security.istio.io/v1" || get(order, "spec.action") != "ALLOW" {
		t.Errorf("order AuthorizationPolicy = %v %v", get(order, "apiVersion"), get(order, "spec.action"))
	}

	// Namespace baseline: deny all ingress and egress, and allow-nothing in the mesh.
	deny := nps["orders/default-deny"]
	if get(deny, "spec.ingress") != nil || get(deny, "spec.egress") != nil || !reflect.DeepEqual(get(deny, "spec.policyTypes"), []any{"Ingress", "Egress"}) {
		t.Errorf("default-deny = %v", get(deny, "spec"))
	}
	if sel, _ := get(deny, "spec.podSelector").(map[string]any); len(sel) != 0 {
		t.Errorf("default-deny podSelector = %v, want {} (every pod)", sel)
	}
	if an := aps["orders/allow-nothing"]; an == nil || get(an, "spec.rules") != nil {
		t.Errorf("allow-nothing policy = %v", an)
	}
}

// TestPoliciesFollowAnyDeclaredCallGraphExactly declares service-to-service calls and checks,
// for every ordered pair, that the callee admits the caller iff it is declared (Istio principal
// and NetworkPolicy ingress) and that the caller's egress reaches exactly its callees.
func TestPoliciesFollowAnyDeclaredCallGraphExactly(t *testing.T) {
	cfg := resolve(t, "staging", map[string]string{"ordermesh:services": `{
		"payment": {"callers": ["order"]},
		"inventory": {"callers": ["order", "shipping"], "grpcPort": 7070, "metricsPort": 7071},
		"order-query": {"callers": ["ingress-gateway", "notification"]}
	}`})
	rec := deployAll(t, cfg)
	nps := rec.objects("NetworkPolicy")
	aps := rec.objects("AuthorizationPolicy")
	for _, callee := range stacks.ServiceNames {
		declared := cfg.Services[callee].Callers
		gotPrincipals := principals(aps["orders/"+callee])
		gotIngress := ingressFrom(nps["orders/"+callee])
		for _, caller := range stacks.ServiceNames {
			if caller == callee {
				continue
			}
			want := slices.Contains(declared, caller)
			p := "cluster.local/ns/orders/sa/" + caller
			if got := slices.Contains(gotPrincipals, p); got != want {
				t.Errorf("%s admits principal of %s = %v, want %v", callee, caller, got, want)
			}
			src := fmt.Sprintf("orders/map[%s:%s]:%d", NameLabel, caller, cfg.Services[callee].GRPCPort)
			if got := slices.Contains(gotIngress, src); got != want {
				t.Errorf("%s NetworkPolicy ingress from %s = %v, want %v (%v)", callee, caller, got, want, gotIngress)
			}
			egress := egressRuleTo(nps["orders/"+caller], callee)
			if got := egress != ""; got != want {
				t.Errorf("%s egress to %s = %v, want %v", caller, callee, got, want)
			}
			if want && egress != fmt.Sprint(cfg.Services[callee].GRPCPort) {
				t.Errorf("%s egress to %s on port %s, want %d", caller, callee, egress, cfg.Services[callee].GRPCPort)
			}
		}
	}
}

// egressRuleTo returns the port of the egress rule towards service callee's pods, or "".
func egressRuleTo(np map[string]any, callee string) string {
	rules, _ := get(np, "spec.egress").([]any)
	for _, r := range rules {
		if l, ok := get(r, "to.0.podSelector.matchLabels").(map[string]any); ok && l[NameLabel] == callee {
			return fmt.Sprint(get(r, "ports.0.port"))
		}
	}
	return ""
}

func TestCustomResourcesMatchUpstreamCRDSchemas(t *testing.T) {
	dir, err := crdcheck.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	set, err := crdcheck.Load(dir)
	if err != nil {
		t.Fatalf("load CRDs from %s: %v", dir, err)
	}
	rec := deployAll(t, resolve(t, "prod", nil))
	n := 0
	for _, kind := range []string{"AuthorizationPolicy", "DestinationRule", "VirtualService", "ServiceMonitor", "PeerAuthentication"} {
		objs := rec.objects(kind)
		if len(objs) == 0 {
			t.Errorf("no %s created", kind)
		}
		for key, o := range objs {
			n++
			if !set.Has(fmt.Sprint(o["apiVersion"]), kind) {
				t.Errorf("%s %s: %v is not served by the upstream CRDs", kind, key, o["apiVersion"])
				continue
			}
			for _, err := range set.Validate(o) {
				t.Errorf("%s %s: %v", kind, key, err)
			}
		}
	}
	if n < 6*5 {
		t.Errorf("validated %d custom resources, want at least 30", n)
	}
}

func TestServiceMonitorScrapesMetricsPort(t *testing.T) {
	rec := deployAll(t, resolve(t, "dev", nil))
	sm := rec.objects("ServiceMonitor")["orders/payment"]
	if get(sm, "spec.endpoints.0.port") != MetricsPortName || get(sm, "spec.endpoints.0.path") != "/metrics" ||
		get(sm, "metadata.labels.release") != "prom" || get(sm, "spec.selector.matchLabels") == nil {
		t.Errorf("service monitor = %v", sm)
	}
	svc := rec.objects("Service")["orders/payment"]
	if get(svc, "spec.ports.1.name") != MetricsPortName || get(svc, "spec.ports.1.port") != 9090.0 {
		t.Errorf("service ports = %v", get(svc, "spec.ports"))
	}
}

func TestMetricsPortAcceptsPlaintextScrapesOnly(t *testing.T) {
	rec := deployAll(t, resolve(t, "prod", nil))
	pa := rec.objects("PeerAuthentication")["orders/order"]
	if got := get(pa, "spec.portLevelMtls"); !reflect.DeepEqual(got, map[string]any{"9090": map[string]any{"mode": "PERMISSIVE"}}) {
		t.Errorf("portLevelMtls = %v, want only 9090 PERMISSIVE", got)
	}
	if get(pa, "spec.mtls") != nil {
		t.Errorf("workload mtls = %v, want inherited from the mesh", get(pa, "spec.mtls"))
	}
	if sel, _ := get(pa, "spec.selector.matchLabels").(map[string]any); sel[NameLabel] != "order" {
		t.Errorf("selector = %v", sel)
	}
}

func TestMeshAndObservabilityToggles(t *testing.T) {
	cfg := resolve(t, "dev", map[string]string{"ordermesh:mesh": `{"enabled": false}`, "ordermesh:observability": `{"enabled": false}`})
	rec := deployAll(t, cfg)
	for _, kind := range []string{"AuthorizationPolicy", "DestinationRule", "VirtualService", "ServiceMonitor", "PeerAuthentication"} {
		if n := len(rec.objects(kind)); n != 0 {
			t.Errorf("%d %s created with the mesh and observability disabled", n, kind)
		}
	}
	if got := egressPorts(rec.objects("NetworkPolicy")["orders/order"]); !reflect.DeepEqual(got, []string{"kafka:9092", "kube-system:53"}) {
		t.Errorf("egress = %v, want DNS and Kafka only", got)
	}
}

func TestChildrenHaveTheComponentAsParentAndInheritItsProvider(t *testing.T) {
	cfg := resolve(t, "prod", nil)
	rec := run(t, func(ctx *pulumi.Context) error {
		k8s, err := kubernetes.NewProvider(ctx, "k8s", &kubernetes.ProviderArgs{})
		if err != nil {
			return err
		}
		if _, err := NewNamespacePolicies(ctx, "apps", &NamespacePoliciesArgs{Namespace: "orders", Istio: true}, pulumi.Provider(k8s)); err != nil {
			return err
		}
		args, err := ArgsFromConfig(cfg, stacks.OrderService, Platform{})
		if err != nil {
			return err
		}
		_, err = NewMicroservice(ctx, "order", args, pulumi.Provider(k8s))
		return err
	})
	var children int
	for _, x := range rec.res {
		switch {
		case x.typ == "ordermesh:service:Microservice" || x.typ == "ordermesh:service:NamespacePolicies" || x.typ == "pulumi:providers:kubernetes":
			continue
		case !strings.HasPrefix(x.typ, "kubernetes:"):
			t.Errorf("unexpected resource %s %s", x.typ, x.name)
			continue
		}
		children++
		if !strings.HasSuffix(x.parent, "ordermesh:service:Microservice::order") && !strings.HasSuffix(x.parent, "ordermesh:service:NamespacePolicies::apps") {
			t.Errorf("%s %s has parent %q, want the component", x.typ, x.name, x.parent)
		}
		if !strings.Contains(x.provider, "pulumi:providers:kubernetes::k8s") {
			t.Errorf("%s %s uses provider %q, want the component's", x.typ, x.name, x.provider)
		}
	}
	// order in prod: SA, 2 Deployments, Service, PDB, HPA, NetworkPolicy, AuthorizationPolicy,
	// PeerAuthentication, DestinationRule, VirtualService, ServiceMonitor + 2 namespace policies.
	if children != 14 {
		t.Errorf("%d Kubernetes objects, want 14", children)
	}
}

func TestInvalidArgsReportEveryProblem(t *testing.T) {
	args := &MicroserviceArgs{
		Namespace:       "Orders",
		Image:           "ghcr.io/ordermesh/order:latest",
		Resources:       Resources{Requests: ResourceList{CPU: "-1", Memory: "12x"}, Limits: ResourceList{CPU: "1", Memory: "1Gi"}},
		Replicas:        2,
		PDBMinAvailable: 2,
		HPA:             &HPA{MinReplicas: 2, MaxReplicas: 1},
		Callers:         []Caller{{Name: "order", Namespace: "orders", ServiceAccount: "Bad SA"}},
		Methods:         []string{"CreateOrder"},
		Canary:          &Canary{Image: "ghcr.io/ordermesh/order:0.2.0", StableWeight: 90, CanaryWeight: 20},
		Istio:           &Istio{},
	}
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		_, err := NewMicroservice(ctx, "order", args)
		return err
	}, pulumi.WithMocks("ordermesh", "test", &recorder{}))
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{
		`Namespace = "Orders": must be a DNS-1123 label`,
		`Image = "ghcr.io/ordermesh/order:latest": must pin a tag, not latest`,
		`Resources.Requests.CPU = "-1": must be a positive Kubernetes quantity`,
		`Resources.Requests.Memory = "12x": must be a positive Kubernetes quantity`,
		`PDBMinAvailable = 2: must be 0..Replicas-1 (1)`,
		`HPA.MinReplicas = 2: must be >= 1 and >= PDBMinAvailable+1 (3)`,
		`HPA.MaxReplicas = 1: must be >= HPA.MinReplicas (2)`,
		`Callers[0].ServiceAccount = "Bad SA": must be a DNS-1123 label`,
		`Methods[0] = "CreateOrder": must be a gRPC method path`,
		`Canary.StableWeight+CanaryWeight = 110: must sum to 100`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestNewMicroserviceLeavesTheCallersArgsUntouched(t *testing.T) {
	args, err := ArgsFromConfig(resolve(t, "prod", nil), stacks.OrderService, Platform{})
	if err != nil {
		t.Fatal(err)
	}
	args.HPA.TargetCPUPercent = 0
	args.Callees = []Callee{{Name: "payment"}}
	before := fmt.Sprintf("%+v %+v %+v %+v", *args.HPA, *args.Istio, args.Callees, *args.Canary)
	run(t, func(ctx *pulumi.Context) error {
		_, err := NewMicroservice(ctx, "order", args)
		return err
	})
	if after := fmt.Sprintf("%+v %+v %+v %+v", *args.HPA, *args.Istio, args.Callees, *args.Canary); after != before {
		t.Errorf("args changed:\n before %s\n after  %s", before, after)
	}
}

func TestCanaryWeightsMustBeInRange(t *testing.T) {
	a := &MicroserviceArgs{Canary: &Canary{Image: "r/x:1", StableWeight: 120, CanaryWeight: -20}}
	a.applyDefaults()
	probs := strings.Join(a.validate("x"), "\n")
	for _, want := range []string{"Canary.StableWeight = 120: must be 0..100", "Canary.CanaryWeight = -20: must be 0..100"} {
		if !strings.Contains(probs, want) {
			t.Errorf("problems lack %q:\n%s", want, probs)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
