package revision

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestParseYAMLFixture(t *testing.T) {
	data, err := os.ReadFile("testdata/current_state.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(KindOf("current_state.yaml"), data, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	if !d.HasRev || d.Rev != 11 {
		t.Fatalf("Rev = %d, HasRev = %v; want 11, true", d.Rev, d.HasRev)
	}
	if got := string(data[d.revStart:d.revEnd]); got != "11" {
		t.Fatalf("revision scalar bytes = %q", got)
	}
}

func TestParseYAMLValid(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		rev    int64
		hasRev bool
		isMap  bool
	}{
		{"empty", "", 0, false, false},
		{"comments only", "# nothing here\n# yet\n", 0, false, false},
		{"explicit start", "---\nrevision: 3\n", 3, true, true},
		{"explicit end", "revision: 3\n...\n", 3, true, true},
		{"no revision", "a: 1\nb: [x, y]\n", 0, false, true},
		{"zero", "revision: 0\n", 0, true, true},
		{"largest revision that can still be followed", "revision: 9223372036854775806\n", 9223372036854775806, true, true},
		{"quoted key", "\"revision\": 4\n", 4, true, true},
		{"single quoted key", "'revision': 4\n", 4, true, true},
		{"flow mapping", "{a: 1, revision: 7}", 7, true, true},
		{"comment after", "revision: 11   # bumped by save_state\n", 11, true, true},
		{"value on next line", "revision:\n  12\n", 12, true, true},
		{"nested revision is not the field", "a:\n  revision: \"x\"\n", 0, false, true},
		{"scalar document", "hello\n", 0, false, false},
		{"sequence document", "- revision: 3\n", 0, false, false},
		{"anchors and aliases", "a: &x [1, 2]\nb: *x\n", 0, false, true},
		{"merge key", "base: &b {x: 1}\nm:\n  <<: *b\n  y: 2\n", 0, false, true},
		{"same key text, different tags", "1: a\n\"1\": b\n", 0, false, true},
		{"depth 200", repeat("[", 200) + repeat("]", 200), 0, false, false},
		{"byte order mark", "\uFEFFrevision: 5\n", 5, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustParse(t, YAML, tt.data)
			if d.Rev != tt.rev || d.HasRev != tt.hasRev || d.isMap != tt.isMap {
				t.Fatalf("Rev=%d HasRev=%v isMap=%v; want %d %v %v", d.Rev, d.HasRev, d.isMap, tt.rev, tt.hasRev, tt.isMap)
			}
		})
	}
}

func TestParseYAMLInvalid(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"syntax", "a: 1\nb: c: d\n", "yaml: line 2: mapping values are not allowed in this context"},
		{"unclosed flow", "a: [1, 2\n", "yaml: line"},
		{"two documents", "a: 1\n---\nb: 2\n", "multi-document YAML is not allowed"},
		{"trailing empty document", "a: 1\n---\n", "multi-document YAML is not allowed"},
		{"error in second document", "a: 1\n---\n[\n", "yaml: line"},
		{"duplicate key", "a: 1\nb: 2\na: 3\n", `duplicate key "a" at line 3`},
		{"duplicate quoted key", "a: 1\n\"a\": 2\n", `duplicate key "a" at line 2`},
		{"duplicate nested key", "x:\n  - y: 1\n    y: 2\n", `duplicate key "y" at line 3`},
		{"duplicate key in flow", "x: {a: 1, a: 2}\n", `duplicate key "a" at line 1`},
		{"duplicate in large mapping", largeMapping(20) + "k3: again\n", `duplicate key "k3" at line 21`},
		{"duplicate revision", "revision: 1\nrevision: 2\n", `duplicate key "revision" at line 2`},
		{"too deep", repeat("[", 201) + repeat("]", 201), "nesting deeper than 200"},
		{"too deep through aliases", "a: &a " + repeat("[", 150) + repeat("]", 150) + "\nb: " + repeat("[", 60) + "*a" + repeat("]", 60) + "\n", "nesting deeper than 200"},
		{"alias cycle", "a: &a [*a]\n", "alias *a refers to a node that contains it"},
		{"NUL byte", "a: 1\nb: x\x00y\n", "NUL byte at byte 9"},
		{"invalid UTF-8", "a: 1\nb: caf\xe9\n", "invalid UTF-8 at byte 11"},
		{"NUL after invalid UTF-8", "\xff\x00", "invalid UTF-8 at byte 0"},
		{"control character", "a: \x07\n", "yaml: control characters are not allowed"},
		{"revision string", "revision: \"12\"\n", `revision must be a non-negative integer, got "12"`},
		{"revision single quoted", "revision: '12'\n", `revision must be a non-negative integer, got "12"`},
		{"revision float", "revision: 12.5\n", "revision must be a non-negative integer, got 12.5"},
		{"revision negative", "revision: -1\n", "revision must be a non-negative integer, got -1"},
		{"revision overflow", "revision: 99999999999999999999\n", "revision must be a non-negative integer, got 99999999999999999999"},
		{"revision null", "revision:\n", "revision must be a non-negative integer, got null"},
		{"revision tilde", "revision: ~\n", "revision must be a non-negative integer, got null"},
		{"revision list", "revision: [1]\n", "revision must be a non-negative integer, got a sequence"},
		{"revision mapping", "revision: {a: 1}\n", "revision must be a non-negative integer, got a mapping"},
		{"revision alias", "x: &r 3\nrevision: *r\n", "revision must be a non-negative integer, got an alias"},
		{"revision hex", "revision: 0x0B\n", "revision must be a non-negative integer, got 0x0B"},
		{"revision leading zero", "revision: 011\n", "revision must be a non-negative integer, got 011"},
		{"revision plus sign", "revision: +11\n", "revision must be a non-negative integer, got +11"},
		{"revision underscore", "revision: 1_000\n", "revision must be a non-negative integer, got 1_000"},
		{"revision block scalar", "revision: |\n  12\n", `revision must be a non-negative integer, got "12\n"`},
		{"revision tagged", "revision: !!int 12\n", "revision must be a plain integer, without tag or anchor"},
		{"revision anchored", "revision: &r 12\n", "revision must be a plain integer, without tag or anchor"},
		{"revision bool", "revision: true\n", "revision must be a non-negative integer, got true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(YAML, []byte(tt.data), DefaultLimits())
			if d != nil {
				t.Fatalf("got a Doc, want an error")
			}
			wantInvalid(t, err, tt.want)
		})
	}
}

func repeat(s string, n int) string { return strings.Repeat(s, n) }

// largeMapping returns n lines "k0: 0" … with keys k0 to k(n-1).
func largeMapping(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "k%d: %d\n", i, i)
	}
	return b.String()
}
