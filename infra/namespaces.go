package main

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/stacks"
)

// platformNamespaces are the namespaces of one stack, by role.
type platformNamespaces struct {
	byRole map[string]*corev1.Namespace
}

func (p *platformNamespaces) names() pulumi.StringMap {
	out := pulumi.StringMap{}
	for role, ns := range p.byRole {
		out[role] = ns.Metadata.Name().Elem()
	}
	return out
}

// resources returns the namespaces as dependencies for what lives in them.
func (p *platformNamespaces) resources() []pulumi.Resource {
	var out []pulumi.Resource
	seen := map[*corev1.Namespace]bool{}
	for _, ns := range p.byRole {
		if !seen[ns] {
			seen[ns] = true
			out = append(out, ns)
		}
	}
	return out
}

// newNamespaces creates the platform and application namespaces with the
// labels other components and policies select on.
func newNamespaces(ctx *pulumi.Context, cfg *stacks.Config, opts ...pulumi.ResourceOption) (*platformNamespaces, error) {
	n := cfg.Namespaces
	roles := []struct {
		role, name string
		apps       bool
	}{
		{"apps", n.Apps, true},
		{"kafka", n.Kafka, false},
		{"mesh", n.Mesh, false},
		{"ingress", n.Ingress, false},
		{"vault", n.Vault, false},
		{"observability", n.Observability, false},
	}
	out := &platformNamespaces{byRole: map[string]*corev1.Namespace{}}
	created := map[string]*corev1.Namespace{}
	for _, r := range roles {
		if existing, ok := created[r.name]; ok {
			out.byRole[r.role] = existing // several roles may share one namespace
			continue
		}
		labels := pulumi.StringMap{
			"app.kubernetes.io/part-of":    pulumi.String("ordermesh"),
			"app.kubernetes.io/managed-by": pulumi.String("pulumi"),
			"ordermesh.io/profile":         pulumi.String(string(cfg.Profile)),
			"ordermesh.io/role":            pulumi.String(r.role),
		}
		if r.apps {
			// Workloads must meet the restricted Pod Security Standard; warn
			// and audit rather than enforce so sidecar injection keeps working
			// where Istio CNI is not installed.
			labels["pod-security.kubernetes.io/warn"] = pulumi.String("restricted")
			labels["pod-security.kubernetes.io/audit"] = pulumi.String("restricted")
			if cfg.Mesh.Enabled {
				labels["istio-injection"] = pulumi.String("enabled")
			}
		}
		ns, err := corev1.NewNamespace(ctx, r.name, &corev1.NamespaceArgs{
			Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(r.name), Labels: labels},
		}, opts...)
		if err != nil {
			return nil, fmt.Errorf("namespace %s: %w", r.name, err)
		}
		created[r.name] = ns
		out.byRole[r.role] = ns
	}
	return out, nil
}
