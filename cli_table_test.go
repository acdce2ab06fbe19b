package main

import (
	"os"
	"strings"
	"testing"
)

// Tables and colours as a terminal shows them.

func TestTableWrite(t *testing.T) {
	var tb table
	tb.add([]string{"REV", "TIME", "", "OP"}, nil)
	tb.add([]string{"1", "10:00", "", "commit"}, nil)
	tb.add([]string{"12", "9:00", "", "restore"}, nil)
	var b strings.Builder
	w := tb.write(&b, false, nil)
	want := "" +
		"REV  TIME   OP\n" +
		"1    10:00  commit\n" +
		"12   9:00   restore\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	if len(w) != 4 || w[0] != 3 || w[1] != 5 || w[2] != -1 || w[3] != 7 {
		t.Errorf("widths %v, want [3 5 -1 7]", w)
	}
	if len(tb.rows) != 0 || len(tb.colors) != 0 {
		t.Errorf("write left %d rows behind", len(tb.rows))
	}
}

// TestTableFollow checks that a followed stream stays aligned: widths only
// grow from one batch to the next, and the last column is not padded.
func TestTableFollow(t *testing.T) {
	var tb table
	var b strings.Builder
	tb.add([]string{"a-long-path", "x", "end"}, nil)
	w := tb.write(&b, false, nil)
	tb.add([]string{"p", "longer", "end"}, nil)
	w = tb.write(&b, false, w)
	want := "" +
		"a-long-path  x  end\n" +
		"p            longer  end\n"
	if b.String() != want {
		t.Errorf("followed:\n%q\nwant:\n%q", b.String(), want)
	}
	if w[0] != 11 || w[1] != 6 {
		t.Errorf("widths %v, want [11 6 ...]", w)
	}
}

// TestTableColour checks that widths count characters, not bytes,
// and that colours do not skew them.
func TestTableColour(t *testing.T) {
	var tb table
	tb.add([]string{"été", "b"}, []string{sgrRed, ""})
	tb.add([]string{"x", "y"}, []string{"", sgrGreen})
	var b strings.Builder
	tb.write(&b, true, nil)
	want := "\x1b[31mété\x1b[0m  b\n" +
		"x    \x1b[32my\x1b[0m\n"
	if b.String() != want {
		t.Errorf("coloured:\n%q\nwant:\n%q", b.String(), want)
	}
	tb.add([]string{"été", ""}, []string{sgrRed, sgrGreen})
	tb.add([]string{"x", ""}, nil)
	b.Reset()
	tb.write(&b, false, nil)
	if want := "été\nx\n"; b.String() != want {
		t.Errorf("uncoloured, empty last column:\n%q\nwant:\n%q", b.String(), want)
	}
}

func TestPaint(t *testing.T) {
	for _, tc := range []struct {
		on     bool
		sgr, s string
		want   string
	}{
		{true, sgrRed, "x", "\x1b[31mx\x1b[0m"},
		{false, sgrRed, "x", "x"},
		{true, "", "x", "x"},
		{true, sgrRed, "", ""},
	} {
		if got := paint(tc.on, tc.sgr, tc.s); got != tc.want {
			t.Errorf("paint(%v, %q, %q) = %q, want %q", tc.on, tc.sgr, tc.s, got, tc.want)
		}
	}
	for op, want := range map[string]string{
		"commit": sgrGreen, "restore": sgrGreen, "conflict": sgrRed + sgrBold, "append_only": sgrRed + sgrBold,
		"lock_busy": sgrRed + sgrBold, "delete": sgrYellow, "rotate": sgrYellow, "recover": sgrBlue, "external": sgrBlue, "config": sgrCyan, "": sgrCyan,
	} {
		if got := opColor(op); got != want {
			t.Errorf("opColor(%q) = %q, want %q", op, got, want)
		}
	}
}

func TestPaintDiff(t *testing.T) {
	diff := "--- a@1\n+++ a@2\n@@ -1,2 +1,2 @@\n same\n-old\n+new\n"
	if got := paintDiff(false, diff); got != diff {
		t.Errorf("paintDiff(off) changed the diff: %q", got)
	}
	want := "\x1b[1m--- a@1\x1b[0m\n\x1b[1m+++ a@2\x1b[0m\n\x1b[36m@@ -1,2 +1,2 @@\x1b[0m\n same\n\x1b[31m-old\x1b[0m\n\x1b[32m+new\x1b[0m\n"
	if got := paintDiff(true, diff); got != want {
		t.Errorf("paintDiff(on):\n%q\nwant:\n%q", got, want)
	}
	if got := paintDiff(true, "-no newline"); got != "\x1b[31m-no newline\x1b[0m" {
		t.Errorf("paintDiff of a last line without newline: %q", got)
	}
}

func TestUseColor(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	for mode, want := range map[string]bool{"always": true, "never": false} {
		if got, err := useColor(mode); err != nil || got != want {
			t.Errorf("useColor(%q) = %v, %v; want %v", mode, got, err, want)
		}
	}
	// auto: colour on a terminal only (go test's stdout is mostly not one).
	if got, err := useColor("auto"); err != nil || got != isTerminal(os.Stdout) {
		t.Errorf("useColor(auto) = %v, %v; want %v", got, err, isTerminal(os.Stdout))
	}
	t.Setenv("NO_COLOR", "1")
	if got, err := useColor(""); err != nil || got {
		t.Errorf("useColor(\"\") with NO_COLOR = %v, %v; want false", got, err)
	}
	if got, err := useColor("always"); err != nil || !got {
		t.Errorf("useColor(always) with NO_COLOR = %v, %v; want true (the flag wins)", got, err)
	}
	if _, err := useColor("yes"); err == nil || err.Error() != "--color yes: want auto, always or never" {
		t.Errorf("useColor(yes): %v", err)
	}
}
