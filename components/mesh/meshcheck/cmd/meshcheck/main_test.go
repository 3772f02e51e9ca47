package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const orderPolicy = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: order, namespace: %NS%}
spec:
  selector: {matchLabels: {app.kubernetes.io/name: order}}
  rules:
  - from: [{source: {principals: [cluster.local/ns/%GW%/sa/istio-ingressgateway]}}]
`

func TestRunUsesTheStackFilesCallGraph(t *testing.T) {
	stackFile := filepath.Join(t.TempDir(), "Pulumi.test.yaml")
	if err := os.WriteFile(stackFile, []byte("config:\n  ordermesh:profile: prod\n  ordermesh:namespaces:\n    apps: shop\n    ingress: edge\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, ns, gw, wantErr string
	}{
		{name: "gateway principal of the stack's ingress namespace passes", ns: "shop", gw: "edge"},
		{name: "gateway principal of another namespace fails", ns: "shop", gw: "istio-ingress", wantErr: "not a declared caller of shop/order"},
		{name: "empty directory fails", wantErr: "no Kubernetes objects"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.ns != "" {
				body := strings.NewReplacer("%NS%", tt.ns, "%GW%", tt.gw).Replace(orderPolicy)
				if err := os.WriteFile(filepath.Join(dir, "ap.yaml"), []byte(body), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := run([]string{"-stack-file", stackFile, dir})
			if tt.wantErr == "" && err != nil {
				t.Fatalf("run: %v", err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("run err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
