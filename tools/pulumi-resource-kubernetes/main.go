// Command pulumi-resource-kubernetes serves the Pulumi Kubernetes provider.
//
// The provider module served here ships its schema files but not the
// generated "-embed" copies its own main expects, so tools/build copies
// schema.json and terraform-mapping.json from the module cache next to this
// file (git-ignored) before building.
package main

import (
	_ "embed"

	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/provider"
	"github.com/pulumi/pulumi-kubernetes/provider/v4/pkg/version"
)

//go:embed schema.json
var pulumiSchema []byte

//go:embed terraform-mapping.json
var terraformMapping []byte

func main() {
	provider.Serve("kubernetes", version.Version, pulumiSchema, terraformMapping)
}
