// Command cluster is the tiny program the k3s end-to-end test runs with `pulumi up`: hosts and
// artifacts come from stack config (hostsJson is a secret: it carries the SSH private keys).
package main

import (
	"encoding/json"
	"fmt"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/config"

	"github.com/ordermesh/ordermesh/components/k3s"
)

type hostConfig struct {
	Name       string `json:"name"`
	Address    string `json:"address"`
	Port       int    `json:"port"`
	User       string `json:"user"`
	PrivateKey string `json:"privateKey"`
	HostKey    string `json:"hostKey"`
	Role       string `json:"role"`
	RootPrefix string `json:"rootPrefix"`
}

type artifactConfig struct {
	LocalPath string `json:"localPath"`
	SHA256    string `json:"sha256"`
}

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		cfg := config.New(ctx, "")
		var hosts []hostConfig
		// The secret is decrypted here only to split it; every private key goes back in as a secret.
		raw := cfg.RequireSecret("hostsJson")
		done := make(chan error, 1)
		raw.ApplyT(func(s string) error {
			done <- json.Unmarshal([]byte(s), &hosts)
			return nil
		})
		if err := <-done; err != nil {
			return fmt.Errorf("hostsJson: %w", err)
		}
		var binary, images, script artifactConfig
		cfg.RequireObject("binary", &binary)
		cfg.RequireObject("images", &images)
		cfg.RequireObject("installScript", &script)

		args := &k3s.Args{
			APIAddress: "203.0.113.10",
			Install: k3s.Install{
				Version:       cfg.Require("version"),
				Binary:        &k3s.Artifact{LocalPath: binary.LocalPath, SHA256: binary.SHA256},
				Images:        &k3s.Artifact{LocalPath: images.LocalPath, SHA256: images.SHA256},
				InstallScript: &k3s.Artifact{LocalPath: script.LocalPath, SHA256: script.SHA256},
			},
			ReadyTimeoutSeconds: 60,
			DrainTimeoutSeconds: 60,
		}
		for _, h := range hosts {
			args.Hosts = append(args.Hosts, k3s.Host{
				Name: h.Name, Address: h.Address, Port: h.Port, User: h.User, HostKey: h.HostKey,
				PrivateKey: pulumi.ToSecret(pulumi.String(h.PrivateKey)).(pulumi.StringOutput),
				Role:       k3s.Role(h.Role), RootPrefix: h.RootPrefix,
			})
		}
		c, err := k3s.NewCluster(ctx, "vps", args)
		if err != nil {
			return err
		}
		ctx.Export("kubeconfig", c.Kubeconfig)
		ctx.Export("version", c.Version)
		return nil
	})
}
