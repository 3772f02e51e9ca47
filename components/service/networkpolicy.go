package service

import (
	"fmt"

	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// namespaceLabel is set by Kubernetes on every namespace to its name.
const namespaceLabel = "kubernetes.io/metadata.name"

// peerRule is one allow rule: pods in Namespace matching PodLabels on Ports. An empty
// Namespace means any destination (the Kubernetes API server is not a pod).
type peerRule struct {
	Namespace string
	PodLabels map[string]string
	Ports     []portProto
}

type portProto struct {
	Port     int
	Protocol string
}

func tcp(ports ...int) []portProto {
	out := make([]portProto, 0, len(ports))
	for _, p := range ports {
		out = append(out, portProto{p, "TCP"})
	}
	return out
}

// ingressRules are derived from the declared callers and the scrapers only.
func ingressRules(a *MicroserviceArgs) []peerRule {
	var rules []peerRule
	for _, c := range a.Callers {
		rules = append(rules, peerRule{Namespace: c.Namespace, PodLabels: c.PodLabels, Ports: tcp(a.GRPCPort)})
	}
	if s := a.Scrapers; s != nil {
		rules = append(rules, peerRule{Namespace: s.Namespace, PodLabels: s.PodLabels, Ports: tcp(a.MetricsPort)})
	}
	return rules
}

// egressRules are derived from the declared callees and the platform peers only.
func egressRules(a *MicroserviceArgs) []peerRule {
	var dnsPorts []portProto
	for _, p := range a.DNS.Ports {
		dnsPorts = append(dnsPorts, portProto{p, "UDP"}, portProto{p, "TCP"})
	}
	rules := []peerRule{{Namespace: a.DNS.Namespace, PodLabels: a.DNS.PodLabels, Ports: dnsPorts}}
	for _, c := range a.Callees {
		rules = append(rules, peerRule{Namespace: c.Namespace, PodLabels: map[string]string{NameLabel: c.Name}, Ports: tcp(c.Port)})
	}
	for _, p := range []*Peer{a.Kafka, a.Collector, a.Vault} {
		if p != nil {
			rules = append(rules, peerRule{Namespace: p.Namespace, PodLabels: p.PodLabels, Ports: tcp(p.Ports...)})
		}
	}
	if m := a.Istio; m != nil {
		// Sidecars fetch configuration and certificates from istiod.
		rules = append(rules, peerRule{Namespace: m.IstiodNamespace, PodLabels: map[string]string{"app": "istiod"}, Ports: tcp(m.IstiodPort)})
	}
	if a.NeedsKubeAPI {
		rules = append(rules, peerRule{Ports: tcp(a.KubeAPIPorts...)})
	}
	return rules
}

func toPeer(r peerRule) networkingv1.NetworkPolicyPeerArray {
	if r.Namespace == "" {
		return nil
	}
	return networkingv1.NetworkPolicyPeerArray{&networkingv1.NetworkPolicyPeerArgs{
		NamespaceSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{namespaceLabel: pulumi.String(r.Namespace)}},
		PodSelector:       &metav1.LabelSelectorArgs{MatchLabels: pulumi.ToStringMap(r.PodLabels)},
	}}
}

func toPorts(ports []portProto) networkingv1.NetworkPolicyPortArray {
	var out networkingv1.NetworkPolicyPortArray
	for _, p := range ports {
		out = append(out, &networkingv1.NetworkPolicyPortArgs{Port: pulumi.Any(p.Port), Protocol: pulumi.String(p.Protocol)})
	}
	return out
}

// newNetworkPolicy allows exactly the declared call graph for the service's pods; the
// namespace default-deny (NewNamespacePolicies) blocks the rest.
func newNetworkPolicy(ctx *pulumi.Context, name string, a *MicroserviceArgs, meta *metav1.ObjectMetaArgs, opts ...pulumi.ResourceOption) (*networkingv1.NetworkPolicy, error) {
	ingress := networkingv1.NetworkPolicyIngressRuleArray{}
	for _, r := range ingressRules(a) {
		ingress = append(ingress, &networkingv1.NetworkPolicyIngressRuleArgs{From: toPeer(r), Ports: toPorts(r.Ports)})
	}
	egress := networkingv1.NetworkPolicyEgressRuleArray{}
	for _, r := range egressRules(a) {
		egress = append(egress, &networkingv1.NetworkPolicyEgressRuleArgs{To: toPeer(r), Ports: toPorts(r.Ports)})
	}
	np, err := networkingv1.NewNetworkPolicy(ctx, name, &networkingv1.NetworkPolicyArgs{
		Metadata: meta,
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: pulumi.StringMap{NameLabel: pulumi.String(name)}},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
			Ingress:     ingress,
			Egress:      egress,
		},
	}, opts...)
	if err != nil {
		return nil, fmt.Errorf("network policy: %w", err)
	}
	return np, nil
}
