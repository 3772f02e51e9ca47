package main

import (
	"testing"

	"github.com/ordermesh/ordermesh/stacks"
)

func TestServicesFindThePlatformThroughTheirEnvironment(t *testing.T) {
	cfg, err := stacks.Resolve("prod", map[string]string{
		"ordermesh:kafka":      `{"clusterName": "events", "port": 9094}`,
		"ordermesh:namespaces": `{"kafka": "streaming"}`,
	})
	if err != nil {
		t.Fatal(err)
	}
	env := serviceEnv(cfg)
	for _, name := range cfg.SortedServiceNames() {
		got := map[string]string{}
		for _, e := range env[name] {
			got[e.Name] = e.Value
		}
		if got["ORDERMESH_KAFKA_BROKERS"] != "events-kafka-bootstrap.streaming.svc:9094" {
			t.Errorf("%s: ORDERMESH_KAFKA_BROKERS = %q", name, got["ORDERMESH_KAFKA_BROKERS"])
		}
		if got["OTEL_EXPORTER_OTLP_ENDPOINT"] != "http://otel-collector.observability.svc.cluster.local:4317" {
			t.Errorf("%s: OTEL_EXPORTER_OTLP_ENDPOINT = %q", name, got["OTEL_EXPORTER_OTLP_ENDPOINT"])
		}
	}
}

func TestPublicRouteGetsTheOrderCanaryWeight(t *testing.T) {
	for _, tc := range []struct {
		profile string
		want    int
	}{{"dev", 0}, {"prod", 5}} {
		cfg, err := stacks.Resolve(tc.profile, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := meshArgs(cfg).OrderAPI.CanaryWeight; got != tc.want {
			t.Errorf("%s: public route canary weight = %d, want %d", tc.profile, got, tc.want)
		}
	}
}
