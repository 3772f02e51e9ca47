// Package mesh installs Istio (base, istiod, ingress gateway) and the
// mesh-wide defaults: STRICT mTLS, sidecar injection and deny-by-default
// authorization in app namespaces, tracing to the OpenTelemetry collector
// and the public route to the order API.
package mesh

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	helmv4 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/helm/v4"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/components/customresource"
	"github.com/ordermesh/ordermesh/components/versions"
)

// gatewaySelector labels the ingress gateway pods; the Gateway selects them.
var gatewaySelector = map[string]string{"istio": "ingressgateway"}

// Mesh is the deployed service mesh.
type Mesh struct {
	pulumi.ResourceState

	// GatewayRef is "<namespace>/<name>" of the public Istio Gateway, for
	// VirtualServices that attach to it.
	GatewayRef pulumi.StringOutput `pulumi:"gatewayRef"`
	// IngressService is the ingress gateway Service host name.
	IngressService pulumi.StringOutput `pulumi:"ingressService"`
	// TracingProvider is the extension provider name traces go to.
	TracingProvider pulumi.StringOutput `pulumi:"tracingProvider"`
}

// NewMesh creates the mesh. Pass the Kubernetes provider in opts.
func NewMesh(ctx *pulumi.Context, name string, args *Args, opts ...pulumi.ResourceOption) (*Mesh, error) {
	if args == nil {
		args = &Args{}
	}
	a := *args
	a.applyDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	m := &Mesh{}
	if err := ctx.RegisterComponentResource("ordermesh:mesh:Mesh", name, m, opts...); err != nil {
		return nil, fmt.Errorf("mesh: register component: %w", err)
	}
	parent := pulumi.Parent(m)
	crOpts := []pulumi.ResourceOption{parent}

	if a.installOperators() {
		deps, err := installCharts(ctx, name, &a, parent)
		if err != nil {
			return nil, err
		}
		crOpts = append(crOpts, pulumi.DependsOn(deps))
	}

	for _, ns := range a.AppNamespaces {
		if _, err := corev1.NewNamespacePatch(ctx, name+"-inject-"+ns, &corev1.NamespacePatchArgs{
			Metadata: &metav1.ObjectMetaPatchArgs{Name: pulumi.String(ns), Labels: pulumi.ToStringMap(InjectionLabel)},
		}, parent); err != nil {
			return nil, fmt.Errorf("mesh: label namespace %q: %w", ns, err)
		}
	}
	for _, o := range a.render() {
		if _, err := customresource.New(ctx, name+"-"+o.ResourceName, o, crOpts...); err != nil {
			return nil, fmt.Errorf("mesh: %s %s/%s: %w", o.Kind, o.Namespace, o.Name, err)
		}
	}

	m.GatewayRef = pulumi.String(a.GatewayNamespace + "/public").ToStringOutput()
	m.IngressService = pulumi.String(fmt.Sprintf("%s.%s.svc.cluster.local", DefaultGatewayName, a.GatewayNamespace)).ToStringOutput()
	m.TracingProvider = pulumi.String(DefaultTracingProvider).ToStringOutput()
	if err := ctx.RegisterResourceOutputs(m, pulumi.Map{
		"gatewayRef":      m.GatewayRef,
		"ingressService":  m.IngressService,
		"tracingProvider": m.TracingProvider,
	}); err != nil {
		return nil, fmt.Errorf("mesh: register outputs: %w", err)
	}
	return m, nil
}

// installCharts installs base -> istiod -> gateway in order and returns the
// resources the custom resources must wait for.
func installCharts(ctx *pulumi.Context, name string, a *Args, parent pulumi.ResourceOption) ([]pulumi.Resource, error) {
	chart := func(suffix, release string, c versions.Chart, ns string, values pulumi.Map, deps ...pulumi.Resource) (*helmv4.Chart, error) {
		ch, err := helmv4.NewChart(ctx, name+"-"+suffix, &helmv4.ChartArgs{
			Name:           pulumi.String(release),
			Chart:          pulumi.String(c.Name),
			Version:        pulumi.String(c.Version),
			RepositoryOpts: &helmv4.RepositoryOptsArgs{Repo: pulumi.String(c.Repo)},
			Namespace:      pulumi.String(ns),
			Values:         values,
		}, parent, pulumi.DependsOn(deps))
		if err != nil {
			return nil, fmt.Errorf("mesh: %s chart: %w", c.Name, err)
		}
		return ch, nil
	}
	base, err := chart("base", "istio-base", versions.IstioBase, a.Namespace, pulumi.Map{
		"defaultRevision": pulumi.String("default"),
	})
	if err != nil {
		return nil, err
	}
	istiod, err := chart("istiod", "istiod", versions.Istiod, a.Namespace, pulumi.Map{
		"meshConfig": pulumi.Map{
			"enableTracing": pulumi.Bool(true),
			"extensionProviders": pulumi.Array{pulumi.Map{
				"name": pulumi.String(DefaultTracingProvider),
				"opentelemetry": pulumi.Map{
					"service": pulumi.String(a.OTelCollectorHost),
					"port":    pulumi.Int(a.OTelCollectorPort),
				},
			}},
		},
	}, base)
	if err != nil {
		return nil, err
	}
	gw, err := chart("gateway", DefaultGatewayName, versions.IstioGateway, a.GatewayNamespace, pulumi.Map{
		"labels":  pulumi.ToStringMap(gatewaySelector),
		"service": pulumi.Map{"type": pulumi.String(a.GatewayServiceType)},
	}, istiod)
	if err != nil {
		return nil, err
	}
	return []pulumi.Resource{base, istiod, gw}, nil
}

// Object is one custom resource the component creates.
type Object = customresource.Object

// Render applies defaults, validates and returns the Istio custom
// resources NewMesh would create.
func Render(args *Args) ([]Object, error) {
	a := *args
	a.applyDefaults()
	if err := a.validate(); err != nil {
		return nil, err
	}
	return a.render(), nil
}

func (a *Args) render() []Object {
	obj := func(rn string, v versions.APIVersion, name, ns string, spec any) Object {
		return Object{ResourceName: rn, APIVersion: v.APIVersion, Kind: v.Kind, Name: name, Namespace: ns, Spec: spec}
	}
	// Policies in the root namespace apply mesh-wide.
	out := []Object{
		obj("mtls", versions.IstioPeerAuthentication, "default", a.Namespace, peerAuthenticationSpec{MTLS: mtls{Mode: a.MTLSMode}}),
		obj("tracing", versions.IstioTelemetry, "mesh-default", a.Namespace, telemetrySpec{Tracing: []tracing{{
			Providers:                []providerRef{{Name: DefaultTracingProvider}},
			RandomSamplingPercentage: a.samplingPercent(),
		}}}),
	}
	for _, ns := range a.AppNamespaces {
		out = append(out, obj("allow-nothing-"+ns, versions.IstioAuthorizationPolicy, "allow-nothing", ns, authorizationPolicySpec{}))
	}

	if a.JWT.Issuer != "" {
		sel := &workloadSelector{MatchLabels: gatewaySelector}
		rule := jwtRule{Issuer: a.JWT.Issuer, JWKSURI: a.JWT.JWKSURI}
		for _, c := range a.JWT.ClaimHeaders {
			rule.OutputClaimToHeaders = append(rule.OutputClaimToHeaders, claimToHeader{Header: c.Header, Claim: c.Claim})
		}
		// RequestAuthentication alone lets token-less requests through;
		// the DENY policy refuses any request without a verified principal,
		// except on the public paths (health checks).
		deny := authzRule{From: []authzFrom{{Source: authzSource{NotRequestPrincipals: []string{"*"}}}}}
		if len(a.JWT.PublicPaths) > 0 {
			deny.To = []authzTo{{Operation: authzOperation{NotPaths: a.JWT.PublicPaths}}}
		}
		out = append(out,
			obj("ingress-jwt", versions.IstioRequestAuthentication, "ingress-jwt", a.GatewayNamespace, requestAuthenticationSpec{
				Selector: *sel, JWTRules: []jwtRule{rule},
			}),
			obj("ingress-require-jwt", versions.IstioAuthorizationPolicy, "require-jwt", a.GatewayNamespace, authorizationPolicySpec{
				Selector: sel, Action: "DENY", Rules: []authzRule{deny},
			}),
		)
	}

	gw := gatewaySpec{Selector: gatewaySelector}
	httpServer := server{Port: port{Number: 80, Name: "http", Protocol: "HTTP"}, Hosts: []string{a.IngressHost}}
	if a.IngressTLSSecret != "" {
		httpServer.TLS = &serverTLS{HTTPSRedirect: true}
		gw.Servers = append(gw.Servers, httpServer, server{
			Port:  port{Number: 443, Name: "https", Protocol: "HTTPS"},
			Hosts: []string{a.IngressHost},
			TLS:   &serverTLS{Mode: "SIMPLE", CredentialName: a.IngressTLSSecret},
		})
	} else {
		gw.Servers = append(gw.Servers, httpServer)
	}
	out = append(out, obj("gateway", versions.IstioGatewayResource, "public", a.GatewayNamespace, gw))

	api := a.OrderAPI
	host := fmt.Sprintf("%s.%s.svc.cluster.local", api.Service, api.Namespace)
	to := func(subset string, weight int) routeDestination {
		return routeDestination{Destination: destination{Host: host, Subset: subset, Port: portNumber{Number: api.Port}}, Weight: weight}
	}
	routes := []httpRoute{{
		Name:    "order-api",
		Match:   []httpMatch{{URI: stringMatch{Prefix: api.PathPrefix}}},
		Route:   []routeDestination{to("", 0)},
		Timeout: api.Timeout.String(),
	}}
	if w := api.CanaryWeight; w > 0 {
		routes = []httpRoute{{
			Name:    "order-api-canary",
			Match:   []httpMatch{{URI: stringMatch{Prefix: api.PathPrefix}, Headers: map[string]stringExact{"canary": {Exact: "true"}}}},
			Route:   []routeDestination{to("v2", 0)},
			Timeout: api.Timeout.String(),
		}, {
			Name:    "order-api",
			Match:   []httpMatch{{URI: stringMatch{Prefix: api.PathPrefix}}},
			Route:   []routeDestination{to("v1", 100-w), to("v2", w)},
			Timeout: api.Timeout.String(),
		}}
	}
	out = append(out, obj("order-api-route", versions.IstioVirtualService, "order-api-public", a.GatewayNamespace, virtualServiceSpec{
		Hosts:    []string{a.IngressHost},
		Gateways: []string{a.GatewayNamespace + "/public"},
		HTTP:     routes,
	}))
	return out
}
