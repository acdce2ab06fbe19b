package changelog

import (
	"testing"
	"time"
)

func TestTimestamp(t *testing.T) {
	tm := time.Date(2026, 11, 27, 23, 53, 45, 653104999, time.UTC)
	if got, want := Timestamp(tm), "2026-11-27T23:53:45.653104+00:00"; got != want {
		t.Errorf("Timestamp = %q, want %q", got, want)
	}
	// Another zone is converted to UTC; whole seconds keep their zeros.
	tm = time.Date(2026, 11, 28, 1, 0, 0, 0, time.FixedZone("CET", 3600))
	if got, want := Timestamp(tm), "2026-11-28T00:00:00.000000+00:00"; got != want {
		t.Errorf("Timestamp = %q, want %q", got, want)
	}
	back, err := ParseTime(Timestamp(tm))
	if err != nil || !back.Equal(tm) {
		t.Errorf("ParseTime(Timestamp(t)) = %v, %v; want %v", back, err, tm)
	}
}

func TestParseTime(t *testing.T) {
	utc := func(h, m, s, ns int) time.Time { return time.Date(2026, 11, 19, h, m, s, ns, time.UTC) }
	for _, c := range []struct {
		in   string
		want time.Time
	}{
		{"2026-11-19T09:12:03.114512", utc(9, 12, 3, 114512000)}, // paracle: no offset = UTC
		{"2026-11-19T09:12:03", utc(9, 12, 3, 0)},
		{"2026-11-19 09:12:03.5", utc(9, 12, 3, 500000000)},
		{"2026-11-19T09:12", utc(9, 12, 0, 0)},
		{"2026-11-19", utc(0, 0, 0, 0)},
		{"2026-11-19T09:12:03.114512+00:00", utc(9, 12, 3, 114512000)},
		{"2026-11-19T09:12:03Z", utc(9, 12, 3, 0)},
		{"2026-11-19T10:12:03.1+01:00", utc(9, 12, 3, 100000000)},
		{"2026-11-19T10:12:03+0100", utc(9, 12, 3, 0)},
		{"2026-11-19T04:12:03-05", utc(9, 12, 3, 0)},
		{" 2026-11-19T09:12:03.123456789Z ", utc(9, 12, 3, 123456789)},
	} {
		got, err := ParseTime(c.in)
		if err != nil || !got.Equal(c.want) {
			t.Errorf("ParseTime(%q) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
	for _, bad := range []string{"", "yesterday", "2026-13-19T09:12:03", "2026-11-19T09:12:03+25:00x", "1732000000"} {
		if got, err := ParseTime(bad); err == nil {
			t.Errorf("ParseTime(%q) = %v, want an error", bad, got)
		}
	}
}

func TestHasOffset(t *testing.T) {
	for in, want := range map[string]bool{
		"2026-11-19T09:12:03.114512":       false,
		"2026-11-19T09:12:03.114512+00:00": true,
		"2026-11-19T09:12:03-05:00":        true,
		"2026-11-19T09:12:03Z":             true,
		"2026-11-19":                       false,
		"":                                 false,
	} {
		if got := hasOffset(in); got != want {
			t.Errorf("hasOffset(%q) = %v, want %v", in, got, want)
		}
	}
}
