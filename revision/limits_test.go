package revision

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
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

// TestHostileYAML checks that bombs and deep documents are refused, quickly.
// The time bound is a generous upper bound; each takes milliseconds.
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
			start := time.Now()
			_, err := Parse(tt.kind, []byte(tt.data), tt.lim)
			took := time.Since(start)
			wantInvalid(t, err, tt.want)
			if took > time.Second && !raceEnabled {
				t.Fatalf("took %v", took)
			}
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
	start := time.Now()
	_, err := Parse(YAML, []byte(indented(10000)), DefaultLimits())
	var tl *TooLargeError
	if !errors.As(err, &tl) || time.Since(start) > time.Second && !raceEnabled {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
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
