package order

import (
	"errors"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
)

func types(msgs []proto.Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, string(m.ProtoReflect().Descriptor().Name()))
	}
	return out
}

func TestSagaTransitions(t *testing.T) {
	now := time.Unix(0, 0)
	created := &eventsv1.OrderCreated{OrderId: "o", TotalCents: 10}
	tests := []struct {
		name      string
		replies   []proto.Message
		wantState State
		wantLast  []string
	}{
		{"happy path completes", []proto.Message{&eventsv1.StockReserved{}, &eventsv1.PaymentAuthorized{}, &eventsv1.ShipmentScheduled{}}, Completed, []string{"OrderCompleted"}},
		{"out of stock rejects without compensation", []proto.Message{&eventsv1.StockRejected{Reason: "out"}}, Rejected, []string{"OrderRejected"}},
		{"declined payment releases stock", []proto.Message{&eventsv1.StockReserved{}, &eventsv1.PaymentDeclined{}}, Releasing, []string{"ReleaseStock"}},
		{"release after decline ends rejected", []proto.Message{&eventsv1.StockReserved{}, &eventsv1.PaymentDeclined{}, &eventsv1.StockReleased{}}, Rejected, []string{"OrderRejected"}},
		{"failed shipment refunds first", []proto.Message{&eventsv1.StockReserved{}, &eventsv1.PaymentAuthorized{}, &eventsv1.ShipmentFailed{}}, Refunding, []string{"RefundPayment"}},
		{"refund then release", []proto.Message{&eventsv1.StockReserved{}, &eventsv1.PaymentAuthorized{}, &eventsv1.ShipmentFailed{}, &eventsv1.PaymentRefunded{}}, Releasing, []string{"ReleaseStock"}},
		{"late reply changes nothing", []proto.Message{&eventsv1.StockReserved{}, &eventsv1.StockReserved{}}, Authorizing, nil},
		{"shipment before payment is ignored", []proto.Message{&eventsv1.ShipmentScheduled{}}, Reserving, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, first := Start(created, "c", now, time.Second)
			if got := types(first); strings.Join(got, ",") != "OrderCreated,ReserveStock" {
				t.Fatalf("start emitted %v", got)
			}
			var last []proto.Message
			for _, r := range tc.replies {
				last = s.OnReply(r, now, time.Second)
			}
			if s.State != tc.wantState {
				t.Errorf("state %s, want %s", s.State, tc.wantState)
			}
			if strings.Join(types(last), ",") != strings.Join(tc.wantLast, ",") {
				t.Errorf("last step emitted %v, want %v", types(last), tc.wantLast)
			}
		})
	}
}

func TestSagaTimeoutsCompensateForwardSteps(t *testing.T) {
	now := time.Unix(0, 0)
	s, _ := Start(&eventsv1.OrderCreated{OrderId: "o"}, "c", now, time.Second)
	if got := types(s.OnTimeout(now, time.Second)); len(got) != 1 || got[0] != "ReleaseStock" || s.State != Releasing {
		t.Fatalf("timeout while reserving: %v, state %s", got, s.State)
	}
	s, _ = Start(&eventsv1.OrderCreated{OrderId: "o"}, "c", now, time.Second)
	s.OnReply(&eventsv1.StockReserved{}, now, time.Second)
	if got := types(s.OnTimeout(now, time.Second)); len(got) != 1 || got[0] != "RefundPayment" || s.State != Refunding {
		t.Fatalf("timeout while authorising: %v, state %s", got, s.State)
	}
	// A late authorisation after the timeout must not move the saga forward.
	if got := s.OnReply(&eventsv1.PaymentAuthorized{}, now, time.Second); len(got) != 0 {
		t.Errorf("late authorisation emitted %v", types(got))
	}
}

func TestCancelOnlyBeforeShipment(t *testing.T) {
	now := time.Unix(0, 0)
	s, _ := Start(&eventsv1.OrderCreated{OrderId: "o"}, "c", now, time.Second)
	s.OnReply(&eventsv1.StockReserved{}, now, time.Second)
	s.OnReply(&eventsv1.PaymentAuthorized{}, now, time.Second)
	if _, err := s.Cancel("", now, time.Second); !errors.Is(err, ErrNotCancellable) {
		t.Errorf("cancel while shipping: %v, want ErrNotCancellable", err)
	}
	s, _ = Start(&eventsv1.OrderCreated{OrderId: "o"}, "c", now, time.Second)
	out, err := s.Cancel("", now, time.Second)
	if err != nil || s.Outcome != Cancelled || types(out)[0] != "ReleaseStock" {
		t.Errorf("cancel while reserving: %v %v outcome %s", types(out), err, s.Outcome)
	}
	s.OnReply(&eventsv1.StockReleased{}, now, time.Second)
	if s.State != Cancelled {
		t.Errorf("after release: %s, want cancelled", s.State)
	}
}

func TestPriceReportsEveryProblem(t *testing.T) {
	c := Catalog{"a": 100, "b": 250}
	lines, total, err := c.Price(CreateRequest{CustomerID: "c", Items: []Item{{"a", 2}, {"b", 1}}})
	if err != nil || total != 450 || len(lines) != 2 || lines[1].GetUnitPriceCents() != 250 {
		t.Fatalf("valid request: %v %d %v", lines, total, err)
	}
	_, _, err = c.Price(CreateRequest{Items: []Item{{"zzz", 0}, {"a", -3}, {"a", 1}}, Currency: "USD"})
	if !errors.Is(err, ErrInvalid) {
		t.Fatalf("error %v, want ErrInvalid", err)
	}
	for _, want := range []string{"customer_id is empty", `currency = "USD"`, `items[0].product_id = "zzz": unknown product`, "items[0].quantity = 0", "items[1].quantity = -3", "items[2].product_id = \"a\": listed twice"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestOrderFoldsEventsAndDefaultsSchema1Currency(t *testing.T) {
	var o Order
	o.Apply(&eventsv1.OrderCreated{OrderId: "o", TotalCents: 5})
	o.Apply(&eventsv1.OrderRejected{Reason: "out of stock"})
	if o.Currency != DefaultCurrency || o.Status != StatusRejected || o.Reason != "out of stock" || o.Version != 2 {
		t.Errorf("folded %+v", o)
	}
}
