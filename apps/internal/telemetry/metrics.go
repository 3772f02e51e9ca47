package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the Prometheus series of the order system. One value serves
// every service in a process; the "service" label tells them apart.
type Metrics struct {
	Requests        *prometheus.CounterVec   // service, method, code
	RequestDuration *prometheus.HistogramVec // service, method
	Messages        *prometheus.CounterVec   // service, type, outcome
	HandleDuration  *prometheus.HistogramVec // service, type
	ConsumerLag     *prometheus.GaugeVec     // service
	DeadLettered    *prometheus.CounterVec   // service
	OrdersCreated   prometheus.Counter
	OrdersCompleted prometheus.Counter
	OrdersRejected  prometheus.Counter
	// OrdersCompensated counts orders whose earlier steps were undone.
	OrdersCompensated prometheus.Counter
	// SagaOutcomes counts finished sagas by outcome (completed, rejected,
	// cancelled): the SLO rules of components/observability read it.
	SagaOutcomes *prometheus.CounterVec
	SagaDuration prometheus.Histogram
}

// NewMetrics creates and registers the metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordermesh_grpc_requests_total", Help: "gRPC requests by method and status code.",
		}, []string{"service", "method", "code"}),
		RequestDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ordermesh_grpc_request_duration_seconds", Help: "gRPC request latency.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}, []string{"service", "method"}),
		Messages: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordermesh_messages_total", Help: "Consumed messages by type and outcome (ok, duplicate, error, dead_letter).",
		}, []string{"service", "type", "outcome"}),
		HandleDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ordermesh_message_handle_duration_seconds", Help: "Time to handle one consumed batch, per message type of its first message.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"service", "type"}),
		ConsumerLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ordermesh_consumer_lag", Help: "Messages behind the high watermark, as last seen by the reader.",
		}, []string{"service"}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordermesh_dead_lettered_total", Help: "Messages sent to the dead-letter topic.",
		}, []string{"service"}),
		OrdersCreated:     prometheus.NewCounter(prometheus.CounterOpts{Name: "ordermesh_orders_created_total", Help: "Orders accepted by the API."}),
		OrdersCompleted:   prometheus.NewCounter(prometheus.CounterOpts{Name: "ordermesh_orders_completed_total", Help: "Orders whose saga completed."}),
		OrdersRejected:    prometheus.NewCounter(prometheus.CounterOpts{Name: "ordermesh_orders_rejected_total", Help: "Orders that ended rejected or cancelled."}),
		OrdersCompensated: prometheus.NewCounter(prometheus.CounterOpts{Name: "ordermesh_orders_compensated_total", Help: "Orders whose completed steps were compensated."}),
		SagaOutcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ordermesh_saga_outcomes_total", Help: "Finished sagas by outcome (completed, rejected, cancelled).",
		}, []string{"outcome"}),
		SagaDuration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "ordermesh_saga_duration_seconds", Help: "Time from order creation to a terminal saga state.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}),
	}
	reg.MustRegister(m.Requests, m.RequestDuration, m.Messages, m.HandleDuration, m.ConsumerLag, m.DeadLettered,
		m.OrdersCreated, m.OrdersCompleted, m.OrdersRejected, m.OrdersCompensated, m.SagaOutcomes, m.SagaDuration)
	return m
}
