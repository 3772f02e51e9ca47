// Package pulumimock is the Pulumi mock monitor the component tests share:
// it records every registered resource with its parent and inputs.
package pulumimock

import (
	"sync"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Resource is one resource registered during a mocked run.
type Resource struct {
	Type, Name, Parent string
	// Inputs are the plain input values (secrets unwrapped).
	Inputs map[string]any
	// Props are the raw inputs, where secretness can be checked.
	Props resource.PropertyMap
}

// Monitor implements pulumi.MockResourceMonitor; outputs echo the inputs.
type Monitor struct {
	mu        sync.Mutex
	Resources []Resource
}

// NewResource records the resource.
func (m *Monitor) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	parent := ""
	if args.RegisterRPC != nil {
		parent = args.RegisterRPC.GetParent()
	}
	m.Resources = append(m.Resources, Resource{Type: args.TypeToken, Name: args.Name, Parent: parent, Inputs: args.Inputs.Mappable(), Props: args.Inputs})
	return args.Name + "-id", args.Inputs, nil
}

// Call echoes its arguments.
func (m *Monitor) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) { return args.Args, nil }

// OfType returns the recorded resources of a type token, in registration order.
func (m *Monitor) OfType(typ string) []Resource {
	var out []Resource
	for _, r := range m.Resources {
		if r.Type == typ {
			out = append(out, r)
		}
	}
	return out
}
