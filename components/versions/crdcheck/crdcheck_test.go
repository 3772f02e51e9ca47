package crdcheck

import (
	"strings"
	"testing"
)

func loadShared(t *testing.T) *Set {
	t.Helper()
	dir, err := DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	s, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestValidateReportsSchemaViolations(t *testing.T) {
	s := loadShared(t)
	tests := []struct {
		name    string
		obj     map[string]any
		wantErr string // substring; empty means valid
	}{
		{
			name: "valid topic",
			obj: map[string]any{
				"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic",
				"metadata": map[string]any{"name": "t"},
				"spec":     map[string]any{"partitions": 3.0, "replicas": 1.0, "config": map[string]any{"retention.ms": 1.0}},
			},
		},
		{
			name: "unknown field",
			obj: map[string]any{
				"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic",
				"spec": map[string]any{"partitionz": 3.0},
			},
			wantErr: "KafkaTopic.spec.partitionz: unknown field",
		},
		{
			name: "wrong type",
			obj: map[string]any{
				"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic",
				"spec": map[string]any{"partitions": "three"},
			},
			wantErr: "want integer",
		},
		{
			name: "enum",
			obj: map[string]any{
				"apiVersion": "security.istio.io/v1", "kind": "PeerAuthentication",
				"spec": map[string]any{"mtls": map[string]any{"mode": "STRICTEST"}},
			},
			wantErr: "not in enum",
		},
		{
			name: "pattern",
			obj: map[string]any{
				"apiVersion": "monitoring.coreos.com/v1", "kind": "PrometheusRule",
				"spec": map[string]any{"groups": []any{map[string]any{"name": "g", "rules": []any{
					map[string]any{"alert": "A", "expr": "up == 0", "for": "5 minutes"},
				}}}},
			},
			wantErr: "does not match pattern",
		},
		{
			name:    "unknown kind",
			obj:     map[string]any{"apiVersion": "example.com/v1", "kind": "Nope"},
			wantErr: "no served CRD",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := s.Validate(tt.obj)
			if tt.wantErr == "" {
				if len(errs) != 0 {
					t.Fatalf("want valid, got %v", errs)
				}
				return
			}
			for _, e := range errs {
				if strings.Contains(e.Error(), tt.wantErr) {
					return
				}
			}
			t.Fatalf("want error containing %q, got %v", tt.wantErr, errs)
		})
	}
}
