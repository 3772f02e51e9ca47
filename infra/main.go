// Command infra is the ordermesh Pulumi program: it reads the stack's typed
// configuration (stacks), builds the component graph and exports its outputs.
package main

import (
	"cmp"
	"fmt"
	"maps"
	"slices"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/ordermesh/ordermesh/components/cluster"
	"github.com/ordermesh/ordermesh/components/k3s"
	"github.com/ordermesh/ordermesh/stacks"
)

func main() { pulumi.Run(run) }

// vpsArgs maps the stack's hosts to the k3s component; every host uses the
// stack's SSH key.
func vpsArgs(cfg *stacks.Config, key pulumi.StringInput) *k3s.Args {
	a := &k3s.Args{Firewall: k3s.Firewall{Enabled: cfg.Cluster.Firewall}}
	a.Install.Version = cfg.Cluster.K3sVersion
	for _, name := range slices.Sorted(maps.Keys(cfg.Cluster.Hosts)) {
		h := cfg.Cluster.Hosts[name]
		a.Hosts = append(a.Hosts, k3s.Host{
			Name: name, Address: h.Address, PrivateAddress: h.PrivateAddress, Port: h.Port, User: h.User,
			PrivateKey: key, HostKey: h.HostKey, Role: k3s.Role(h.Role),
		})
	}
	// Servers first: the first server initialises the cluster.
	slices.SortStableFunc(a.Hosts, func(x, y k3s.Host) int {
		return cmp.Compare(roleOrder(x.Role), roleOrder(y.Role))
	})
	return a
}

func roleOrder(r k3s.Role) int {
	if r == k3s.Server {
		return 0
	}
	return 1
}

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
	secrets := config.New(ctx, stacks.Namespace)
	if kc, err := secrets.TrySecret("kubeconfig"); err == nil {
		clusterArgs.Kubeconfig = kc
	}
	if cfg.Cluster.Mode == string(cluster.ModeVPS) {
		key, err := secrets.TrySecret("sshPrivateKey")
		if err != nil {
			return fmt.Errorf("ordermesh:sshPrivateKey: cluster.mode vps needs the SSH private key for the hosts: pulumi config set --secret ordermesh:sshPrivateKey \"$(cat ~/.ssh/id_ed25519)\"")
		}
		clusterArgs.VPS = vpsArgs(cfg, key)
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
