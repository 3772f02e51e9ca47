// Command plain creates `count` ConfigMaps and nothing else: the baseline
// that ordermesh's program is compared with in BenchmarkPreview.
package main

import (
	"fmt"

	corev1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/core/v1"
	metav1 "github.com/pulumi/pulumi-kubernetes/sdk/v4/go/kubernetes/meta/v1"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"
)

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		n := config.RequireInt(ctx, "count")
		for i := range n {
			name := fmt.Sprintf("plain-%03d", i)
			if _, err := corev1.NewConfigMap(ctx, name, &corev1.ConfigMapArgs{
				Metadata: &metav1.ObjectMetaArgs{Name: pulumi.String(name), Namespace: pulumi.String("default")},
				Data:     pulumi.StringMap{"index": pulumi.String(fmt.Sprint(i))},
			}); err != nil {
				return err
			}
		}
		return nil
	})
}
