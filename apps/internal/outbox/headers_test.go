package outbox

import (
	"reflect"
	"sort"
	"testing"

	"github.com/segmentio/kafka-go"
)

func TestHeadersRoundTripAndReadLegacyJSON(t *testing.T) {
	tests := []struct {
		name    string
		raw     []byte
		want    []kafka.Header
		wantErr bool
	}{
		{"binary round trip", encodeHeaders([]kafka.Header{{Key: HeaderType, Value: []byte("t")}, {Key: "traceparent", Value: []byte("00-abc-def-01")}, {Key: "empty", Value: []byte{}}}),
			[]kafka.Header{{Key: HeaderType, Value: []byte("t")}, {Key: "traceparent", Value: []byte("00-abc-def-01")}, {Key: "empty", Value: []byte{}}}, false},
		{"no headers", encodeHeaders(nil), nil, false},
		{"rows written before the binary encoding (JSON)", []byte(`{"ce-id":"1","ce-type":"t"}`),
			[]kafka.Header{{Key: HeaderID, Value: []byte("1")}, {Key: HeaderType, Value: []byte("t")}}, false},
		{"truncated value", encodeHeaders([]kafka.Header{{Key: "k", Value: []byte("value")}})[:5], nil, true},
		{"unknown encoding", []byte{0x7f, 1, 'k', 0}, nil, true},
		{"empty column", nil, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeHeaders(tc.raw)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			sort.Slice(got, func(i, j int) bool { return got[i].Key < got[j].Key })
			want := append([]kafka.Header(nil), tc.want...)
			sort.Slice(want, func(i, j int) bool { return want[i].Key < want[j].Key })
			if len(got) != len(want) || (len(got) > 0 && !reflect.DeepEqual(got, want)) {
				t.Errorf("headers %q, want %q", got, want)
			}
		})
	}
}

func TestHeaderCarrierSetReplacesAndAppends(t *testing.T) {
	hdr := []kafka.Header{{Key: "a", Value: []byte("1")}}
	c := HeaderCarrier{&hdr}
	c.Set("a", "2")
	c.Set("b", "3")
	if c.Get("a") != "2" || c.Get("b") != "3" || c.Get("z") != "" || len(hdr) != 2 {
		t.Errorf("headers after Set: %q", hdr)
	}
	if keys := c.Keys(); !reflect.DeepEqual(keys, []string{"a", "b"}) {
		t.Errorf("keys %v", keys)
	}
}
