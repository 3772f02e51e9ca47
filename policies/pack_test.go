package policies

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pulumi/pulumi/sdk/v3/go/property"
	"github.com/pulumi/pulumi/sdk/v3/go/pulumi/policyx"

	"github.com/ordermesh/ordermesh/policies/rules"
)

type violation struct{ msg, urn string }

type recorder struct{ got []violation }

func (r *recorder) ReportViolation(msg, urn string) { r.got = append(r.got, violation{msg, urn}) }

func policyByName(t *testing.T, pack policyx.PolicyPack, name string) policyx.Policy {
	t.Helper()
	for _, p := range pack.Policies() {
		if p.Name() == name {
			return p
		}
	}
	t.Fatalf("pack has no policy %q", name)
	return nil
}

func mustPack(t *testing.T, o Options) policyx.PolicyPack {
	t.Helper()
	pack, err := Pack(o)
	if err != nil {
		t.Fatal(err)
	}
	return pack
}

func TestEnforcementLevelsFollowProfile(t *testing.T) {
	tests := []struct {
		profile, policy string
		want            policyx.EnforcementLevel
	}{
		{"prod", "workload-resources", policyx.EnforcementLevelMandatory},
		{"prod", "replicated-deployment-pdb", policyx.EnforcementLevelMandatory},
		{"dev", "workload-resources", policyx.EnforcementLevelAdvisory},
		{"staging", "service-type-restricted", policyx.EnforcementLevelAdvisory},
		{"dev", "canary-weights-sum-100", policyx.EnforcementLevelMandatory},
		{"dev", "no-plaintext-secrets", policyx.EnforcementLevelMandatory},
		{"prod", UnknownPolicy, policyx.EnforcementLevelAdvisory},
		{"prod", UnknownStackPolicy, policyx.EnforcementLevelAdvisory},
	}
	for _, tc := range tests {
		pack := mustPack(t, Options{Profile: tc.profile, DryRun: true})
		if got := policyByName(t, pack, tc.policy).EnforcementLevel(); got != tc.want {
			t.Errorf("%s in %s: level %v, want %v", tc.policy, tc.profile, got, tc.want)
		}
	}
}

func TestPackHasEveryRule(t *testing.T) {
	pack := mustPack(t, Options{Profile: "dev"})
	var names []string
	for _, p := range pack.Policies() {
		names = append(names, p.Name())
	}
	for _, r := range rules.All() {
		if !slices.Contains(names, r.Name) {
			t.Errorf("pack lacks rule %s", r.Name)
		}
	}
	if pack.Name() != Name || pack.Version().String() != Version {
		t.Errorf("pack %s %s", pack.Name(), pack.Version())
	}
}

func props(t *testing.T, m map[string]any) property.Map {
	t.Helper()
	var conv func(any) property.Value
	conv = func(v any) property.Value {
		switch v := v.(type) {
		case nil:
			return property.New(property.Computed)
		case string:
			return property.New(v)
		case int:
			return property.New(float64(v))
		case []any:
			out := make([]property.Value, len(v))
			for i, e := range v {
				out[i] = conv(e)
			}
			return property.New(out)
		case map[string]any:
			out := map[string]property.Value{}
			for k, e := range v {
				out[k] = conv(e)
			}
			return property.New(out)
		}
		t.Fatalf("unsupported %T", v)
		return property.Value{}
	}
	return conv(m).AsMap()
}

// topic builds a KafkaTopic; nil marks a value unknown during preview.
func topic(t *testing.T, replicas any) policyx.AnalyzerResource {
	return policyx.AnalyzerResource{
		Type: "kubernetes:kafka.strimzi.io/v1:KafkaTopic", URN: "urn:pulumi:prod::ordermesh::KafkaTopic::orders",
		Name: "orders",
		Properties: props(t, map[string]any{
			"metadata": map[string]any{"name": "orders"},
			"spec":     map[string]any{"replicas": replicas, "config": map[string]any{"min.insync.replicas": "2"}},
		}),
	}
}

func validate(t *testing.T, pack policyx.PolicyPack, policy string, r policyx.AnalyzerResource, config map[string]any) []violation {
	t.Helper()
	p, ok := policyByName(t, pack, policy).(policyx.ResourceValidationPolicy)
	if !ok {
		t.Fatalf("%s is not a resource policy", policy)
	}
	rec := &recorder{}
	if err := p.Validate(context.Background(), policyx.ResourceValidationArgs{Manager: rec, Resource: r, Config: config}); err != nil {
		t.Fatal(err)
	}
	return rec.got
}

func TestUnknownValues(t *testing.T) {
	const rule = "kafka-topic-replication"
	tests := []struct {
		name         string
		dryRun       bool
		replicas     any
		wantRule     string // substring of the rule's violation, "" for none
		wantAdvisory string // substring of the cannot-verify advisory, "" for none
	}{
		{name: "preview: unknown is an advisory, not a violation", dryRun: true, replicas: nil,
			wantAdvisory: "[kafka-topic-replication] cannot verify during preview: spec.replicas unknown"},
		{name: "update: unknown fails closed", dryRun: false, replicas: nil,
			wantRule: "spec.replicas is unknown during the update; failing closed"},
		{name: "preview: known bad value is a violation", dryRun: true, replicas: 1,
			wantRule: "spec.replicas is 1 (profile prod needs >= 3)"},
		{name: "preview: known good value passes", dryRun: true, replicas: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pack := mustPack(t, Options{Profile: "prod", DryRun: tc.dryRun})
			r := topic(t, tc.replicas)
			expect(t, validate(t, pack, rule, r, nil), tc.wantRule)
			expect(t, validate(t, pack, UnknownPolicy, r, nil), tc.wantAdvisory)
		})
	}
}

func expect(t *testing.T, got []violation, want string) {
	t.Helper()
	if want == "" {
		if len(got) != 0 {
			t.Errorf("unexpected violations %q", got)
		}
		return
	}
	if len(got) != 1 || !strings.Contains(got[0].msg, want) {
		t.Errorf("violations %q, want one containing %q", got, want)
	}
	if len(got) == 1 && got[0].urn != "urn:pulumi:prod::ordermesh::KafkaTopic::orders" {
		t.Errorf("violation on %q", got[0].urn)
	}
}

func TestPolicyConfigOverridesThresholds(t *testing.T) {
	pack := mustPack(t, Options{Profile: "prod", DryRun: true})
	r := topic(t, 3)
	expect(t, validate(t, pack, "kafka-topic-replication", r, nil), "")
	// The engine passes JSON numbers as float64.
	expect(t, validate(t, pack, "kafka-topic-replication", r, map[string]any{"minReplicas": 4.0}),
		"spec.replicas is 3 (profile prod needs >= 4)")
}

func TestStackPolicyReportsOnTheOffendingResource(t *testing.T) {
	pack := mustPack(t, Options{Profile: "prod", DryRun: true})
	p := policyByName(t, pack, "replicated-deployment-pdb").(policyx.StackValidationPolicy)
	dep := policyx.AnalyzerResource{
		Type: "kubernetes:apps/v1:Deployment", URN: "urn:dep", Name: "order",
		Properties: props(t, map[string]any{
			"metadata": map[string]any{"name": "order", "namespace": "orders"},
			"spec": map[string]any{"replicas": 3, "template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "order"}},
				"spec":     map[string]any{"containers": []any{}}}},
		}),
	}
	rec := &recorder{}
	if err := p.Validate(context.Background(), policyx.StackValidationArgs{Manager: rec, Resources: []policyx.AnalyzerResource{dep}}); err != nil {
		t.Fatal(err)
	}
	if len(rec.got) != 1 || rec.got[0].urn != "urn:dep" || !strings.Contains(rec.got[0].msg, "no PodDisruptionBudget") ||
		!strings.Contains(rec.got[0].msg, "Remediation:") {
		t.Errorf("got %q", rec.got)
	}
}

// TestStackPolicyConfigs checks the per-stack files passed with --policy-pack-config: every key names a
// policy of the pack (or "all"), every level is one the engine accepts, and properties match the schema.
func TestStackPolicyConfigs(t *testing.T) {
	files, err := filepath.Glob("config/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no policy configs: %v", err)
	}
	pack := mustPack(t, Options{Profile: "prod"})
	levels := []string{"advisory", "mandatory", "disabled"}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		var cfg map[string]any
		if err := json.Unmarshal(data, &cfg); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for name, v := range cfg {
			var level string
			var p policyx.Policy
			if name != "all" {
				p = policyByName(t, pack, name)
			}
			switch v := v.(type) {
			case string:
				level = v
			case map[string]any:
				level, _ = v["enforcementLevel"].(string)
				for k := range v {
					if k == "enforcementLevel" {
						continue
					}
					if p == nil || p.ConfigSchema() == nil || p.ConfigSchema().Properties[k] == nil {
						t.Errorf("%s: %s has no config property %q", file, name, k)
					}
				}
			default:
				t.Errorf("%s: %s: %v is neither a level nor an object", file, name, v)
			}
			if level != "" && !slices.Contains(levels, level) {
				t.Errorf("%s: %s: level %q", file, name, level)
			}
		}
		// A stack must not silence the preview advisories into failures: unknowns are decided at up.
		if l, _ := cfg[UnknownPolicy].(string); l != "advisory" {
			t.Errorf("%s: %s must stay advisory, got %q", file, UnknownPolicy, l)
		}
	}
}
