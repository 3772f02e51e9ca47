package service_test

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/components/service"
	"github.com/ordermesh/ordermesh/stacks"
)

// Wiring from the stack configuration, as infra/ does: the namespace baseline first, then
// every service with args mapped from the config. Pass the cluster's provider (and a
// DependsOn on the namespace) in opts; children inherit them.
func Example() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		cfg, err := stacks.Load(ctx)
		if err != nil {
			return err
		}
		var opts []pulumi.ResourceOption // e.g. pulumi.Provider(k8s), pulumi.DependsOn([]pulumi.Resource{ns})
		if _, err := service.NewNamespacePolicies(ctx, "apps", &service.NamespacePoliciesArgs{
			Namespace: cfg.Namespaces.Apps,
			Istio:     cfg.Mesh.Enabled,
		}, opts...); err != nil {
			return err
		}
		for _, name := range cfg.SortedServiceNames() {
			args, err := service.ArgsFromConfig(cfg, name, service.Platform{
				ServiceMonitorLabels: map[string]string{"release": "kube-prometheus-stack"},
			})
			if err != nil {
				return err
			}
			svc, err := service.NewMicroservice(ctx, name, args, opts...)
			if err != nil {
				return err
			}
			ctx.Export(name+"Address", svc.Address)
		}
		return nil
	})
}
