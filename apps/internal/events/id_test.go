package events

import (
	"testing"
	"time"
)

func TestNewIDSortsByTimeAndStaysUnique(t *testing.T) {
	base := time.UnixMilli(1_800_000_000_000)
	tests := []struct {
		name           string
		earlier, later time.Time
	}{
		{"one millisecond apart", base, base.Add(time.Millisecond)},
		{"a year apart", base, base.AddDate(1, 0, 0)},
		{"across a byte boundary of the timestamp", time.UnixMilli(0xff), time.UnixMilli(0x100)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := newID(tc.earlier), newID(tc.later)
			if len(a) != 32 || len(b) != 32 {
				t.Fatalf("ids %q, %q: want 32 hex digits", a, b)
			}
			if a >= b {
				t.Errorf("id at %v (%s) does not sort before id at %v (%s)", tc.earlier, a, tc.later, b)
			}
		})
	}
	seen := map[string]bool{}
	for range 10000 {
		id := newID(base)
		if seen[id] {
			t.Fatalf("duplicate id %s within one millisecond", id)
		}
		seen[id] = true
	}
}
