// Package policies builds the ordermesh policy pack from the rules in policies/rules. The pack binary
// (policies/cmd/ordermesh-policies) serves it to the Pulumi engine with policyx.Main; it is passed to
// `pulumi preview --policy-pack bin/ordermesh-policies` as a binary because the Go language host in use cannot
// run `runtime: go` policy projects.
package policies

import (
	"context"
	"fmt"
	"slices"

	"github.com/blang/semver"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/ordermesh/ordermesh/policies/rules"
)

// Name and Version identify the pack in violations and in `pulumi preview` output.
const (
	Name    = "ordermesh-policies"
	Version = "0.1.0"
)

// UnknownPolicy and UnknownStackPolicy report, as advisories, what rules could not check during preview
// because a value was not known yet. policyx reports every violation of a policy at that policy's level, so
// "cannot verify" has to be a policy of its own to stay advisory while the rule itself is mandatory.
const (
	UnknownPolicy      = "cannot-verify-during-preview"
	UnknownStackPolicy = "cannot-verify-during-preview-stack"
)

// Profiles the pack knows; ProfileOf falls back to dev for anything else.
var profiles = []string{"dev", "staging", "prod"}

// Options select the enforcement levels and thresholds of the pack.
type Options struct {
	// Profile is the stack's environment profile: prod makes safety rules mandatory and raises the Kafka
	// replication thresholds.
	Profile string
	// DryRun is true during preview. Unknown values are then reported by the cannot-verify advisories; during
	// an update every value is known, so an unknown one is a violation of the rule (fail closed).
	DryRun bool
}

// ProfileOf returns the stack's profile: the `ordermesh:profile` stack config, else the stack name when it
// names a profile, else dev.
func ProfileOf(ctx *pulumi.Context) string {
	if p, ok := ctx.GetConfig("ordermesh:profile"); ok && p != "" {
		return p
	}
	if slices.Contains(profiles, ctx.Stack()) {
		return ctx.Stack()
	}
	return "dev"
}

// NewPack is the policyx factory: the engine calls it once the stack is known.
func NewPack(ctx *pulumi.Context) (policyx.PolicyPack, error) {
	return Pack(Options{Profile: ProfileOf(ctx), DryRun: ctx.DryRun()})
}

// Level returns a rule's default enforcement level in a profile. Policy config (`--policy-pack-config`)
// overrides it per stack.
func Level(r rules.Rule, profile string) policyx.EnforcementLevel {
	if r.Class == rules.Invariant || profile == "prod" {
		return policyx.EnforcementLevelMandatory
	}
	return policyx.EnforcementLevelAdvisory
}

// Pack builds the policy pack for opts.
func Pack(opts Options) (policyx.PolicyPack, error) {
	var ps []policyx.Policy
	var resourceRules, stackRules []rules.Rule
	for _, r := range rules.All() {
		if r.CheckStack != nil {
			stackRules = append(stackRules, r)
			ps = append(ps, stackPolicy(r, opts))
		} else {
			resourceRules = append(resourceRules, r)
			ps = append(ps, resourcePolicy(r, opts))
		}
	}
	ps = append(ps, unknownResourcePolicy(resourceRules, opts), unknownStackPolicy(stackRules, opts))
	pack, err := policyx.NewPolicyPack(Name, semver.MustParse(Version), policyx.EnforcementLevelAdvisory, ps)
	if err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	return pack, nil
}

func message(r rules.Rule, f rules.Finding) string {
	msg := f.Message
	if f.Unknown {
		// Only reached during an update: every input is resolved by then, so an unknown value is suspect.
		msg = fmt.Sprintf("%s is unknown during the update; failing closed", f.Field)
	}
	return fmt.Sprintf("[%s] %s\nRemediation: %s", r.Name, msg, r.Remediation)
}

func toResource(a policyx.AnalyzerResource) rules.Resource {
	return rules.Resource{Type: a.Type, URN: a.URN, Name: a.Name, Props: a.Properties}
}

// params returns the thresholds of the profile with overrides from the policy's config properties.
func params(profile string, config map[string]any) rules.Params {
	p := rules.ParamsFor(profile)
	if v, ok := config["minReplicas"].(float64); ok {
		p.MinTopicReplicas = int(v)
	}
	if v, ok := config["minInSyncReplicas"].(float64); ok {
		p.MinInSyncReplicas = int(v)
	}
	return p
}

// configSchema exposes the Kafka thresholds as policy config; the engine fills in the defaults.
func configSchema(r rules.Rule, profile string) *policyx.ConfigSchema {
	if r.Name != "kafka-topic-replication" {
		return nil
	}
	p := rules.ParamsFor(profile)
	return &policyx.ConfigSchema{Properties: map[string]map[string]any{
		"minReplicas":       {"type": "integer", "minimum": 1, "default": p.MinTopicReplicas},
		"minInSyncReplicas": {"type": "integer", "minimum": 1, "default": p.MinInSyncReplicas},
	}}
}

func report(m policyx.PolicyManager, r rules.Rule, fs []rules.Finding, dryRun bool) {
	for _, f := range fs {
		if f.Unknown && dryRun {
			continue // the cannot-verify advisory reports it
		}
		m.ReportViolation(message(r, f), f.URN)
	}
}

func resourcePolicy(r rules.Rule, opts Options) policyx.Policy {
	return policyx.NewResourceValidationPolicy(r.Name, policyx.ResourceValidationPolicyArgs{
		Description:      r.Description,
		EnforcementLevel: Level(r, opts.Profile),
		ConfigSchema:     configSchema(r, opts.Profile),
		ValidateResource: func(_ context.Context, a policyx.ResourceValidationArgs) error {
			report(a.Manager, r, r.Run(toResource(a.Resource), params(opts.Profile, a.Config)), opts.DryRun)
			return nil
		},
	})
}

func stackPolicy(r rules.Rule, opts Options) policyx.Policy {
	return policyx.NewStackValidationPolicy(r.Name, policyx.StackValidationPolicyArgs{
		Description:      r.Description,
		EnforcementLevel: Level(r, opts.Profile),
		ValidateStack: func(_ context.Context, a policyx.StackValidationArgs) error {
			report(a.Manager, r, r.RunStack(toResources(a.Resources), rules.ParamsFor(opts.Profile)), opts.DryRun)
			return nil
		},
	})
}

func toResources(as []policyx.AnalyzerResource) []rules.Resource {
	rs := make([]rules.Resource, len(as))
	for i, a := range as {
		rs[i] = toResource(a)
	}
	return rs
}

func unknownMessage(r rules.Rule, f rules.Finding) string {
	return fmt.Sprintf("[%s] %s; it is checked again when `pulumi up` runs", r.Name, f)
}

func unknownResourcePolicy(rs []rules.Rule, opts Options) policyx.Policy {
	return policyx.NewResourceValidationPolicy(UnknownPolicy, policyx.ResourceValidationPolicyArgs{
		Description:      "A rule could not check a value that is unknown during preview.",
		EnforcementLevel: policyx.EnforcementLevelAdvisory,
		ValidateResource: func(_ context.Context, a policyx.ResourceValidationArgs) error {
			if !opts.DryRun {
				return nil
			}
			res := toResource(a.Resource)
			for _, r := range rs {
				// The rule's own config is not visible here; the profile's thresholds decide what is checked.
				for _, f := range r.Run(res, rules.ParamsFor(opts.Profile)) {
					if f.Unknown {
						a.Manager.ReportViolation(unknownMessage(r, f), f.URN)
					}
				}
			}
			return nil
		},
	})
}

func unknownStackPolicy(rs []rules.Rule, opts Options) policyx.Policy {
	return policyx.NewStackValidationPolicy(UnknownStackPolicy, policyx.StackValidationPolicyArgs{
		Description:      "A stack rule could not check a value that is unknown during preview.",
		EnforcementLevel: policyx.EnforcementLevelAdvisory,
		ValidateStack: func(_ context.Context, a policyx.StackValidationArgs) error {
			if !opts.DryRun {
				return nil
			}
			res := toResources(a.Resources)
			for _, r := range rs {
				for _, f := range r.RunStack(res, rules.ParamsFor(opts.Profile)) {
					if f.Unknown {
						a.Manager.ReportViolation(unknownMessage(r, f), f.URN)
					}
				}
			}
			return nil
		},
	})
}
