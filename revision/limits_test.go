package revision

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

func TestDefaultLimits(t *testing.T) {
	want := Limits{MaxSize: 16 << 20, MaxDepth: 200, MaxAliasNodes: 1_000_000}
	if got := DefaultLimits(); got != want {
		t.Fatalf("DefaultLimits() = %+v", got)
	}
	if got := (Limits{MaxDepth: 5}).withDefaults(); got != (Limits{MaxSize: 16 << 20, MaxDepth: 5, MaxAliasNodes: 1_000_000}) {
		t.Fatalf("zero fields not defaulted: %+v", got)
	}
}

func TestTooLarge(t *testing.T) {
	lim := Limits{MaxSize: 10}
	for _, kind := range []Kind{None, YAML, JSON, JSONL} {
		// Even invalid content: the size is checked first.
		_, err := Parse(kind, []byte("\x00 this is eleven+"), lim)
		var tl *TooLargeError
		if !errors.As(err, &tl) || tl.Size != 17 || tl.Max != 10 {
			t.Errorf("%v: err = %v, want *TooLargeError{17, 10}", kind, err)
		}
		if _, err := Parse(kind, []byte("{}\n"), lim); err != nil && kind != YAML {
			t.Errorf("%v: small content refused: %v", kind, err)
		}
	}
	// None is checked for nothing but size.
	if _, err := Parse(None, []byte("\x00\xff{{{"), DefaultLimits()); err != nil {
		t.Errorf("None: %v", err)
	}
}

// billionLaughs returns a document whose aliases expand to width^levels
// scalars.
func billionLaughs(levels, width int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "l0: &l0 [%s]\n", strings.TrimSuffix(strings.Repeat(`"lol",`, width), ","))
	for i := 1; i <= levels; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d,", i-1), width), ","))
	}
	return b.String()
}

// indented returns n block mappings, each indented one space more.
func indented(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString(strings.Repeat(" ", i))
		b.WriteString("a:\n")
	}
	return b.String()
}

// TestHostileYAML checks that bombs and deep documents are refused, quickly:
// with work in proportion to their size, counted in allocations, which
// neither the machine's load nor the race detector changes. A bomb that was
// expanded, even only up to the limit, allocates for each of the million
// nodes it counted; these take a few per input byte. (How long they take is
// a figure: BenchmarkHostileYAML.)
func TestHostileYAML(t *testing.T) {
	big := Limits{MaxSize: 64 << 20}
	tests := []struct {
		name string
		kind Kind
		data string
		lim  Limits
		want string
	}{
		{"billion laughs", YAML, billionLaughs(9, 9), Limits{}, "yaml alias expansion exceeds 1000000 nodes"},
		{"10^25 laughs overflow int64", YAML, billionLaughs(25, 10), Limits{}, "yaml alias expansion exceeds 1000000 nodes"},
		{"200 levels of laughs", YAML, billionLaughs(200, 2), Limits{}, "nesting deeper than 200"},
		{"laughs in a key", YAML, billionLaughs(9, 9) + "? *l9\n: x\n", Limits{}, "yaml alias expansion exceeds 1000000 nodes"},
		{"merge bomb", YAML, mergeBomb(12), Limits{}, "yaml alias expansion exceeds 1000000 nodes"},
		{"small alias limit", YAML, billionLaughs(3, 9), Limits{MaxAliasNodes: 1000}, "yaml alias expansion exceeds 1000 nodes"},
		{"10,000 deep flow sequences", YAML, strings.Repeat("[", 10000) + strings.Repeat("]", 10000), Limits{}, "nesting deeper than 200"},
		{"10,000 deep flow mappings", YAML, strings.Repeat("{a: ", 10000) + "1" + strings.Repeat("}", 10000), Limits{}, "nesting deeper than 200"},
		{"10,000 deep block sequences", YAML, strings.Repeat("- ", 10000) + "x\n", Limits{}, "nesting deeper than 200"},
		{"10,000 indented levels", YAML, indented(10000), big, "nesting deeper than 200"},
		{"100,000 deep flow sequences", YAML, strings.Repeat("[", 100000) + strings.Repeat("]", 100000), Limits{}, "exceeded max depth of 10000"},
		{"100,000 unclosed", YAML, strings.Repeat("[", 100000), Limits{}, "exceeded max depth"},
		{"small depth limit", YAML, "a: {b: {c: 1}}\n", Limits{MaxDepth: 2}, "nesting deeper than 2"},
		{"10,000 deep JSON", JSON, strings.Repeat("[", 10000) + strings.Repeat("]", 10000), Limits{}, "nesting deeper than 200"},
		{"1,000,000 deep JSON", JSON, strings.Repeat(`{"a":`, 1000000), Limits{}, "nesting deeper than 200"},
		{"10,000 deep JSONL", JSONL, strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "\n", Limits{}, "jsonl: line 1: nesting deeper than 200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			work := parseWork(func() {
				_, err := Parse(tt.kind, []byte(tt.data), tt.lim)
				wantInvalid(t, err, tt.want)
			})
			t.Logf("%d input bytes: %d bytes allocated, %d allocations", len(tt.data), work.bytes, work.allocs)
			work.check(t, len(tt.data))
		})
	}
}

// mergeBomb returns n mappings, each merging the previous one ten times.
func mergeBomb(n int) string {
	var b strings.Builder
	b.WriteString("m0: &m0 {k0: 0}\n")
	for i := 1; i < n; i++ {
		fmt.Fprintf(&b, "m%d: &m%d {<<: [%s], k%d: %d}\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*m%d,", i-1), 10), ","), i, i)
	}
	return b.String()
}

func TestIndentedLevelsTooLargeByDefault(t *testing.T) {
	var err error
	data := []byte(indented(10000))
	w := parseWork(func() { _, err = Parse(YAML, data, DefaultLimits()) })
	var tl *TooLargeError
	if !errors.As(err, &tl) {
		t.Fatalf("err = %v", err)
	}
	w.check(t, len(data))
}

func TestAliasLimitCountsExpansionOnly(t *testing.T) {
	// 30 literal nodes, under a limit of 20 for aliases: no alias adds a
	// node, so the document is accepted.
	lim := Limits{MaxAliasNodes: 20}
	doc := "a: &x 1\nb: *x\n" + largeMapping(13)
	if _, err := Parse(YAML, []byte(doc), lim); err != nil {
		t.Fatalf("plain document refused: %v", err)
	}
	// One alias to a collection pushes it over.
	doc = "a: &x [1]\nb: *x\n" + largeMapping(13)
	_, err := Parse(YAML, []byte(doc), lim)
	wantInvalid(t, err, "yaml alias expansion exceeds 20 nodes")
}

func TestModerateAliasesAccepted(t *testing.T) {
	// 10^5 scalars after expansion: under the default limit.
	d := mustParse(t, YAML, billionLaughs(4, 10))
	if !d.isMap {
		t.Fatal("not a mapping")
	}
}

type work struct{ bytes, allocs uint64 }

// parseWork measures f's work in units that do not depend on the
// machine's load or on the race detector: bytes and objects allocated.
func parseWork(f func()) work {
	var a, b runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return work{b.TotalAlloc - a.TotalAlloc, b.Mallocs - a.Mallocs}
}

// check fails the test when w is more than a few allocations per input
// byte: the work of parsing, not of expanding.
func (w work) check(t *testing.T, inputBytes int) {
	t.Helper()
	maxAllocs := 4*uint64(inputBytes) + 1000
	maxBytes := 512*uint64(inputBytes) + 1<<20
	if w.allocs > maxAllocs || w.bytes > maxBytes {
		t.Fatalf("%d input bytes took %d allocations (%d bytes); want at most %d (%d bytes): more work than parsing them",
			inputBytes, w.allocs, w.bytes, maxAllocs, maxBytes)
	}
}

// BenchmarkHostileYAML times the refusal of a billion-laughs bomb and of
// 10,000 nested sequences: milliseconds each (docs/revisions.md).
func BenchmarkHostileYAML(b *testing.B) {
	for _, c := range []struct{ name, data string }{
		{"billion laughs", billionLaughs(9, 9)},
		{"10,000 deep flow sequences", strings.Repeat("[", 10000) + strings.Repeat("]", 10000)},
	} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if _, err := Parse(YAML, []byte(c.data), Limits{}); err == nil {
					b.Fatal("accepted")
				}
			}
		})
	}
}
