package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// CorrelationHeader is the gRPC metadata key a caller may set; without it
// the order id becomes the correlation id.
const CorrelationHeader = "x-correlation-id"

type mdCarrier metadata.MD

func (c mdCarrier) Get(k string) string {
	if v := metadata.MD(c).Get(k); len(v) > 0 {
		return v[0]
	}
	return ""
}
func (c mdCarrier) Set(k, v string) { metadata.MD(c).Set(k, v) }
func (c mdCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// UnaryServerInterceptor starts a server span (joining the caller's W3C trace
// context), carries the correlation id into ctx and records RED metrics.
func UnaryServerInterceptor(service string, tracer trace.Tracer, m *Metrics) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		start := time.Now()
		md, _ := metadata.FromIncomingContext(ctx)
		ctx = propagation.TraceContext{}.Extract(ctx, mdCarrier(md))
		if v := md.Get(CorrelationHeader); len(v) > 0 && len(v[0]) <= 128 {
			ctx = WithCorrelationID(ctx, v[0])
		}
		if tracer != nil {
			var span trace.Span
			ctx, span = tracer.Start(ctx, info.FullMethod, trace.WithSpanKind(trace.SpanKindServer))
			defer span.End()
			resp, err := handler(ctx, req)
			if err != nil {
				span.SetStatus(codes.Error, status.Convert(err).Message())
			}
			observe(m, service, info.FullMethod, err, start)
			return resp, err
		}
		resp, err := handler(ctx, req)
		observe(m, service, info.FullMethod, err, start)
		return resp, err
	}
}

func observe(m *Metrics, service, method string, err error, start time.Time) {
	if m == nil {
		return
	}
	m.Requests.WithLabelValues(service, method, status.Code(err).String()).Inc()
	m.RequestDuration.WithLabelValues(service, method).Observe(time.Since(start).Seconds())
}

// UnaryClientInterceptor sends the caller's trace context.
func UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		md, _ := metadata.FromOutgoingContext(ctx)
		md = md.Copy()
		propagation.TraceContext{}.Inject(ctx, mdCarrier(md))
		return invoker(metadata.NewOutgoingContext(ctx, md), method, req, reply, cc, opts...)
	}
}
