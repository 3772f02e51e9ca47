// Package customresource creates Kubernetes custom resources (Strimzi, Istio,
// prometheus-operator) from typed Go specs: the spec is marshalled to the
// JSON shape of the CRD and sent through apiextensions.CustomResource.
package customresource

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes"
	"github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/apiextensions"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Object is one custom resource with a typed spec.
type Object struct {
	// ResourceName is the Pulumi resource name suffix (unique per component).
	ResourceName string
	APIVersion   string
	Kind         string
	Name         string
	Namespace    string
	Labels       map[string]string
	// Spec marshals (encoding/json) to the CRD's spec.
	Spec any
}

// New registers o as a CustomResource.
func New(ctx *pulumi.Context, name string, o Object, opts ...pulumi.ResourceOption) (*apiextensions.CustomResource, error) {
	spec, err := Untyped(o.Spec)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", o.Kind, o.Name, err)
	}
	meta := metav1.ObjectMetaArgs{Name: pulumi.String(o.Name), Namespace: pulumi.String(o.Namespace)}
	// An empty label map is dropped by the API server and would show as a
	// diff on every preview, so only send labels that exist.
	if len(o.Labels) > 0 {
		meta.Labels = pulumi.ToStringMap(o.Labels)
	}
	return apiextensions.NewCustomResource(ctx, name, &apiextensions.CustomResourceArgs{
		ApiVersion:  pulumi.String(o.APIVersion),
		Kind:        pulumi.String(o.Kind),
		Metadata:    meta,
		OtherFields: kubernetes.UntypedArgs{"spec": spec},
	}, opts...)
}

// Untyped turns a typed spec into the JSON-shaped map the provider sends.
func Untyped(v any) (map[string]any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshal spec: %w", err)
	}
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("unmarshal spec: %w", err)
	}
	return out, nil
}
