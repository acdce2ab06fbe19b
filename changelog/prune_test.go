package changelog

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// Prune removes only the entries stamped before the cutoff; every other
// line, down to a torn last line, is copied byte for byte.
func TestPrune(t *testing.T) {
	long := `{"timestamp":"2020-01-01T00:00:00+00:00","x":"` + strings.Repeat("a", 100<<10) + `"}`
	in := strings.Join([]string{
		`{"timestamp":"2020-01-01T00:00:00.000000+00:00","op":"commit"}`,
		`not json at all`,
		`{"op":"no timestamp"}`,
		`{"timestamp":"2020-01-02T00:00:00","change_type":"progress"}`,
		`{"timestamp":"2026-11-28T00:00:00.000000+00:00","op":"commit"}`,
		``,
		long,
		`{"timestamp":"2020-01-01T00:00:00+00:00","op":"torn`,
	}, "\n")
	var out bytes.Buffer
	cutoff := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	removed, kept, err := Prune(&out, strings.NewReader(in), cutoff)
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Join([]string{
		`not json at all`,
		`{"op":"no timestamp"}`,
		`{"timestamp":"2026-11-28T00:00:00.000000+00:00","op":"commit"}`,
		``,
		long,
		`{"timestamp":"2020-01-01T00:00:00+00:00","op":"torn`,
	}, "\n")
	if removed != 2 || kept != 6 {
		t.Errorf("removed, kept = %d, %d; want 2, 6", removed, kept)
	}
	if out.String() != want {
		t.Errorf("pruned log:\n%.300q\nwant:\n%.300q", out.String(), want)
	}
}
