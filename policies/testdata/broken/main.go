// Command broken is a Pulumi program whose resources break exactly four ordermesh policies and satisfy all the
// others, for the policy pack's end-to-end test:
//
//	workload-resources       Deployment without resource limits
//	service-type-restricted  Service of type LoadBalancer that is not the ingress gateway
//	canary-weights-sum-100   VirtualService splitting 90/20
//	kafka-topic-replication  KafkaTopic with 1 replica (and min.insync.replicas 1) in the prod profile
//
// `pulumi preview --policy-pack bin/ordermesh-policies` on it must exit non-zero and name each of them. Set
// BROKEN_RENDER_DIR to preview without a cluster (the provider writes YAML there instead); it is read from
// the environment so that the committed stack file (Pulumi.broken.yaml, salt for passphrase "dev") never
// changes.
package main

import (
	"os"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	appsv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apps/v1"
	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	networkingv1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/networking/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

const ns = "policy-broken"

func main() {
	pulumi.Run(run)
}

func run(ctx *pulumi.Context) error {
	var opts []pulumi.ResourceOption
	if dir := os.Getenv("BROKEN_RENDER_DIR"); dir != "" {
		p, err := kubernetes.NewProvider(ctx, "render", &kubernetes.ProviderArgs{
			RenderYamlToDirectory: pulumi.String(dir),
		})
		if err != nil {
			return err
		}
		opts = append(opts, pulumi.Provider(p))
	}

	namespace, err := corev1.NewNamespace(ctx, ns, &corev1.NamespaceArgs{
		Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(ns)},
	}, opts...)
	if err != nil {
		return err
	}
	opts = append(opts, pulumi.DependsOn([]pulumi.Resource{namespace}))
	meta := func(name string) *metav1.ObjectMetaArgs {
		return &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: pulumi.String(ns)}
	}
	labels := pulumi.StringMap{"app": pulumi.String("broken-app")}

	// Compliant scaffolding, so that only the four intended rules fire.
	if _, err := networkingv1.NewNetworkPolicy(ctx, "default-deny", &networkingv1.NetworkPolicyArgs{
		Metadata: meta("default-deny"),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress"), pulumi.String("Egress")},
		},
	}, opts...); err != nil {
		return err
	}
	if _, err := networkingv1.NewNetworkPolicy(ctx, "broken-app", &networkingv1.NetworkPolicyArgs{
		Metadata: meta("broken-app"),
		Spec: &networkingv1.NetworkPolicySpecArgs{
			PodSelector: &metav1.LabelSelectorArgs{MatchLabels: labels},
			PolicyTypes: pulumi.StringArray{pulumi.String("Ingress")},
			Ingress: networkingv1.NetworkPolicyIngressRuleArray{&networkingv1.NetworkPolicyIngressRuleArgs{
				Ports: networkingv1.NetworkPolicyPortArray{&networkingv1.NetworkPolicyPortArgs{Port: pulumi.Int(8080)}},
			}},
		},
	}, opts...); err != nil {
		return err
	}
	if _, err := apiextensions.NewCustomResource(ctx, "strict-mtls", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("security.istio.io/v1"),
		Kind:       pulumi.String("PeerAuthentication"),
		Metadata:   meta("default"),
		OtherFields: kubernetes.UntypedArgs{
			"spec": map[string]any{"mtls": map[string]any{"mode": "STRICT"}},
		},
	}, opts...); err != nil {
		return err
	}

	// Violation: workload-resources (requests but no limits).
	probe := &corev1.ProbeArgs{HttpGet: &corev1.HTTPGetActionArgs{Path: pulumi.String("/healthz"), Port: pulumi.Int(8080)}}
	if _, err := appsv1.NewDeployment(ctx, "broken-app", &appsv1.DeploymentArgs{
		Metadata: meta("broken-app"),
		Spec: &appsv1.DeploymentSpecArgs{
			Replicas: pulumi.Int(1),
			Selector: &metav1.LabelSelectorArgs{MatchLabels: labels},
			Template: &corev1.PodTemplateSpecArgs{
				Metadata: &metav1.ObjectMetaArgs{Labels: labels},
				Spec: &corev1.PodSpecArgs{
					SecurityContext: &corev1.PodSecurityContextArgs{
						RunAsNonRoot:   pulumi.Bool(true),
						SeccompProfile: &corev1.SeccompProfileArgs{Type: pulumi.String("RuntimeDefault")},
					},
					Containers: corev1.ContainerArray{&corev1.ContainerArgs{
						Name:  pulumi.String("app"),
						Image: pulumi.String("ghcr.io/ordermesh/broken-app:1.0.0"),
						Resources: &corev1.ResourceRequirementsArgs{
							Requests: pulumi.StringMap{"cpu": pulumi.String("50m"), "memory": pulumi.String("64Mi")},
						},
						ReadinessProbe: probe,
						LivenessProbe:  probe,
						SecurityContext: &corev1.SecurityContextArgs{
							ReadOnlyRootFilesystem:   pulumi.Bool(true),
							AllowPrivilegeEscalation: pulumi.Bool(false),
							Capabilities:             &corev1.CapabilitiesArgs{Drop: pulumi.StringArray{pulumi.String("ALL")}},
						},
					}},
				},
			},
		},
	}, opts...); err != nil {
		return err
	}

	// Violation: service-type-restricted.
	if _, err := corev1.NewService(ctx, "broken-lb", &corev1.ServiceArgs{
		Metadata: meta("broken-lb"),
		Spec: &corev1.ServiceSpecArgs{
			Type:     pulumi.String("LoadBalancer"),
			Selector: labels,
			Ports:    corev1.ServicePortArray{&corev1.ServicePortArgs{Port: pulumi.Int(80), TargetPort: pulumi.Int(8080)}},
		},
	}, opts...); err != nil {
		return err
	}

	// Violation: canary-weights-sum-100 (90 + 20 = 110).
	if _, err := apiextensions.NewCustomResource(ctx, "broken-canary", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("networking.istio.io/v1"),
		Kind:       pulumi.String("VirtualService"),
		Metadata:   meta("broken-canary"),
		OtherFields: kubernetes.UntypedArgs{
			"spec": map[string]any{
				"hosts": []any{"broken-lb"},
				"http": []any{map[string]any{
					"name": "canary",
					"route": []any{
						map[string]any{"destination": map[string]any{"host": "broken-lb", "subset": "stable"}, "weight": 90},
						map[string]any{"destination": map[string]any{"host": "broken-lb", "subset": "canary"}, "weight": 20},
					},
				}},
			},
		},
	}, opts...); err != nil {
		return err
	}

	// Violation: kafka-topic-replication (prod needs replicas >= 3, min.insync.replicas >= 2).
	_, err = apiextensions.NewCustomResource(ctx, "broken-topic", &apiextensions.CustomResourceArgs{
		ApiVersion: pulumi.String("kafka.strimzi.io/v1"),
		Kind:       pulumi.String("KafkaTopic"),
		Metadata: &metav1.ObjectMetaArgs{
			Name: pulumi.String("broken-topic"), Namespace: pulumi.String(ns),
			Labels: pulumi.StringMap{"strimzi.io/cluster": pulumi.String("ordermesh")},
		},
		OtherFields: kubernetes.UntypedArgs{
			"spec": map[string]any{
				"partitions": 3,
				"replicas":   1,
				"config":     map[string]any{"min.insync.replicas": 1},
			},
		},
	}, opts...)
	return err
}
