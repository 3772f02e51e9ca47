package events_test

import (
	"errors"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
	"github.com/ordermesh/ordermesh/apps/gen/eventsv1/schema1"
	"github.com/ordermesh/ordermesh/apps/internal/events"
)

// Events written by schema version 1 producers decode with the current code.
func TestSchema1EventsDecodeWithCurrentSchema(t *testing.T) {
	old := &schema1.OrderCreated{
		OrderId: "o-1", CustomerId: "c-1", TotalCents: 2500,
		Items: []*schema1.LineItem{{ProductId: "sku-1", Quantity: 2, UnitPriceCents: 1250}},
	}
	payload, err := proto.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	env, err := proto.Marshal(&schema1.Envelope{
		Id: "e-1", Type: "ordermesh.events.v1.OrderCreated", SchemaVersion: 1, AggregateId: "o-1",
		CorrelationId: "corr", CausationId: "cause", Time: timestamppb.New(time.Unix(1700000000, 0)), Payload: payload,
	})
	if err != nil {
		t.Fatal(err)
	}
	gotEnv, msg, err := events.Decode(env)
	if err != nil {
		t.Fatalf("decode a schema 1 event: %v", err)
	}
	if gotEnv.GetSchemaVersion() != 1 || gotEnv.GetCorrelationId() != "corr" || gotEnv.GetCausationId() != "cause" || gotEnv.GetAggregateId() != "o-1" {
		t.Errorf("envelope decoded as %v", gotEnv)
	}
	created, ok := msg.(*eventsv1.OrderCreated)
	if !ok {
		t.Fatalf("payload decoded as %T", msg)
	}
	want := &eventsv1.OrderCreated{OrderId: "o-1", CustomerId: "c-1", TotalCents: 2500,
		Items: []*eventsv1.LineItem{{ProductId: "sku-1", Quantity: 2, UnitPriceCents: 1250}}}
	if !proto.Equal(created, want) {
		t.Errorf("decoded %v, want %v (fields added in version 2 left empty)", created, want)
	}
}

// Schema 1 consumers still read what the current producers write.
func TestCurrentEventsDecodeWithSchema1(t *testing.T) {
	env, err := events.New(&eventsv1.OrderCreated{OrderId: "o-2", CustomerId: "c-2", TotalCents: 10, Currency: "EUR", ShippingAddress: "x",
		Items: []*eventsv1.LineItem{{ProductId: "sku", Quantity: 1, UnitPriceCents: 10}}}, events.Meta{AggregateID: "o-2"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if env.GetSchemaVersion() != 2 {
		t.Errorf("OrderCreated schema version = %d, want 2", env.GetSchemaVersion())
	}
	raw, _ := proto.Marshal(env)
	var old schema1.Envelope
	if err := proto.Unmarshal(raw, &old); err != nil {
		t.Fatal(err)
	}
	var oc schema1.OrderCreated
	if err := proto.Unmarshal(old.GetPayload(), &oc); err != nil {
		t.Fatalf("schema 1 reader: %v", err)
	}
	if oc.GetOrderId() != "o-2" || oc.GetTotalCents() != 10 || len(oc.GetItems()) != 1 {
		t.Errorf("schema 1 reader saw %v", &oc)
	}
}

// Every field of the frozen schema keeps its number, kind and cardinality in
// the current schema: renumbering or retyping a field fails here.
func TestCurrentSchemaKeepsEverySchema1Field(t *testing.T) {
	files := []protoreflect.FileDescriptor{schema1.File_ordermesh_events_v1_schema1_events_proto}
	for _, fd := range files {
		msgs := fd.Messages()
		for i := range msgs.Len() {
			old := msgs.Get(i)
			name := protoreflect.FullName("ordermesh.events.v1." + string(old.Name()))
			cur, err := protoregistry.GlobalFiles.FindDescriptorByName(name)
			if err != nil {
				t.Errorf("%s was removed: %v", name, err)
				continue
			}
			curMsg := cur.(protoreflect.MessageDescriptor)
			fields := old.Fields()
			for j := range fields.Len() {
				of := fields.Get(j)
				cf := curMsg.Fields().ByNumber(of.Number())
				switch {
				case cf == nil:
					t.Errorf("%s field %d (%s) was removed", name, of.Number(), of.Name())
				case cf.Kind() != of.Kind() || cf.Cardinality() != of.Cardinality():
					t.Errorf("%s field %d changed from %s %s to %s %s", name, of.Number(), of.Cardinality(), of.Kind(), cf.Cardinality(), cf.Kind())
				}
			}
		}
	}
}

func TestDecodeRejectsMalformedInput(t *testing.T) {
	unknown, _ := proto.Marshal(&eventsv1.Envelope{Id: "e", Type: "ordermesh.events.v1.NoSuchEvent"})
	noID, _ := proto.Marshal(&eventsv1.Envelope{Type: "ordermesh.events.v1.OrderCompleted"})
	for name, in := range map[string][]byte{
		"garbage":      []byte("\xff\xfe\xfd"),
		"unknown type": unknown,
		"missing id":   noID,
	} {
		if _, _, err := events.Decode(in); !errors.Is(err, events.ErrMalformed) {
			t.Errorf("%s: error %v, want ErrMalformed", name, err)
		}
	}
}
