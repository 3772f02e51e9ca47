package observability

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/pulumi/pulumi/sdk/v3/go/pulumi"
)

// Defaults applied by Args.applyDefaults.
const (
	DefaultNamespace          = "observability"
	DefaultKafkaNamespace     = "kafka"
	DefaultIstioNamespace     = "istio-system"
	DefaultOrderService       = "order"
	DefaultDeadLetterSuffix   = ".dlq"
	DefaultSagaOutcomesMetric = "ordermesh_saga_outcomes_total"
	DefaultSagaDurationMetric = "ordermesh_saga_duration_seconds"
	DefaultOrdersCreated      = "ordermesh_orders_created_total"
	DefaultOutcomeLabel       = "outcome"
	DefaultSuccessOutcome     = "completed"
	DefaultRetention          = "7d"
	DashboardLabel            = "grafana_dashboard"
	TracingJaeger             = "jaeger"
	TracingTempo              = "tempo"
)

// Args configures the observability stack. Thresholds and sizes are
// explicit; the stack profile decides them.
type Args struct {
	// Namespace holds Prometheus, Alertmanager, Grafana, the collector,
	// Jaeger, dashboards and rules. Default "observability".
	Namespace string
	// InstallOperators installs kube-prometheus-stack, Jaeger and the
	// OpenTelemetry Collector charts. nil means true. When false (they
	// already exist, offline tests) only dashboards, monitors and rules
	// are created.
	InstallOperators *bool

	// PrometheusReplicas. Default 1.
	PrometheusReplicas int
	// PrometheusRetention, a Prometheus duration like "7d". Default "7d".
	PrometheusRetention string
	// AlertmanagerReplicas. Default 1.
	AlertmanagerReplicas int
	// GrafanaAdminPassword, a Pulumi secret. Nil lets the chart generate one.
	GrafanaAdminPassword pulumi.StringInput

	// CollectorReplicas of the OpenTelemetry Collector. Default 1.
	CollectorReplicas int
	// CollectorPort is the collector Service's OTLP gRPC port. Default 4317.
	CollectorPort int
	// TracingBackend stores traces: "jaeger" (default, Jaeger v2) or "tempo".
	TracingBackend string

	// AppNamespaces hold the order services (their order API latency and
	// RED metrics come from the mesh). At least one.
	AppNamespaces []string
	// KafkaNamespace holds the Strimzi cluster to scrape. Default "kafka".
	KafkaNamespace string
	// IstioNamespace holds istiod. Default "istio-system".
	IstioNamespace string
	// OrderService is the Kubernetes Service of the order API. Default "order".
	OrderService string
	// DeadLetterSuffix ends every dead-letter topic name. Default ".dlq".
	DeadLetterSuffix string

	// Metrics names the business metrics the services export.
	Metrics AppMetrics
	// SLOs are the alert thresholds.
	SLOs SLOs
}

// AppMetrics names the services' business metrics.
type AppMetrics struct {
	// SagaOutcomes is a counter of finished sagas labelled by OutcomeLabel.
	// Default "ordermesh_saga_outcomes_total".
	SagaOutcomes string
	// SagaDuration is a histogram (without _bucket) of saga durations in
	// seconds. Default "ordermesh_saga_duration_seconds".
	SagaDuration string
	// OrdersCreated is a counter. Default "ordermesh_orders_created_total".
	OrdersCreated string
	// OutcomeLabel is the outcome label name. Default "outcome".
	OutcomeLabel string
	// SuccessOutcome is the label value of a successful saga. Default
	// "completed".
	SuccessOutcome string
}

// SLOs are alert thresholds. Zero values take the defaults noted.
type SLOs struct {
	// SagaSuccessRatio is the lowest acceptable share of sagas completing,
	// in (0,1]. Default 0.99.
	SagaSuccessRatio float64
	// OrderAPIP99 is the highest acceptable p99 latency of the order API.
	// Default 500ms.
	OrderAPIP99 time.Duration
	// ConsumerLag is the highest acceptable lag (messages) of any consumer
	// group on any topic. Default 1000.
	ConsumerLag int
	// DeadLetterPerMinute is the highest acceptable rate of messages
	// parked in dead-letter topics. Default 1; negative is invalid.
	DeadLetterPerMinute float64
	// For is how long a condition must hold before alerting. Default 5m.
	For time.Duration
}

var (
	dnsLabelRE   = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`)
	metricNameRE = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRE  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
	promDurRE    = regexp.MustCompile(`^([0-9]+(y|w|d|h|m|s|ms))+$`)
	topicCharsRE = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)
)

func (a *Args) installOperators() bool { return a.InstallOperators == nil || *a.InstallOperators }

func (a *Args) applyDefaults() {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&a.Namespace, DefaultNamespace)
	def(&a.KafkaNamespace, DefaultKafkaNamespace)
	def(&a.IstioNamespace, DefaultIstioNamespace)
	def(&a.OrderService, DefaultOrderService)
	def(&a.DeadLetterSuffix, DefaultDeadLetterSuffix)
	def(&a.PrometheusRetention, DefaultRetention)
	def(&a.TracingBackend, TracingJaeger)
	def(&a.Metrics.SagaOutcomes, DefaultSagaOutcomesMetric)
	def(&a.Metrics.SagaDuration, DefaultSagaDurationMetric)
	def(&a.Metrics.OrdersCreated, DefaultOrdersCreated)
	def(&a.Metrics.OutcomeLabel, DefaultOutcomeLabel)
	def(&a.Metrics.SuccessOutcome, DefaultSuccessOutcome)
	for _, p := range []*int{&a.PrometheusReplicas, &a.AlertmanagerReplicas, &a.CollectorReplicas} {
		if *p == 0 {
			*p = 1
		}
	}
	if a.CollectorPort == 0 {
		a.CollectorPort = 4317
	}
	if a.SLOs.SagaSuccessRatio == 0 {
		a.SLOs.SagaSuccessRatio = 0.99
	}
	if a.SLOs.OrderAPIP99 == 0 {
		a.SLOs.OrderAPIP99 = 500 * time.Millisecond
	}
	if a.SLOs.ConsumerLag == 0 {
		a.SLOs.ConsumerLag = 1000
	}
	if a.SLOs.DeadLetterPerMinute == 0 {
		a.SLOs.DeadLetterPerMinute = 1
	}
	if a.SLOs.For == 0 {
		a.SLOs.For = 5 * time.Minute
	}
}

func (a *Args) validate() error {
	var errs []error
	bad := func(field string, value any, allowed string) {
		errs = append(errs, fmt.Errorf("observability: %s = %v: %s", field, value, allowed))
	}
	label := func(field, v string) {
		if !dnsLabelRE.MatchString(v) {
			bad(field, fmt.Sprintf("%q", v), "must be a DNS-1123 label")
		}
	}
	label("Namespace", a.Namespace)
	label("KafkaNamespace", a.KafkaNamespace)
	label("IstioNamespace", a.IstioNamespace)
	label("OrderService", a.OrderService)
	if len(a.AppNamespaces) == 0 {
		bad("AppNamespaces", "[]", "must list at least one namespace")
	}
	for i, ns := range a.AppNamespaces {
		label(fmt.Sprintf("AppNamespaces[%d]", i), ns)
	}
	for field, n := range map[string]int{"PrometheusReplicas": a.PrometheusReplicas, "AlertmanagerReplicas": a.AlertmanagerReplicas, "CollectorReplicas": a.CollectorReplicas} {
		if n < 1 {
			bad(field, n, "must be >= 1")
		}
	}
	if a.CollectorPort < 1 || a.CollectorPort > 65535 {
		bad("CollectorPort", a.CollectorPort, "must be 1..65535")
	}
	if a.TracingBackend != TracingJaeger && a.TracingBackend != TracingTempo {
		bad("TracingBackend", fmt.Sprintf("%q", a.TracingBackend), "must be jaeger or tempo")
	}
	if !promDurRE.MatchString(a.PrometheusRetention) {
		bad("PrometheusRetention", fmt.Sprintf("%q", a.PrometheusRetention), `must be a Prometheus duration like "7d"`)
	}
	if !topicCharsRE.MatchString(a.DeadLetterSuffix) {
		bad("DeadLetterSuffix", fmt.Sprintf("%q", a.DeadLetterSuffix), "must use only [a-zA-Z0-9._-]")
	}
	for field, v := range map[string]string{
		"Metrics.SagaOutcomes": a.Metrics.SagaOutcomes, "Metrics.SagaDuration": a.Metrics.SagaDuration, "Metrics.OrdersCreated": a.Metrics.OrdersCreated,
	} {
		if !metricNameRE.MatchString(v) {
			bad(field, fmt.Sprintf("%q", v), "must be a Prometheus metric name")
		}
	}
	if !labelNameRE.MatchString(a.Metrics.OutcomeLabel) {
		bad("Metrics.OutcomeLabel", fmt.Sprintf("%q", a.Metrics.OutcomeLabel), "must be a Prometheus label name")
	}
	if s := a.SLOs.SagaSuccessRatio; s <= 0 || s > 1 {
		bad("SLOs.SagaSuccessRatio", s, "must be in (0, 1]")
	}
	if a.SLOs.OrderAPIP99 < time.Millisecond {
		bad("SLOs.OrderAPIP99", a.SLOs.OrderAPIP99, "must be >= 1ms")
	}
	if a.SLOs.ConsumerLag < 1 {
		bad("SLOs.ConsumerLag", a.SLOs.ConsumerLag, "must be >= 1 message")
	}
	if a.SLOs.DeadLetterPerMinute < 0 {
		bad("SLOs.DeadLetterPerMinute", a.SLOs.DeadLetterPerMinute, "must be >= 0")
	}
	if a.SLOs.For < time.Minute || a.SLOs.For%time.Second != 0 {
		bad("SLOs.For", a.SLOs.For, "must be whole seconds and >= 1m")
	}
	return errors.Join(errs...)
}
