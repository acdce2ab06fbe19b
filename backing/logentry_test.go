package backing

import (
	"math"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/paracfs/paracfs/changelog"
)

// A commit acknowledged while the change log cannot take its line (a
// full disk: /dev/full stands in for it) gets that line, in order, once
// the log can be written again, and the log's mark is held back until
// then, so that a stop in between still recovers it at the next start.
func TestLogLineHeldUntilRoom(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "a.yaml", "a: 1\n")
	full, err := os.OpenFile("/dev/full", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Skip("no /dev/full:", err)
	}
	fw, _, err := changelog.NewWriter(full)
	if err != nil {
		t.Fatal(err)
	}
	d.log.mu.Lock()
	real, realF := d.log.w, d.log.f
	d.log.w, d.log.f = fw, full
	d.log.mu.Unlock()
	commit(t, d, "a.yaml", "a: 2\n") // acknowledged: the file is durable
	commit(t, d, "b.yaml", "b: 1\n")
	if !d.log.lost.Load() || d.log.nHeld.Load() != 2 {
		t.Fatalf("after two lines the log could not take: lost %v, held %d; want true, 2", d.log.lost.Load(), d.log.nHeld.Load())
	}
	d.log.mu.Lock()
	d.log.w, d.log.f = real, realF
	d.log.mu.Unlock()
	full.Close()
	commit(t, d, "a.yaml", "a: 3\n")
	var got []string
	for _, e := range logEntries(t, root) {
		if e.Revision != nil {
			got = append(got, e.Path+"@"+itoa(*e.Revision))
		}
	}
	want := "a.yaml@0 a.yaml@1 b.yaml@0 a.yaml@2"
	if s := join(got); s != want {
		t.Errorf("log lines %q, want %q: the held lines first, in order", s, want)
	}
	if d.log.lost.Load() || d.log.nHeld.Load() != 0 {
		t.Errorf("after the held lines were written: lost %v, held %d; want false, 0", d.log.lost.Load(), d.log.nHeld.Load())
	}
}

func itoa(n int64) string {
	return strconv.FormatInt(n, 10)
}

func join(s []string) string { return strings.Join(s, " ") }

// A line that cannot be encoded is not held: it would never be written,
// and would stop every line after it.
func TestLogLineUnencodableNotHeld(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	e := d.entry(changelog.OpWarning, "", testCaller)
	e.NewValue = math.NaN()
	d.appendLog(e)
	if d.log.nHeld.Load() != 0 {
		t.Fatalf("an unencodable line is held (%d)", d.log.nHeld.Load())
	}
	commit(t, d, "a.yaml", "a: 1\n")
	if es := logEntries(t, root); len(es) == 0 || es[len(es)-1].Path != "a.yaml" {
		t.Errorf("the line after an unencodable one is not in the log: %v", es)
	}
}
