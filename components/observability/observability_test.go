package observability

import (
	"encoding/json"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"

	"github.com/ordermesh/ordermesh/components/internal/pulumimock"
	"github.com/ordermesh/ordermesh/components/versions"
	"github.com/ordermesh/ordermesh/components/versions/crdcheck"
)

type (
	recorded = pulumimock.Resource
	mocks    struct{ pulumimock.Monitor }
)

func devArgs() *Args {
	return &Args{
		AppNamespaces: []string{"orders"},
		SLOs:          SLOs{SagaSuccessRatio: 0.9, OrderAPIP99: 2 * time.Second, ConsumerLag: 10000, DeadLetterPerMinute: 10, For: 10 * time.Minute},
	}
}

func prodArgs() *Args {
	return &Args{
		AppNamespaces:        []string{"orders"},
		PrometheusReplicas:   2,
		AlertmanagerReplicas: 3,
		CollectorReplicas:    2,
		CollectorPort:        14317,
		TracingBackend:       TracingTempo,
		PrometheusRetention:  "15d",
		GrafanaAdminPassword: pulumi.ToSecret(pulumi.String("s3cret")).(pulumi.StringOutput),
		SLOs:                 SLOs{SagaSuccessRatio: 0.995, OrderAPIP99: 300 * time.Millisecond, ConsumerLag: 500, DeadLetterPerMinute: 0.5, For: 5 * time.Minute},
	}
}

func run(t *testing.T, args *Args) (*mocks, *Observability, error) {
	t.Helper()
	m := &mocks{}
	var o *Observability
	err := pulumi.RunErr(func(ctx *pulumi.Context) error {
		var err error
		o, err = NewObservability(ctx, "obs", args)
		return err
	}, pulumi.WithMocks("ordermesh", "test", m))
	return m, o, err
}

func TestNewObservabilityInstallsPinnedCharts(t *testing.T) {
	m, _, err := run(t, prodArgs())
	if err != nil {
		t.Fatal(err)
	}
	charts := m.OfType("kubernetes:helm.sh/v4:Chart")
	pins := map[string]versions.Chart{}
	for _, c := range []versions.Chart{versions.KubePrometheusStack, versions.Tempo, versions.OTelCollector} {
		pins[c.Name] = c
	}
	if len(charts) != len(pins) {
		t.Fatalf("want %d charts, got %d", len(pins), len(charts))
	}
	for _, c := range charts {
		in := c.Inputs
		pin, ok := pins[in["chart"].(string)]
		if !ok || in["version"] != pin.Version || in["repositoryOpts"].(map[string]any)["repo"] != pin.Repo || in["namespace"] != "observability" {
			t.Errorf("chart %s = %v", c.Name, in)
		}
		values := in["values"].(map[string]any)
		switch in["chart"] {
		case "kube-prometheus-stack":
			ps := values["prometheus"].(map[string]any)["prometheusSpec"].(map[string]any)
			if ps["replicas"] != 2.0 || ps["retention"] != "15d" || ps["ruleSelectorNilUsesHelmValues"] != false || ps["serviceMonitorSelectorNilUsesHelmValues"] != false {
				t.Errorf("prometheusSpec = %v", ps)
			}
			sc := values["grafana"].(map[string]any)["sidecar"].(map[string]any)["dashboards"].(map[string]any)
			if sc["label"] != DashboardLabel || sc["enabled"] != true {
				t.Errorf("grafana sidecar = %v", sc)
			}
			// The admin password must stay a Pulumi secret.
			pw := c.Props["values"].ObjectValue()["grafana"].ObjectValue()["adminPassword"]
			if !pw.ContainsSecrets() {
				t.Errorf("grafana adminPassword is not secret: %v", pw)
			}
		case "opentelemetry-collector":
			if values["mode"] != "deployment" || values["image"].(map[string]any)["repository"] == "" || values["replicaCount"] != 2.0 {
				t.Errorf("collector values = %v", values)
			}
			exp := values["config"].(map[string]any)["exporters"].(map[string]any)["otlp/traces"].(map[string]any)
			if exp["endpoint"] != "tempo.observability.svc.cluster.local:4317" {
				t.Errorf("collector exporter = %v", exp)
			}
			if p := values["ports"].(map[string]any)["otlp"].(map[string]any); p["servicePort"] != 14317.0 {
				t.Errorf("collector otlp port = %v", p)
			}
		}
	}
}

func TestNewObservabilityDefaultsToJaeger(t *testing.T) {
	m, _, err := run(t, devArgs())
	if err != nil {
		t.Fatal(err)
	}
	var charts []string
	for _, c := range m.OfType("kubernetes:helm.sh/v4:Chart") {
		in := c.Inputs
		charts = append(charts, in["chart"].(string))
		if in["chart"] == "kube-prometheus-stack" {
			ds := in["values"].(map[string]any)["grafana"].(map[string]any)["additionalDataSources"].([]any)[0].(map[string]any)
			if ds["type"] != "jaeger" || ds["url"] != "http://jaeger.observability.svc.cluster.local:16686" {
				t.Errorf("trace data source = %v", ds)
			}
		}
		if in["chart"] == versions.Jaeger.Name && in["version"] != versions.Jaeger.Version {
			t.Errorf("jaeger version = %v", in["version"])
		}
	}
	// Registration order is not deterministic under the mock monitor.
	sort.Strings(charts)
	if strings.Join(charts, ",") != "jaeger,kube-prometheus-stack,opentelemetry-collector" {
		t.Errorf("charts = %v", charts)
	}
}

func TestNewObservabilityWithoutOperatorsCreatesNoCharts(t *testing.T) {
	off := false
	args := devArgs()
	args.InstallOperators = &off
	m, _, err := run(t, args)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Resources {
		if strings.Contains(r.Type, "helm") {
			t.Errorf("chart %s created with InstallOperators=false", r.Name)
		}
	}
	if len(m.OfType("kubernetes:monitoring.coreos.com/v1:PrometheusRule")) != 1 {
		t.Error("PrometheusRule missing")
	}
}

func TestDashboardsAreLabelledConfigMapsWithValidJSON(t *testing.T) {
	m, o, err := run(t, devArgs())
	if err != nil {
		t.Fatal(err)
	}
	cms := m.OfType("kubernetes:core/v1:ConfigMap")
	if len(cms) != 4 {
		t.Fatalf("want 4 dashboards, got %d", len(cms))
	}
	titles := map[string]bool{}
	for _, cm := range cms {
		in := cm.Inputs
		md := in["metadata"].(map[string]any)
		if md["labels"].(map[string]any)[DashboardLabel] != "1" {
			t.Errorf("%s lacks the %s label", cm.Name, DashboardLabel)
		}
		for key, js := range in["data"].(map[string]any) {
			var d struct {
				UID    string `json:"uid"`
				Title  string `json:"title"`
				Panels []struct {
					Title   string `json:"title"`
					Targets []struct {
						Expr string `json:"expr"`
					} `json:"targets"`
				} `json:"panels"`
			}
			if err := json.Unmarshal([]byte(js.(string)), &d); err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if key != d.UID+".json" || len(d.Panels) < 4 {
				t.Errorf("%s: uid %q, %d panels", key, d.UID, len(d.Panels))
			}
			for _, p := range d.Panels {
				if len(p.Targets) == 0 || p.Targets[0].Expr == "" {
					t.Errorf("%s panel %q has no query", d.UID, p.Title)
				}
			}
			titles[d.Title] = true
		}
	}
	for _, want := range []string{"Order flow (RED)", "Saga outcomes", "Kafka consumer lag", "Service mesh"} {
		if !titles[want] {
			t.Errorf("missing dashboard %q", want)
		}
	}
	ch := make(chan []string, 1)
	o.DashboardUIDs.ApplyT(func(v []string) []string { ch <- v; return v })
	if got := <-ch; len(got) != 4 {
		t.Errorf("DashboardUIDs = %v", got)
	}
}

func TestAlertRulesUseProfileThresholds(t *testing.T) {
	tests := []struct {
		name string
		args *Args
		want map[string][]string // alert -> substrings of expr, then "for"
	}{
		{"dev", devArgs(), map[string][]string{
			"OrderSagaSuccessRatioLow": {`outcome="completed"`, "< 0.9 and", "600s"},
			"OrderAPILatencyP99High":   {"histogram_quantile(0.99", `destination_service_name="order"`, "> 2000", "600s"},
			"KafkaConsumerLagHigh":     {`kafka_consumergroup_lag{namespace="kafka"}`, "> 10000", "600s"},
			"DeadLetterRateHigh":       {`topic=~".+\\.dlq"`, "* 60 > 10", "600s"},
		}},
		{"prod", prodArgs(), map[string][]string{
			"OrderSagaSuccessRatioLow": {"< 0.995 and"},
			"OrderAPILatencyP99High":   {"> 300"},
			"KafkaConsumerLagHigh":     {"> 500"},
			"DeadLetterRateHigh":       {"> 0.5", "300s"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, _, err := run(t, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			rules := m.OfType("kubernetes:monitoring.coreos.com/v1:PrometheusRule")
			if len(rules) != 1 {
				t.Fatalf("want 1 PrometheusRule, got %d", len(rules))
			}
			b, _ := json.Marshal(rules[0].Inputs["spec"])
			var spec prometheusRuleSpec
			if err := json.Unmarshal(b, &spec); err != nil {
				t.Fatal(err)
			}
			got := map[string]Rule{}
			for _, r := range spec.Groups[0].Rules {
				got[r.Alert] = r
				if strings.Contains(strings.ToLower(r.Expr), "cpu") {
					t.Errorf("%s alerts on CPU, not an SLI", r.Alert)
				}
			}
			for alert, subs := range tt.want {
				r, ok := got[alert]
				if !ok {
					t.Errorf("missing alert %s", alert)
					continue
				}
				for _, s := range subs {
					if !strings.Contains(r.Expr, s) && r.For != s {
						t.Errorf("%s: expr %q (for %s) lacks %q", alert, r.Expr, r.For, s)
					}
				}
			}
		})
	}
}

func TestNewObservabilityOutputs(t *testing.T) {
	_, o, err := run(t, devArgs())
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan string, 1)
	o.OTLPGRPCEndpoint.ApplyT(func(v string) string { ch <- v; return v })
	if got := <-ch; got != "otel-collector.observability.svc.cluster.local:4317" { // dev keeps the default port
		t.Errorf("OTLPGRPCEndpoint = %q", got)
	}
}

func TestNewObservabilityParentsEveryChild(t *testing.T) {
	m, _, err := run(t, devArgs())
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.Resources {
		if r.Type != "ordermesh:observability:Observability" && !strings.HasSuffix(r.Parent, "ordermesh:observability:Observability::obs") {
			t.Errorf("%s %s has parent %q", r.Type, r.Name, r.Parent)
		}
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	args := &Args{
		PrometheusRetention: "a week",
		TracingBackend:      "zipkin",
		Metrics:             AppMetrics{SagaOutcomes: "saga-outcomes", OutcomeLabel: "1x"},
		SLOs:                SLOs{SagaSuccessRatio: 1.5, ConsumerLag: -1, DeadLetterPerMinute: -2, For: 30 * time.Second},
	}
	_, err := Render(args)
	if err == nil {
		t.Fatal("want error")
	}
	for _, w := range []string{
		"AppNamespaces = []", `PrometheusRetention = "a week"`, `Metrics.SagaOutcomes = "saga-outcomes"`,
		`Metrics.OutcomeLabel = "1x"`, "SLOs.SagaSuccessRatio = 1.5", "SLOs.ConsumerLag = -1",
		"SLOs.DeadLetterPerMinute = -2", "SLOs.For = 30s", `TracingBackend = "zipkin"`,
	} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\nmissing %q", err, w)
		}
	}
	m, _, runErr := run(t, args)
	if runErr == nil || len(m.Resources) != 0 {
		t.Errorf("NewObservability: err=%v, %d resources", runErr, len(m.Resources))
	}
}

func TestRenderedResourcesMatchUpstreamCRDs(t *testing.T) {
	dir, err := crdcheck.DefaultDir()
	if err != nil {
		t.Fatal(err)
	}
	set, err := crdcheck.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for name, args := range map[string]*Args{"dev": devArgs(), "prod": prodArgs()} {
		t.Run(name, func(t *testing.T) {
			m, _, err := run(t, args)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, r := range m.Resources {
				if !strings.Contains(r.Type, "monitoring.coreos.com/") {
					continue
				}
				n++
				for _, e := range set.Validate(r.Inputs) {
					t.Errorf("%s: %v", r.Name, e)
				}
			}
			if n != 4 {
				t.Fatalf("want 4 monitoring resources, got %d", n)
			}
		})
	}
}
