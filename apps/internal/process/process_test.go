package process

import (
	"strings"
	"testing"
	"time"

	"github.com/ordermesh/ordermesh/apps/internal/runner"
)

func TestProcessedRetentionNamesTheSettingWhenBad(t *testing.T) {
	for _, tc := range []struct {
		value   string
		want    time.Duration
		wantErr string
	}{
		{"", runner.DefaultProcessedRetention, ""},
		{"720h", 720 * time.Hour, ""},
		{"1h", time.Hour, ""},
		{"30m", 0, "ORDERMESH_PROCESSED_RETENTION = 30m0s: must be at least 1h"},
		{"-1h", 0, "must be at least 1h"},
		{"two weeks", 0, `ORDERMESH_PROCESSED_RETENTION = "two weeks": want a Go duration`},
	} {
		t.Setenv("ORDERMESH_PROCESSED_RETENTION", tc.value)
		got, err := ProcessedRetention()
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("%q: %v, %v; want %v", tc.value, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v; want one containing %q", tc.value, err, tc.wantErr)
		}
	}
}

func TestIntNamesTheSettingAndRangeWhenBad(t *testing.T) {
	for _, tc := range []struct {
		value   string
		want    int
		wantErr string
	}{
		{"", 1, ""},
		{"2", 2, ""},
		{"16", 16, ""},
		{"0", 0, `ORDERMESH_ORDER_SHARDS = "0": want a whole number from 1 to 16 (default 1)`},
		{"17", 0, "from 1 to 16"},
		{"two", 0, "from 1 to 16"},
	} {
		t.Setenv("ORDERMESH_ORDER_SHARDS", tc.value)
		got, err := Int("ORDERMESH_ORDER_SHARDS", 1, 1, 16)
		switch {
		case tc.wantErr == "" && (err != nil || got != tc.want):
			t.Errorf("%q: %v, %v; want %v", tc.value, got, err, tc.want)
		case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
			t.Errorf("%q: error %v; want one containing %q", tc.value, err, tc.wantErr)
		}
	}
}
