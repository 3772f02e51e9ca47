package stacks

import (
	"math/big"
	"testing"
)

func TestParseQuantity(t *testing.T) {
	tests := []struct {
		in   string
		want string // exact rational value
	}{
		{"1", "1"},
		{"0", "0"},
		{"100m", "1/10"},
		{"0.5", "1/2"},
		{".5", "1/2"},
		{"1.", "1"},
		{"+2", "2"},
		{"-100m", "-1/10"},
		{"128Mi", "134217728"},
		{"1Gi", "1073741824"},
		{"1Ki", "1024"},
		{"2Ei", "2305843009213693952"},
		{"1k", "1000"},
		{"1M", "1000000"},
		{"1E", "1000000000000000000"},
		{"5n", "1/200000000"},
		{"3u", "3/1000000"},
		{"1e3", "1000"},
		{"1E3", "1000"},
		{"15e-1", "3/2"},
		{"1.5Gi", "1610612736"},
	}
	for _, tt := range tests {
		got, err := ParseQuantity(tt.in)
		if err != nil {
			t.Errorf("ParseQuantity(%q): %v", tt.in, err)
			continue
		}
		want, _ := new(big.Rat).SetString(tt.want)
		if got.Cmp(want) != 0 {
			t.Errorf("ParseQuantity(%q) = %s, want %s", tt.in, got.RatString(), tt.want)
		}
	}
}

func TestParseQuantityRejectsMalformed(t *testing.T) {
	for _, in := range []string{"", "Mi", "1 Mi", "1mi", "1KI", "1.2.3", "1x", "1Gib", "--1", "1e", "1e1.5", "0x10", "1,5", " 1", "1Mi ", "e3"} {
		if _, err := ParseQuantity(in); err == nil {
			t.Errorf("ParseQuantity(%q) succeeded, want error", in)
		}
	}
}
