// Package order is the order service: the event-sourced order aggregate, the
// saga that drives each order through stock, payment and shipment (with
// compensation in reverse), and the gRPC API. The domain types in this file
// know nothing of gRPC, Kafka or SQL.
package order

import (
	"errors"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
)

// State is a saga state.
type State string

const (
	Reserving   State = "reserving"
	Authorizing State = "authorizing"
	Shipping    State = "shipping"
	Refunding   State = "refunding"
	Releasing   State = "releasing"
	Completed   State = "completed"
	Rejected    State = "rejected"
	Cancelled   State = "cancelled"
)

// Terminal reports whether the saga has ended.
func (s State) Terminal() bool { return s == Completed || s == Rejected || s == Cancelled }

// Saga is the persisted progress of one order.
type Saga struct {
	OrderID       string
	CustomerID    string
	Currency      string
	Address       string
	Items         []*eventsv1.LineItem
	TotalCents    int64
	CorrelationID string
	State         State
	// Outcome is the terminal state a running compensation ends in, and
	// Reason says why; Compensated records that completed steps were undone.
	Outcome     State
	Reason      string
	Compensated bool
	StartedAt   time.Time
	Deadline    time.Time
}

// ErrNotCancellable is returned when an order can no longer be cancelled.
var ErrNotCancellable = errors.New("order can no longer be cancelled")

// Start begins a saga for a newly created order.
func Start(c *eventsv1.OrderCreated, correlationID string, now time.Time, timeout time.Duration) (*Saga, []proto.Message) {
	s := &Saga{
		OrderID: c.GetOrderId(), CustomerID: c.GetCustomerId(), Currency: c.GetCurrency(), Address: c.GetShippingAddress(),
		Items: c.GetItems(), TotalCents: c.GetTotalCents(), CorrelationID: correlationID,
		State: Reserving, StartedAt: now, Deadline: now.Add(timeout),
	}
	return s, []proto.Message{c, &eventsv1.ReserveStock{OrderId: s.OrderID, Items: s.Items}}
}

// OnReply advances the saga on a participant's reply. Replies that do not
// fit the current state (late or repeated) change nothing.
func (s *Saga) OnReply(reply proto.Message, now time.Time, timeout time.Duration) []proto.Message {
	var out []proto.Message
	switch r := reply.(type) {
	case *eventsv1.StockReserved:
		if s.State == Reserving {
			s.State = Authorizing
			out = append(out, s.authorize())
		}
	case *eventsv1.StockRejected:
		if s.State == Reserving {
			out = append(out, s.finish(Rejected, r.GetReason(), false))
		}
	case *eventsv1.PaymentAuthorized:
		if s.State == Authorizing {
			s.State = Shipping
			out = append(out, s.ship())
		}
	case *eventsv1.PaymentDeclined:
		if s.State == Authorizing {
			s.compensate(Releasing, Rejected, "payment declined: "+r.GetReason())
			out = append(out, s.release())
		}
	case *eventsv1.ShipmentScheduled:
		if s.State == Shipping {
			out = append(out, s.finish(Completed, "", false))
		}
	case *eventsv1.ShipmentFailed:
		if s.State == Shipping {
			s.compensate(Refunding, Rejected, "shipment failed: "+r.GetReason())
			out = append(out, s.refund())
		}
	case *eventsv1.PaymentRefunded:
		if s.State == Refunding {
			s.State = Releasing
			out = append(out, s.release())
		}
	case *eventsv1.StockReleased:
		if s.State == Releasing {
			out = append(out, s.finish(s.Outcome, s.Reason, true))
		}
	}
	if len(out) > 0 {
		s.Deadline = now.Add(timeout)
	}
	return out
}

// OnTimeout handles a passed deadline: forward steps that may have failed
// are compensated; compensation steps and shipment (idempotent at the
// participant) are sent again.
func (s *Saga) OnTimeout(now time.Time, timeout time.Duration) []proto.Message {
	var out []proto.Message
	switch s.State {
	case Reserving:
		// The reservation may have happened without us hearing: release it.
		s.compensate(Releasing, Rejected, "timed out reserving stock")
		out = append(out, s.release())
	case Authorizing:
		s.compensate(Refunding, Rejected, "timed out authorising payment")
		out = append(out, s.refund())
	case Shipping:
		out = append(out, s.ship())
	case Refunding:
		out = append(out, s.refund())
	case Releasing:
		out = append(out, s.release())
	}
	s.Deadline = now.Add(timeout)
	return out
}

// Cancel starts compensation on the customer's request.
func (s *Saga) Cancel(reason string, now time.Time, timeout time.Duration) ([]proto.Message, error) {
	if reason == "" {
		reason = "cancelled by customer"
	}
	var out []proto.Message
	switch s.State {
	case Reserving:
		s.compensate(Releasing, Cancelled, reason)
		out = append(out, s.release())
	case Authorizing:
		s.compensate(Refunding, Cancelled, reason)
		out = append(out, s.refund())
	default:
		return nil, ErrNotCancellable
	}
	s.Deadline = now.Add(timeout)
	return out, nil
}

func (s *Saga) compensate(next, outcome State, reason string) {
	s.State, s.Outcome, s.Reason = next, outcome, reason
}

func (s *Saga) finish(end State, reason string, compensated bool) proto.Message {
	s.State, s.Outcome, s.Reason, s.Compensated = end, end, reason, compensated
	switch end {
	case Completed:
		return &eventsv1.OrderCompleted{OrderId: s.OrderID}
	case Cancelled:
		return &eventsv1.OrderCancelled{OrderId: s.OrderID, Reason: reason}
	default:
		return &eventsv1.OrderRejected{OrderId: s.OrderID, Reason: reason, Compensated: compensated}
	}
}

func (s *Saga) authorize() proto.Message {
	return &eventsv1.AuthorizePayment{OrderId: s.OrderID, CustomerId: s.CustomerID, AmountCents: s.TotalCents, Currency: s.Currency}
}
func (s *Saga) ship() proto.Message {
	return &eventsv1.ScheduleShipment{OrderId: s.OrderID, Address: s.Address, Items: s.Items}
}
func (s *Saga) refund() proto.Message  { return &eventsv1.RefundPayment{OrderId: s.OrderID} }
func (s *Saga) release() proto.Message { return &eventsv1.ReleaseStock{OrderId: s.OrderID} }
