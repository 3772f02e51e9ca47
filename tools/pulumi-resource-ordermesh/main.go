// Command pulumi-resource-ordermesh is the ordermesh resource provider plugin (k3s nodes over SSH).
// Build it with `make tools`; the version is stamped with -ldflags (see mk/k3s.mk).
package main

import (
	"fmt"
	"os"

	pulumiprovider "github.com/pulumi/pulumi/sdk/v3/go/pulumi/provider"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"

	"github.com/ordermesh/ordermesh/components/k3s/provider"
)

func main() {
	err := pulumiprovider.Main(provider.Name, func(host *pulumiprovider.HostClient) (pulumirpc.ResourceProviderServer, error) {
		return provider.New(provider.Version, host), nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
