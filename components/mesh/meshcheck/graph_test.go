package meshcheck

import (
	"slices"
	"testing"

	"github.com/ordermesh/ordermesh/stacks"
)

func TestGraphFromConfigMapsCallersToPrincipals(t *testing.T) {
	cfg, err := stacks.Resolve("prod", map[string]string{
		"ordermesh:namespaces": `{"apps": "shop", "ingress": "edge"}`,
		"ordermesh:services":   `{"payment": {"callers": ["order"]}}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	g := GraphFromConfig(cfg)
	byName := map[string]Workload{}
	for _, w := range g.Workloads {
		byName[w.Name] = w
	}
	if len(byName) != len(cfg.Services) {
		t.Fatalf("%d workloads for %d services", len(byName), len(cfg.Services))
	}
	for name, want := range map[string][]string{
		stacks.OrderService:   {"cluster.local/ns/edge/sa/istio-ingressgateway"},
		stacks.PaymentService: {"cluster.local/ns/shop/sa/order"},
	} {
		w := byName[name]
		if w.Namespace != "shop" || w.Labels["app.kubernetes.io/name"] != name {
			t.Errorf("%s: namespace %q labels %v", name, w.Namespace, w.Labels)
		}
		if !slices.Equal(w.Callers, want) {
			t.Errorf("%s callers = %v, want %v", name, w.Callers, want)
		}
	}
	if c := byName[stacks.NotificationService].Callers; len(c) != 0 {
		t.Errorf("notification has no declared callers, got %v", c)
	}
}
