package observability

import (
	"fmt"
	"strings"
)

// PrometheusDatasource is the uid kube-prometheus-stack gives its
// Prometheus data source in Grafana.
var PrometheusDatasource = DatasourceRef{Type: "prometheus", UID: "prometheus"}

// Dashboards returns the four ordermesh dashboards: order flow RED, saga
// outcomes, Kafka consumer lag and the mesh. Call after applyDefaults.
func (a *Args) Dashboards() []Dashboard {
	ds := PrometheusDatasource
	ns := a.appNamespaceRegex()
	order := fmt.Sprintf(`reporter="destination",destination_service_name=%q,destination_service_namespace=~%q`, a.OrderService, ns)
	apps := fmt.Sprintf(`reporter="destination",destination_service_namespace=~%q`, ns)
	m := a.Metrics
	ok := fmt.Sprintf(`%s=%q`, m.OutcomeLabel, m.SuccessOutcome)
	kafka := fmt.Sprintf(`namespace=%q`, a.KafkaNamespace)
	p99ms := float64(a.SLOs.OrderAPIP99.Milliseconds())
	ratio := a.SLOs.SagaSuccessRatio
	lag := float64(a.SLOs.ConsumerLag)
	dlq := a.SLOs.DeadLetterPerMinute

	return []Dashboard{
		build("ordermesh-order-flow", "Order flow (RED)", []string{"red"}, ds, nil, []panelSpec{
			{title: "Requests per second by service", typ: "timeseries", unit: "reqps", queries: []query{
				{fmt.Sprintf(`sum by (destination_service_name) (rate(istio_requests_total{%s}[5m]))`, apps), "{{destination_service_name}}"},
			}},
			{title: "Error ratio by service (5xx)", typ: "timeseries", unit: "percentunit", queries: []query{
				{fmt.Sprintf(`sum by (destination_service_name) (rate(istio_requests_total{%s,response_code=~"5.."}[5m])) / sum by (destination_service_name) (rate(istio_requests_total{%s}[5m]))`, apps, apps), "{{destination_service_name}}"},
			}},
			{title: "Order API latency", typ: "timeseries", unit: "ms", threshold: &p99ms, queries: []query{
				{fmt.Sprintf(`histogram_quantile(0.50, sum by (le) (rate(istio_request_duration_milliseconds_bucket{%s}[5m])))`, order), "p50"},
				{fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{%s}[5m])))`, order), "p99"},
			}},
			{title: "Orders created per second", typ: "timeseries", unit: "ops", queries: []query{
				{fmt.Sprintf(`sum(rate(%s[5m]))`, m.OrdersCreated), "created"},
			}},
		}),
		build("ordermesh-saga", "Saga outcomes", []string{"saga"}, ds, nil, []panelSpec{
			{title: "Sagas finished per second by outcome", typ: "timeseries", unit: "ops", queries: []query{
				{fmt.Sprintf(`sum by (%s) (rate(%s[5m]))`, m.OutcomeLabel, m.SagaOutcomes), "{{" + m.OutcomeLabel + "}}"},
			}},
			{title: "Saga success ratio", typ: "stat", unit: "percentunit", threshold: &ratio, lowIsBad: true, queries: []query{
				{fmt.Sprintf(`sum(rate(%s{%s}[10m])) / sum(rate(%s[10m]))`, m.SagaOutcomes, ok, m.SagaOutcomes), "success"},
			}},
			{title: "Saga duration", typ: "timeseries", unit: "s", queries: []query{
				{fmt.Sprintf(`histogram_quantile(0.50, sum by (le) (rate(%s_bucket[5m])))`, m.SagaDuration), "p50"},
				{fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(%s_bucket[5m])))`, m.SagaDuration), "p99"},
			}},
			{title: "Compensated or failed sagas (1h)", typ: "stat", unit: "short", queries: []query{
				{fmt.Sprintf(`sum(increase(%s{%s!=%q}[1h]))`, m.SagaOutcomes, m.OutcomeLabel, m.SuccessOutcome), "not completed"},
			}},
		}),
		build("ordermesh-kafka-lag", "Kafka consumer lag", []string{"kafka"}, ds, nil, []panelSpec{
			{title: "Consumer lag by group and topic", typ: "timeseries", unit: "short", threshold: &lag, queries: []query{
				{fmt.Sprintf(`sum by (consumergroup, topic) (kafka_consumergroup_lag{%s})`, kafka), "{{consumergroup}} / {{topic}}"},
			}},
			{title: "Messages in per second by topic", typ: "timeseries", unit: "short", queries: []query{
				{fmt.Sprintf(`sum by (topic) (rate(kafka_topic_partition_current_offset{%s}[5m]))`, kafka), "{{topic}}"},
			}},
			{title: "Dead-lettered messages per minute", typ: "timeseries", unit: "short", threshold: &dlq, queries: []query{
				{a.deadLetterRateExpr(), "{{topic}}"},
			}},
			{title: "Under-replicated partitions", typ: "stat", unit: "short", queries: []query{
				{fmt.Sprintf(`sum(kafka_server_replicamanager_underreplicatedpartitions{%s})`, kafka), "under-replicated"},
			}},
		}),
		build("ordermesh-mesh", "Service mesh", []string{"istio"}, ds, nil, []panelSpec{
			{title: "Requests per second, source to destination", typ: "timeseries", unit: "reqps", queries: []query{
				{fmt.Sprintf(`sum by (source_workload, destination_service_name) (rate(istio_requests_total{%s}[5m]))`, apps), "{{source_workload}} -> {{destination_service_name}}"},
			}},
			{title: "Share of requests over mutual TLS", typ: "stat", unit: "percentunit", queries: []query{
				{fmt.Sprintf(`sum(rate(istio_requests_total{%s,connection_security_policy="mutual_tls"}[5m])) / sum(rate(istio_requests_total{%s}[5m]))`, apps, apps), "mTLS"},
			}},
			{title: "p99 latency by service", typ: "timeseries", unit: "ms", queries: []query{
				{fmt.Sprintf(`histogram_quantile(0.99, sum by (le, destination_service_name) (rate(istio_request_duration_milliseconds_bucket{%s}[5m])))`, apps), "{{destination_service_name}}"},
			}},
			{title: "Denied requests (403) by service", typ: "timeseries", unit: "reqps", queries: []query{
				{fmt.Sprintf(`sum by (destination_service_name) (rate(istio_requests_total{%s,response_code="403"}[5m]))`, apps), "{{destination_service_name}}"},
			}},
		}),
	}
}

func (a *Args) appNamespaceRegex() string { return strings.Join(a.AppNamespaces, "|") }

// deadLetterRateExpr is messages per minute appended to dead-letter topics,
// from the Kafka exporter's end offsets (no service cooperation needed).
func (a *Args) deadLetterRateExpr() string {
	re := ".+" + strings.ReplaceAll(a.DeadLetterSuffix, ".", `\.`)
	return fmt.Sprintf(`sum by (topic) (rate(kafka_topic_partition_current_offset{namespace=%q,topic=~%q}[5m])) * 60`, a.KafkaNamespace, re)
}
