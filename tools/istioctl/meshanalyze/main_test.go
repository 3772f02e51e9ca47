package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	routeToOrder = `apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: order, namespace: orders}
spec:
  hosts: [order.orders.svc.cluster.local]
  http: [{route: [{destination: {host: order.orders.svc.cluster.local}}]}]
`
	orderService = `apiVersion: v1
kind: Service
metadata: {name: order, namespace: orders}
spec:
  selector: {app: order}
  ports: [{name: grpc, port: 8080}]
`
	orderPolicy = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: order, namespace: orders}
spec:
  selector: {matchLabels: {app: order}}
  rules: [{from: [{source: {principals: [cluster.local/ns/istio-ingress/sa/istio-ingressgateway]}}]}]
`
	// Sidecar injection puts the namespace's pods in the mesh.
	ordersNamespace = `apiVersion: v1
kind: Namespace
metadata: {name: orders, labels: {istio-injection: enabled}}
`
	orderDeployment = `apiVersion: apps/v1
kind: Deployment
metadata: {name: order, namespace: orders}
spec:
  selector: {matchLabels: {app: order}}
  template:
    metadata: {labels: {app: order}}
    spec: {containers: [{name: order, image: order:1}]}
`
)

func TestRunSeesServicesAndPodsThatFileModeDrops(t *testing.T) {
	for _, tt := range []struct {
		name      string
		files     []string
		args      []string
		wantCode  int
		wantOut   string
		wantNoOut string
	}{
		{name: "a route to a host without Service fails", files: []string{routeToOrder}, wantCode: exitFindings, wantOut: `Referenced host not found: "order.orders.svc.cluster.local"`},
		{name: "the rendered Service satisfies it", files: []string{routeToOrder, orderService}, wantCode: 0},
		{name: "a policy without pods selects no workload", files: []string{ordersNamespace, orderService, orderPolicy, orderDeployment}, wantOut: "No matching workloads"},
		{name: "pods made from Deployments are selected", files: []string{ordersNamespace, orderService, orderPolicy, orderDeployment}, args: []string{"-pods-from-deployments"}, wantNoOut: "No matching workloads"},
		{name: "a warning fails at threshold Warning", files: []string{orderService, orderPolicy}, args: []string{"-failure-threshold", "Warning"}, wantCode: exitFindings},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for i, f := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, string(rune('a'+i))+".yaml"), []byte(f), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			var out, errOut bytes.Buffer
			code, err := run(append(tt.args, dir), &out, &errOut)
			if code != tt.wantCode {
				t.Fatalf("exit %d (err %v), want %d; output:\n%s", code, err, tt.wantCode, out.String())
			}
			if tt.wantOut != "" && !strings.Contains(out.String(), tt.wantOut) {
				t.Errorf("output does not contain %q:\n%s", tt.wantOut, out.String())
			}
			if tt.wantNoOut != "" && strings.Contains(out.String(), tt.wantNoOut) {
				t.Errorf("output contains %q:\n%s", tt.wantNoOut, out.String())
			}
		})
	}
}
