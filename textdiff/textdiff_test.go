package textdiff

import (
	"fmt"
	"math/rand"
	"strconv"
	"strings"
	"testing"
)

func TestUnifiedExample(t *testing.T) {
	// As diff -u: changes 7 lines apart make two hunks (6 apart, one).
	a := "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\n"
	b := "a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\nl\n"
	want := "--- old\n+++ new\n@@ -1,7 +1,7 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n@@ -9,3 +9,4 @@\n i\n j\n k\n+l\n"
	if got := Unified("old", "new", []byte(a), []byte(b), 3); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := Unified("a", "b", []byte("x"), []byte("x\n"), 3); got != "--- a\n+++ b\n@@ -1 +1 @@\n-x\n\\ No newline at end of file\n+x\n" {
		t.Errorf("no newline: got\n%s", got)
	}
	if got := Unified("a", "b", nil, []byte("x\ny\n"), 3); got != "--- a\n+++ b\n@@ -0,0 +1,2 @@\n+x\n+y\n" {
		t.Errorf("from empty: got\n%s", got)
	}
	if Unified("a", "b", []byte("same\n"), []byte("same\n"), 3) != "" {
		t.Error("equal texts gave a diff")
	}
}

// apply applies a unified diff made by Unified to a, checking each
// context and removed line, and returns the result.
func apply(t *testing.T, a []string, d string) []string {
	var out []string
	ls := strings.SplitAfter(d, "\n")
	pos := 0
	for i := 2; i < len(ls) && ls[i] != ""; i++ {
		l := ls[i]
		if strings.HasPrefix(l, "@@") {
			var as, an int
			f := strings.Fields(l)
			r := strings.Split(strings.TrimPrefix(f[1], "-"), ",")
			as, _ = strconv.Atoi(r[0])
			an = 1
			if len(r) == 2 {
				an, _ = strconv.Atoi(r[1])
			}
			if an == 0 {
				as++
			}
			for pos < as-1 {
				out = append(out, a[pos])
				pos++
			}
			continue
		}
		body := l[1:]
		if i+1 < len(ls) && strings.HasPrefix(ls[i+1], "\\") {
			body += ls[i+1]
			i++
		}
		switch l[0] {
		case ' ', '-':
			if pos >= len(a) || a[pos] != body {
				t.Fatalf("line %d: diff says %q, text has %q", pos+1, body, a[pos:])
			}
			if l[0] == ' ' {
				out = append(out, body)
			}
			pos++
		case '+':
			out = append(out, body)
		}
	}
	return append(out, a[pos:]...)
}

func TestUnifiedRandom(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	gen := func() []byte {
		var b strings.Builder
		for i := rng.Intn(30); i > 0; i-- {
			fmt.Fprintf(&b, "l%d\n", rng.Intn(6))
		}
		if rng.Intn(5) == 0 {
			b.WriteString("tail")
		}
		return []byte(b.String())
	}
	for i := 0; i < 3000; i++ {
		a, b := gen(), gen()
		d := Unified("a", "b", a, b, rng.Intn(4))
		got := strings.Join(apply(t, lines(a), d), "")
		if got != strings.Join(lines(b), "") {
			t.Fatalf("case %d: applying\n%s\nto %q gave %q, want %q", i, d, a, got, b)
		}
	}
}

// Texts too different for a fine diff still give a correct one, quickly
// and in little memory.
func TestUnifiedCoarse(t *testing.T) {
	var a, b strings.Builder
	for i := 0; i < 20000; i++ {
		fmt.Fprintf(&a, "a%d\n", i)
		fmt.Fprintf(&b, "b%d\n", i)
	}
	d := Unified("a", "b", []byte(a.String()), []byte(b.String()), 3)
	if got := strings.Join(apply(t, lines([]byte(a.String())), d), ""); got != b.String() {
		t.Fatal("the coarse diff does not turn a into b")
	}
}
