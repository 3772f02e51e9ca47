package main

import (
	"slices"
	"sync"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/policies/rules"
)

// recorder keeps the inputs of every resource the program registers.
type recorder struct {
	mu  sync.Mutex
	res []rules.Resource
}

func (m *recorder) NewResource(args pulumi.MockResourceArgs) (string, resource.PropertyMap, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.res = append(m.res, rules.Resource{
		Type: args.TypeToken, Name: args.Name,
		URN:   "urn:pulumi:broken::ordermesh-policy-broken::" + args.TypeToken + "::" + args.Name,
		Props: resource.FromResourcePropertyMap(args.Inputs),
	})
	return args.Name + "-id", args.Inputs, nil
}

func (m *recorder) Call(args pulumi.MockCallArgs) (resource.PropertyMap, error) {
	return resource.PropertyMap{}, nil
}

// TestBreaksExactlyTheFourRules runs the program under mocks and the pack's rules (prod profile, as in
// Pulumi.broken.yaml) over what it registers. The end-to-end preview asserts the same through the CLI; this
// keeps the program honest without one. Mocks return inputs as outputs, as the provider's preview does for
// the fields the rules read.
func TestBreaksExactlyTheFourRules(t *testing.T) {
	m := &recorder{}
	if err := pulumi.RunErr(run, pulumi.WithMocks("ordermesh-policy-broken", "broken", m)); err != nil {
		t.Fatal(err)
	}
	p := rules.ParamsFor("prod")
	var fired []string
	for _, rule := range rules.All() {
		var fs []rules.Finding
		if rule.CheckStack != nil {
			fs = rule.RunStack(m.res, p)
		} else {
			for _, r := range m.res {
				fs = append(fs, rule.Run(r, p)...)
			}
		}
		for _, f := range fs {
			if f.Unknown {
				t.Errorf("%s: unexpected unknown value %s", rule.Name, f.Field)
				continue
			}
			t.Logf("%s: %s", rule.Name, f.Message)
			if !slices.Contains(fired, rule.Name) {
				fired = append(fired, rule.Name)
			}
		}
	}
	slices.Sort(fired)
	want := []string{"canary-weights-sum-100", "kafka-topic-replication", "service-type-restricted", "workload-resources"}
	if !slices.Equal(fired, want) {
		t.Errorf("rules fired = %v, want %v", fired, want)
	}
}
