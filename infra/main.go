// Command infra is the ordermesh Pulumi program: it reads the stack's typed
// configuration (stacks), builds the component graph and exports its outputs.
package main

import (
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/ordermesh/ordermesh/components/cluster"
	"github.com/ordermesh/ordermesh/stacks"
)

func main() { pulumi.Run(run) }

func run(ctx *pulumi.Context) error {
	cfg, err := stacks.Load(ctx)
	if err != nil {
		return err
	}

	clusterArgs := &cluster.Args{
		Mode:          cluster.Mode(cfg.Cluster.Mode),
		Context:       cfg.Cluster.Context,
		LocalStateDir: cfg.Cluster.LocalStateDir,
		RenderDir:     cfg.Cluster.RenderDir,
	}
	if kc, err := config.New(ctx, stacks.Namespace).TrySecret("kubeconfig"); err == nil {
		clusterArgs.Kubeconfig = kc
	}
	target, err := cluster.NewCluster(ctx, "target", clusterArgs)
	if err != nil {
		return err
	}
	k8s := pulumi.Provider(target.Provider)

	namespaces, err := newNamespaces(ctx, cfg, k8s)
	if err != nil {
		return err
	}

	nsDeps := namespaces.resources()
	plat, err := newPlatform(ctx, cfg, nsDeps, k8s)
	if err != nil {
		return err
	}
	if err := newServices(ctx, cfg, plat, nsDeps, k8s); err != nil {
		return err
	}

	ctx.Export("profile", pulumi.String(string(cfg.Profile)))
	ctx.Export("clusterMode", target.Mode)
	ctx.Export("namespaces", namespaces.names())
	return nil
}
