// Package events builds and opens the Envelope every Kafka message carries.
// The envelope type is the payload's protobuf full name, so decoding needs no
// hand-kept registry: the generated code registers every message type.
package events

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/ordermesh/ordermesh/apps/gen/eventsv1"
)

// schemaVersions holds the current schema version of each payload type whose
// schema has evolved; all others are at version 1.
var schemaVersions = map[protoreflect.FullName]uint32{
	(&eventsv1.OrderCreated{}).ProtoReflect().Descriptor().FullName(): 2,
}

// SchemaVersion is the current schema version of msg's type.
func SchemaVersion(msg proto.Message) uint32 {
	if v, ok := schemaVersions[msg.ProtoReflect().Descriptor().FullName()]; ok {
		return v
	}
	return 1
}

// NewID returns a 128-bit id in hex: the Unix time in milliseconds (48
// bits, big-endian) followed by 80 random bits, like UUIDv7. Ids made later
// sort later, so the B-tree inserts keyed by them (order ids, event ids in
// processed_events) land on the rightmost pages instead of a random page
// each: commits write and cache far fewer pages. 80 random bits per
// millisecond keep ids unguessable and collisions negligible.
func NewID() string {
	return newID(time.Now())
}

// IDBefore returns the smallest id that NewID can make at t: every id made
// earlier sorts below it, every id made at t or later does not.
func IDBefore(t time.Time) string {
	b := stamped(t)
	return hex.EncodeToString(b[:])
}

func newID(now time.Time) string {
	b := stamped(now)
	if _, err := rand.Read(b[6:]); err != nil {
		panic(fmt.Sprintf("events: crypto/rand: %v", err)) // cannot happen on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// stamped returns an id's bytes with t's Unix milliseconds in the first 48
// bits, big-endian, and the rest zero.
func stamped(t time.Time) (b [16]byte) {
	ms := uint64(t.UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	return b
}

// Meta is what an envelope says about where an event came from.
type Meta struct {
	AggregateID   string
	CorrelationID string
	CausationID   string
}

// New wraps payload in an envelope with a fresh id.
func New(payload proto.Message, m Meta, now time.Time) (*eventsv1.Envelope, error) {
	raw, err := proto.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("events: marshal %T: %w", payload, err)
	}
	return &eventsv1.Envelope{
		Id:            NewID(),
		Type:          TypeOf(payload),
		SchemaVersion: SchemaVersion(payload),
		AggregateId:   m.AggregateID,
		CorrelationId: m.CorrelationID,
		CausationId:   m.CausationID,
		Time:          timestamppb.New(now),
		Payload:       raw,
	}, nil
}

// TypeOf is the envelope type of a payload.
func TypeOf(payload proto.Message) string {
	return string(payload.ProtoReflect().Descriptor().FullName())
}

// ErrMalformed marks messages that can never be decoded; retrying is useless.
var ErrMalformed = errors.New("malformed event")

// Decode parses an encoded envelope and its payload.
func Decode(b []byte) (*eventsv1.Envelope, proto.Message, error) {
	env := &eventsv1.Envelope{}
	if err := proto.Unmarshal(b, env); err != nil {
		return nil, nil, fmt.Errorf("%w: envelope: %v", ErrMalformed, err)
	}
	if env.GetId() == "" || env.GetType() == "" {
		return env, nil, fmt.Errorf("%w: envelope without id or type", ErrMalformed)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(protoreflect.FullName(env.GetType()))
	if err != nil {
		return env, nil, fmt.Errorf("%w: unknown type %q", ErrMalformed, env.GetType())
	}
	msg := mt.New().Interface()
	if err := proto.Unmarshal(env.GetPayload(), msg); err != nil {
		return env, nil, fmt.Errorf("%w: payload %s: %v", ErrMalformed, env.GetType(), err)
	}
	return env, msg, nil
}
