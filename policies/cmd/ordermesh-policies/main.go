// Command ordermesh-policies is the ordermesh policy pack as an analyzer plugin binary. The Pulumi CLI starts
// it for `pulumi preview|up --policy-pack <path to this binary>`; it prints its gRPC port and serves the pack.
package main

import (
	"fmt"
	"os"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/ordermesh/ordermesh/policies"
)

func main() {
	if err := policyx.Main(policies.NewPack); err != nil {
		fmt.Fprintf(os.Stderr, "ordermesh-policies: %v\n", err)
		os.Exit(1)
	}
}
