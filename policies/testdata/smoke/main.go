package main

import "github.com/pulumi/pulumi/sdk/v3/go/pulumi"

type comp struct{ pulumi.ResourceState }

func main() {
	pulumi.Run(func(ctx *pulumi.Context) error {
		c := &comp{}
		return ctx.RegisterComponentResource("ordermesh:test:Smoke", "smoke", c)
	})
}
