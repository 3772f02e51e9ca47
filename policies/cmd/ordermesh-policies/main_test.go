package main

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/common/resource/plugin"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/emptypb"
	"google.golang.org/protobuf/types/known/structpb"
)

// These tests drive the built pack binary over the analyzer gRPC protocol in the order the Pulumi engine
// (v3.274.1, NewPolicyAnalyzer) does: start, read the port, Handshake, ConfigureStack, GetAnalyzerInfo,
// Configure, Analyze, AnalyzeStack.

var packBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "ordermesh-policies")
	if err != nil {
		panic(err)
	}
	packBinary = filepath.Join(dir, "ordermesh-policies")
	build := exec.Command("go", "build", "-o", packBinary, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// start launches the pack like the engine does (engine address as the only argument) and configures it for
// a stack.
func start(t *testing.T, stack string, config map[string]string, dryRun bool) pulumirpc.AnalyzerClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, packBinary, "127.0.0.1:1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	port, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading port: %v", err)
	}
	conn, err := grpc.NewClient("127.0.0.1:"+strings.TrimSpace(port), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	c := pulumirpc.NewAnalyzerClient(conn)
	dir := filepath.Dir(packBinary)
	if _, err := c.Handshake(ctx, &pulumirpc.AnalyzerHandshakeRequest{RootDirectory: &dir, ProgramDirectory: &dir}); err != nil {
		t.Fatalf("Handshake: %v", err)
	}
	if _, err := c.ConfigureStack(ctx, &pulumirpc.AnalyzerStackConfigureRequest{
		Stack: stack, Project: "ordermesh", Config: config, DryRun: dryRun,
	}); err != nil {
		t.Fatalf("ConfigureStack: %v", err)
	}
	return c
}

func levels(t *testing.T, c pulumirpc.AnalyzerClient) map[string]pulumirpc.EnforcementLevel {
	t.Helper()
	info, err := c.GetAnalyzerInfo(context.Background(), &emptypb.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if info.GetName() != "ordermesh-policies" || !info.GetSupportsConfig() {
		t.Errorf("analyzer info %v", info)
	}
	out := map[string]pulumirpc.EnforcementLevel{}
	for _, p := range info.GetPolicies() {
		out[p.GetName()] = p.GetEnforcementLevel()
	}
	return out
}

func props(t *testing.T, m map[string]any) *structpb.Struct {
	t.Helper()
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func deployment(limits bool, replicas any) map[string]any {
	res := map[string]any{"requests": map[string]any{"cpu": "50m", "memory": "64Mi"}}
	if limits {
		res["limits"] = map[string]any{"cpu": "1", "memory": "128Mi"}
	}
	return map[string]any{
		"apiVersion": "apps/v1", "kind": "Deployment",
		"metadata": map[string]any{"name": "order", "namespace": "orders"},
		"spec": map[string]any{
			"replicas": replicas,
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "order"}},
				"spec": map[string]any{"containers": []any{map[string]any{
					"name": "app", "image": "order:1.0.0", "resources": res,
				}}},
			},
		},
	}
}

type diag struct {
	policy string
	level  pulumirpc.EnforcementLevel
	msg    string
}

func analyze(t *testing.T, c pulumirpc.AnalyzerClient, typ string, m map[string]any) []diag {
	t.Helper()
	resp, err := c.Analyze(context.Background(), &pulumirpc.AnalyzeRequest{
		Type: typ, Urn: "urn:pulumi:s::ordermesh::" + typ + "::x", Name: "x", Properties: props(t, m),
	})
	if err != nil {
		t.Fatalf("Analyze: %v", err)
	}
	return diags(resp)
}

func diags(resp *pulumirpc.AnalyzeResponse) []diag {
	var out []diag
	for _, d := range resp.GetDiagnostics() {
		out = append(out, diag{d.GetPolicyName(), d.GetEnforcementLevel(), d.GetMessage()})
	}
	return out
}

func has(ds []diag, policy string, level pulumirpc.EnforcementLevel, msg string) bool {
	return slices.ContainsFunc(ds, func(d diag) bool {
		return d.policy == policy && d.level == level && strings.Contains(d.msg, msg)
	})
}

func TestProdStackMakesSafetyRulesMandatory(t *testing.T) {
	c := start(t, "ci", map[string]string{"ordermesh:profile": "prod"}, true)
	l := levels(t, c)
	if l["workload-resources"] != pulumirpc.EnforcementLevel_MANDATORY || l["cannot-verify-during-preview"] != pulumirpc.EnforcementLevel_ADVISORY {
		t.Errorf("levels %v", l)
	}
	ds := analyze(t, c, "kubernetes:apps/v1:Deployment", deployment(false, 1))
	if !has(ds, "workload-resources", pulumirpc.EnforcementLevel_MANDATORY, `container "app": resources.limits.memory is not set`) {
		t.Errorf("diagnostics %v", ds)
	}

	// The engine sends every policy's reconciled config; a per-stack file may lower a rule to advisory.
	if _, err := c.Configure(context.Background(), &pulumirpc.ConfigureAnalyzerRequest{PolicyConfig: map[string]*pulumirpc.PolicyConfig{
		"workload-resources": {EnforcementLevel: pulumirpc.EnforcementLevel_ADVISORY, Properties: props(t, nil)},
		"kafka-topic-replication": {EnforcementLevel: pulumirpc.EnforcementLevel_MANDATORY,
			Properties: props(t, map[string]any{"minReplicas": 3, "minInSyncReplicas": 2})},
	}}); err != nil {
		t.Fatalf("Configure: %v", err)
	}
	ds = analyze(t, c, "kubernetes:apps/v1:Deployment", deployment(false, 1))
	if !has(ds, "workload-resources", pulumirpc.EnforcementLevel_ADVISORY, "resources.limits.cpu") {
		t.Errorf("after Configure: %v", ds)
	}

	// Unknown during preview: an advisory from cannot-verify, nothing from the rule.
	ds = analyze(t, c, "kubernetes:kafka.strimzi.io/v1:KafkaTopic", map[string]any{
		"metadata": map[string]any{"name": "orders"},
		"spec":     map[string]any{"replicas": plugin.UnknownStringValue, "config": map[string]any{"min.insync.replicas": 2}},
	})
	if len(ds) != 1 || !has(ds, "cannot-verify-during-preview", pulumirpc.EnforcementLevel_ADVISORY,
		"[kafka-topic-replication] cannot verify during preview: spec.replicas unknown") {
		t.Errorf("unknown replicas: %v", ds)
	}

	resp, err := c.AnalyzeStack(context.Background(), &pulumirpc.AnalyzeStackRequest{Resources: []*pulumirpc.AnalyzerResource{{
		Type: "kubernetes:apps/v1:Deployment", Urn: "urn:dep", Name: "order", Properties: props(t, deployment(true, 3)),
	}}})
	if err != nil {
		t.Fatalf("AnalyzeStack: %v", err)
	}
	if ds := diags(resp); !has(ds, "replicated-deployment-pdb", pulumirpc.EnforcementLevel_MANDATORY, "no PodDisruptionBudget") {
		t.Errorf("stack diagnostics %v", ds)
	}
}

func TestDevStackKeepsSafetyRulesAdvisory(t *testing.T) {
	c := start(t, "dev", nil, true)
	l := levels(t, c)
	if l["workload-resources"] != pulumirpc.EnforcementLevel_ADVISORY || l["canary-weights-sum-100"] != pulumirpc.EnforcementLevel_MANDATORY {
		t.Errorf("levels %v", l)
	}
}

func TestUpdateFailsClosedOnUnknown(t *testing.T) {
	c := start(t, "prod", nil, false)
	ds := analyze(t, c, "kubernetes:kafka.strimzi.io/v1:KafkaTopic", map[string]any{
		"metadata": map[string]any{"name": "orders"},
		"spec":     map[string]any{"replicas": plugin.UnknownStringValue, "config": map[string]any{"min.insync.replicas": 2}},
	})
	if len(ds) != 1 || !has(ds, "kafka-topic-replication", pulumirpc.EnforcementLevel_MANDATORY, "spec.replicas is unknown during the update") {
		t.Errorf("diagnostics %v", ds)
	}
}
