package meshcheck

import (
	"fmt"

	"github.com/ordermesh/ordermesh/components/service"
	"github.com/ordermesh/ordermesh/stacks"
)

// IngressGatewayServiceAccount is the service account of the ingress
// gateway pods (the gateway chart's release name).
const IngressGatewayServiceAccount = "istio-ingressgateway"

// GraphFromConfig is the call graph a stack declares: every service in the
// apps namespace, selected by its name label, callable by the principals of
// its Callers (a service's principal uses its own name as service account;
// stacks.IngressGateway is istio-ingressgateway in the ingress namespace).
func GraphFromConfig(cfg *stacks.Config) CallGraph {
	principal := func(ns, sa string) string {
		return fmt.Sprintf("%s/ns/%s/sa/%s", service.DefaultTrustDomain, ns, sa)
	}
	var g CallGraph
	for _, name := range cfg.SortedServiceNames() {
		w := Workload{
			Name:      name,
			Namespace: cfg.Namespaces.Apps,
			Labels:    map[string]string{service.NameLabel: name},
		}
		for _, c := range cfg.Services[name].Callers {
			if c == stacks.IngressGateway {
				w.Callers = append(w.Callers, principal(cfg.Namespaces.Ingress, IngressGatewayServiceAccount))
				continue
			}
			w.Callers = append(w.Callers, principal(cfg.Namespaces.Apps, c))
		}
		g.Workloads = append(g.Workloads, w)
	}
	return g
}
