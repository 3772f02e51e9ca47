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

func TestIDBeforeSplitsIDsByTime(t *testing.T) {
	at := time.UnixMilli(1_800_000_000_000)
	bound := IDBefore(at)
	for _, tc := range []struct {
		name  string
		made  time.Time
		below bool
	}{
		{"a millisecond earlier", at.Add(-time.Millisecond), true},
		{"a day earlier", at.AddDate(0, 0, -1), true},
		{"in the same millisecond", at, false},
		{"a millisecond later", at.Add(time.Millisecond), false},
	} {
		for range 100 { // the random part must not matter
			if id := newID(tc.made); (id < bound) != tc.below {
				t.Fatalf("%s: id %s < bound %s is %v, want %v", tc.name, id, bound, id < bound, tc.below)
			}
		}
	}
}
