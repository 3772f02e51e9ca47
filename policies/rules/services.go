package rules

// IngressGatewayLabel marks the one Service allowed to be exposed outside the cluster besides Istio's own
// gateway labels.
const IngressGatewayLabel = "ordermesh.io/ingress-gateway"

// ingressGateway reports whether a Service is the mesh ingress gateway (labels set by the Istio gateway chart
// or by ordermesh).
func ingressGateway(r Resource) bool {
	labels := root(r.Props).Path("metadata", "labels")
	istio, _ := labels.Get("istio").Str()
	app, _ := labels.Get("app").Str()
	own, _ := labels.Get(IngressGatewayLabel).Str()
	return istio == "ingressgateway" || app == "istio-ingressgateway" || own == "true"
}

var serviceTypeRestricted = Rule{
	Name:        "service-type-restricted",
	Description: "Only the ingress gateway is exposed through a LoadBalancer or NodePort Service.",
	Remediation: "Use type ClusterIP and route external traffic through the Istio ingress gateway " +
		"(Gateway + VirtualService).",
	Class: Safety,
	CheckResource: func(r Resource, p Params) []Finding {
		if !is(r, "", "Service") {
			return nil
		}
		f := &findings{urn: r.URN}
		t := root(r.Props).Path("spec", "type")
		if t.Unknown() {
			f.unknown(t)
			return f.out
		}
		if typ, _ := t.Str(); (typ == "LoadBalancer" || typ == "NodePort") && !ingressGateway(r) {
			f.fail("Service %q has type %s", displayName(r), typ)
		}
		return f.out
	},
}
