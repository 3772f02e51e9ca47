package service

import (
	"fmt"
	"strings"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/components/versions"
)

// NamespacePoliciesArgs configures the namespace-wide deny-by-default policies.
type NamespacePoliciesArgs struct {
	// Namespace to lock down. Required; it must exist (pass pulumi.DependsOn).
	Namespace string
	// Istio also creates an empty ALLOW AuthorizationPolicy ("allow-nothing"), so only the
	// per-service policies admit requests.
	Istio bool
}

// NamespacePolicies is the default-deny baseline of an application namespace.
type NamespacePolicies struct {
	pulumi.ResourceState

	// NetworkPolicyName is the default-deny NetworkPolicy.
	NetworkPolicyName pulumi.StringOutput `pulumi:"networkPolicyName"`
}

// NewNamespacePolicies creates a NetworkPolicy denying all ingress and egress of every pod
// in the namespace (and, with Istio, an allow-nothing AuthorizationPolicy). Each
// Microservice adds allows for its declared call graph.
func NewNamespacePolicies(ctx *pulumi.Context, name string, args *NamespacePoliciesArgs, opts ...pulumi.ResourceOption) (*NamespacePolicies, error) {
	if args == nil {
		return nil, fmt.Errorf("namespace policies %q: args are required", name)
	}
	if len(args.Namespace) > 63 || !dnsLabelRE.MatchString(args.Namespace) {
		return nil, fmt.Errorf("namespace policies %q: Namespace = %q: must be a DNS-1123 label", name, args.Namespace)
	}
	n := &NamespacePolicies{}
	if err := ctx.RegisterComponentResource("ordermesh:service:NamespacePolicies", name, n, opts...); err != nil {
		return nil, fmt.Errorf("namespace policies %q: %w", name, err)
	}
	labels := pulumi.StringMap{
		"app.kubernetes.io/part-of":    pulumi.String(DefaultPartOf),
		"app.kubernetes.io/managed-by": pulumi.String("pulumi"),
	}
	meta := func(objName string) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{Name: pulumi.String(objName), Namespace: pulumi.String(args.Namespace), Labels: labels}
	}
	np, err := networkingv1.NewNetworkPolicy(ctx, name+"-default-deny", &networkingv1.NetworkPolicyArgs{
		Metadata: meta("default-deny"),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.ToStringArray([]string{"Ingress", "Egress"}),
		},
	}, pulumi.Parent(n))
	if err != nil {
		return nil, fmt.Errorf("namespace policies %q: network policy: %w", name, err)
	}
	if args.Istio {
		gvk := versions.IstioAuthorizationPolicy
		if _, err := apiextensions.NewCustomResource(ctx, name+"-allow-nothing-"+strings.ToLower(gvk.Kind), &apiextensions.CustomResourceArgs{
			ApiVersion: pulumi.String(gvk.APIVersion),
			Kind:       pulumi.String(gvk.Kind),
			Metadata:   meta("allow-nothing"),
			// An ALLOW policy without rules matches nothing: every workload is denied unless
			// another policy allows the request.
			OtherFields: kubernetes.UntypedArgs{"spec": map[string]any{"action": "ALLOW"}},
		}, pulumi.Parent(n)); err != nil {
			return nil, fmt.Errorf("namespace policies %q: authorization policy: %w", name, err)
		}
	}
	n.NetworkPolicyName = np.Metadata.Name().Elem()
	if err := ctx.RegisterResourceOutputs(n, pulumi.Map{"networkPolicyName": n.NetworkPolicyName}); err != nil {
		return nil, fmt.Errorf("namespace policies %q: %w", name, err)
	}
	return n, nil
}
