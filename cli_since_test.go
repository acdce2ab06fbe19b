package main

import (
	"testing"
	"time"
)

// --since and --until of paracfs log: a duration back from now, or a date
// or time (local, unless it names its zone).

func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
	}{
		{"1h", now.Add(-time.Hour)},
		{"30m", now.Add(-30 * time.Minute)},
		{"1h30m15s", now.Add(-(time.Hour + 30*time.Minute + 15*time.Second))},
		{"0s", now},
		{"-1h", now.Add(time.Hour)}, // a negative duration counts forward
		{"2026-11-28", time.Date(2026, 11, 28, 0, 0, 0, 0, time.Local)},
		{"2026-11-28T10:00", time.Date(2026, 11, 28, 10, 0, 0, 0, time.Local)},
		{"2026-11-28T10:00:05", time.Date(2026, 11, 28, 10, 0, 5, 0, time.Local)},
		{"2026-11-28 10:00:05", time.Date(2026, 11, 28, 10, 0, 5, 0, time.Local)},
		{"2026-11-28T10:00:00Z", time.Date(2026, 11, 28, 10, 0, 0, 0, time.UTC)},
		{"2026-11-28T10:00:00.25+02:00", time.Date(2026, 11, 28, 8, 0, 0, 250e6, time.UTC)},
	} {
		got, err := parseSince(tc.in, now)
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("parseSince(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
	const msg = "want a duration (1h, 30m) or a date (2026-11-28, 2026-11-28T10:00:00Z)"
	for _, in := range []string{"", "yesterday", "1 hour", "1d", "28/11/2026", "2026-13-01", "2026-11-28T25:00", "10:00"} {
		if got, err := parseSince(in, now); err == nil || err.Error() != msg {
			t.Errorf("parseSince(%q) = %v, %v; want the error %q", in, got, err, msg)
		}
	}
}
