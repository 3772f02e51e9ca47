package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func summarize(t *testing.T, preview, events string) string {
	t.Helper()
	var s Summary
	s.Stack = "prod"
	if preview != "" {
		f, err := os.Open(filepath.Join("testdata", preview))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := s.ReadPreview(f); err != nil {
			t.Fatal(err)
		}
	}
	if events != "" {
		f, err := os.Open(filepath.Join("testdata", events))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := s.ReadEvents(f, preview == ""); err != nil {
			t.Fatal(err)
		}
	}
	return s.Markdown()
}

// inOrder asserts that each of parts appears in md after the previous one.
func inOrder(t *testing.T, md string, parts ...string) {
	t.Helper()
	rest := md
	for _, p := range parts {
		i := strings.Index(rest, p)
		if i < 0 {
			t.Fatalf("%q missing or out of order in:\n%s", p, md)
		}
		rest = rest[i+len(p):]
	}
}

func TestSummaryOfPreviewAndEvents(t *testing.T) {
	md := summarize(t, "handmade-preview.json", "handmade-events.json")
	inOrder(t, md,
		"### Pulumi preview — `prod`",
		// A replacement counts once, not three times (replace + create-replacement + delete-replaced).
		"❌ **1 to replace, 1 to delete, 1 to create, 1 to update, 1 to same** · 3 policy violation(s), 2 mandatory",
		"#### Replacements and deletions",
		"| replace | `kubernetes:kafka.strimzi.io/v1:KafkaTopic` | orders | metadata |",
		"| delete | `kubernetes:core/v1:ConfigMap` | legacy-config |",
		"#### Policy violations",
		"| mandatory | `kafka-topic-replication` | orders |",
		// Stack-level violations have no URN; pipes in messages are escaped.
		"| mandatory | `mesh-strict-mtls` | (stack) |", `sets mtls.mode STRICT \| see docs`,
		"| advisory | `cannot-verify-during-preview` | payment |",
		"#### Changes by resource type",
		"| Type | replace | delete | create | update | same |",
		"| `kubernetes:core/v1:ConfigMap` |  | 1 |",
		"| `kubernetes:kafka.strimzi.io/v1:KafkaTopic` | 1 |",
		"| `kubernetes:apps/v1:Deployment` |  |  | 1 | 1 |  |",
	)
	if strings.Contains(md, "pulumi:pulumi:Stack") {
		t.Errorf("the root stack resource is not a change:\n%s", md)
	}
	if strings.Contains(md, "#### Errors") {
		t.Errorf("warnings are not errors:\n%s", md)
	}
}

func TestSummaryWithoutChangesOrViolations(t *testing.T) {
	var s Summary
	if err := s.ReadPreview(strings.NewReader(`{"steps":[{"op":"same","urn":"urn:pulumi:dev::p::pulumi:pulumi:Stack::p-dev"}]}`)); err != nil {
		t.Fatal(err)
	}
	md := s.Markdown()
	if !strings.Contains(md, "✅ **no changes** · 0 policy violation(s), 0 mandatory") || strings.Contains(md, "####") {
		t.Errorf("got:\n%s", md)
	}
}

func TestErrorsAreListed(t *testing.T) {
	var s Summary
	err := s.ReadPreview(strings.NewReader(`{"diagnostics":[{"message":"error: preview failed: boom\n","severity":"error"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	inOrder(t, s.Markdown(), "❌", "#### Errors", "- error: preview failed: boom")
}

func TestRejectsMalformedInput(t *testing.T) {
	var s Summary
	if err := s.ReadPreview(strings.NewReader(`{"steps": [`)); err == nil {
		t.Error("truncated preview JSON accepted")
	}
	if err := s.ReadEvents(strings.NewReader("{\"sequence\":1}\nnot json\n"), true); err == nil ||
		!strings.Contains(err.Error(), "line 2") {
		t.Errorf("bad event line: err = %v", err)
	}
}

func TestSplitURN(t *testing.T) {
	tests := []struct{ urn, typ, name string }{
		{"urn:pulumi:dev::ordermesh::kubernetes:core/v1:Service::order", "kubernetes:core/v1:Service", "order"},
		{"urn:pulumi:dev::ordermesh::a:b:C$kubernetes:apps/v1:Deployment::order-v2", "kubernetes:apps/v1:Deployment", "order-v2"},
		{"not-a-urn", "", "not-a-urn"},
	}
	for _, tc := range tests {
		if typ, name := splitURN(tc.urn); typ != tc.typ || name != tc.name {
			t.Errorf("splitURN(%q) = %q, %q", tc.urn, typ, name)
		}
	}
}

func TestStepsFromEventLogAlone(t *testing.T) {
	log := `{"sequence":1,"timestamp":1,"resourcePreEvent":{"metadata":{"op":"create","urn":"urn:pulumi:dev::p::kubernetes:core/v1:Service::lb","type":"kubernetes:core/v1:Service","old":null,"new":null,"detailedDiff":null,"provider":""},"planning":true}}
{"sequence":2,"timestamp":1,"resourcePreEvent":{"metadata":{"op":"create","urn":"urn:pulumi:dev::p::kubernetes:core/v1:Service::lb","type":"kubernetes:core/v1:Service","old":null,"new":null,"detailedDiff":null,"provider":""}}}
{"sequence":3,"timestamp":1,"resourcePreEvent":{"metadata":{"op":"delete","urn":"urn:pulumi:dev::p::kubernetes:core/v1:Secret::old","type":"kubernetes:core/v1:Secret","old":null,"new":null,"detailedDiff":null,"provider":""}}}
{"sequence":4,"timestamp":1,"diagnosticEvent":{"message":"error: preview failed\n","color":"never","severity":"error"}}
`
	var s Summary
	if err := s.ReadEvents(strings.NewReader(log), true); err != nil {
		t.Fatal(err)
	}
	inOrder(t, s.Markdown(), "❌ **1 to delete, 1 to create**", "#### Errors", "error: preview failed",
		"| delete | `kubernetes:core/v1:Secret` | old |")
}

// smoke-stream.json is real output of pulumi v3.274.1 (`PULUMI_ENABLE_STREAMING_JSON_PREVIEW=true pulumi
// preview --json` with this pack) for a program with one component: each resource appears in a
// resourcePreEvent and a resOutputsEvent, and policy summary events must not count as violations.
func TestRealStreamedPreview(t *testing.T) {
	md := summarize(t, "", "smoke-stream.json")
	inOrder(t, md, "✅ **1 to create** · 0 policy violation(s), 0 mandatory", "| `ordermesh:test:Smoke` | 1 |")
}

// broken-stream.json is real output of pulumi v3.274.1 for policies/testdata/broken (render mode, prod
// policy config): nine creates and six mandatory violations of four rules.
func TestRealStreamedPreviewWithViolations(t *testing.T) {
	md := summarize(t, "", "broken-stream.json")
	inOrder(t, md,
		"❌ **9 to create** · 6 policy violation(s), 6 mandatory",
		"#### Errors", "- preview failed",
		"#### Policy violations",
		"| mandatory | `canary-weights-sum-100` | broken-canary | [canary-weights-sum-100] VirtualService \"broken-canary\": http[0] \"canary\" weights 90+20 sum to 110, not 100<br>Remediation:",
		"| mandatory | `kafka-topic-replication` | broken-topic |",
		"| mandatory | `service-type-restricted` | broken-lb |",
		"| mandatory | `workload-resources` | broken-app |",
		"#### Changes by resource type",
		"| `kubernetes:networking.k8s.io/v1:NetworkPolicy` | 2 |",
	)
	if strings.Contains(md, "Weighted routes of every VirtualService") {
		t.Errorf("policy description not trimmed:\n%s", md)
	}
}
