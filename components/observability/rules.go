package observability

import (
	"fmt"
	"strconv"
)

// AlertRules returns the SLO alerts: saga success ratio, order API p99,
// consumer lag and dead-letter rate. Call after applyDefaults.
func (a *Args) AlertRules() []Rule {
	m := a.Metrics
	num := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	forDur := fmt.Sprintf("%ds", int(a.SLOs.For.Seconds()))
	rule := func(name, severity, expr, summary, desc string) Rule {
		return Rule{
			Alert: name, Expr: expr, For: forDur,
			Labels:      map[string]string{"severity": severity, "system": "ordermesh"},
			Annotations: map[string]string{"summary": summary, "description": desc},
		}
	}
	total := fmt.Sprintf(`sum(rate(%s[10m]))`, m.SagaOutcomes)
	ok := fmt.Sprintf(`sum(rate(%s{%s=%q}[10m]))`, m.SagaOutcomes, m.OutcomeLabel, m.SuccessOutcome)
	order := fmt.Sprintf(`reporter="destination",destination_service_name=%q,destination_service_namespace=~%q`, a.OrderService, a.appNamespaceRegex())
	p99ms := a.SLOs.OrderAPIP99.Milliseconds()
	return []Rule{
		rule("OrderSagaSuccessRatioLow", "critical",
			fmt.Sprintf(`(%s / %s) < %s and %s > 0`, ok, total, num(a.SLOs.SagaSuccessRatio), total),
			"Too few order sagas complete",
			fmt.Sprintf("Less than %s of order sagas completed over 10m ({{ $value | humanizePercentage }}).", num(a.SLOs.SagaSuccessRatio))),
		rule("OrderAPILatencyP99High", "critical",
			fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(istio_request_duration_milliseconds_bucket{%s}[5m]))) > %d`, order, p99ms),
			"Order API p99 latency above SLO",
			fmt.Sprintf("Order API p99 latency is {{ $value }}ms, above %dms.", p99ms)),
		rule("KafkaConsumerLagHigh", "warning",
			fmt.Sprintf(`sum by (consumergroup, topic) (kafka_consumergroup_lag{namespace=%q}) > %d`, a.KafkaNamespace, a.SLOs.ConsumerLag),
			"Kafka consumer group is falling behind",
			fmt.Sprintf("Group {{ $labels.consumergroup }} lags {{ $value }} messages on {{ $labels.topic }} (limit %d).", a.SLOs.ConsumerLag)),
		rule("DeadLetterRateHigh", "warning",
			fmt.Sprintf(`%s > %s`, a.deadLetterRateExpr(), num(a.SLOs.DeadLetterPerMinute)),
			"Messages are being dead-lettered",
			fmt.Sprintf("{{ $value }} messages/min parked in {{ $labels.topic }} (limit %s).", num(a.SLOs.DeadLetterPerMinute))),
	}
}
