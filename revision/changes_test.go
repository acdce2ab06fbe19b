package revision

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// raw abbreviates an expected inline value.
func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestChanges(t *testing.T) {
	tests := []struct {
		name     string
		kind     Kind
		old, new string
		want     map[string]Change
	}{
		{
			name: "added, removed, changed",
			kind: YAML,
			old:  "revision: 3\nkeep: 1\ngone: [a, b]\nprogress: 35%\n",
			new:  "revision: 4\nkeep: 1\nprogress: 40%\nadded: {x: 1}\n",
			want: map[string]Change{
				"gone":     {Old: raw(`["a","b"]`)},
				"progress": {Old: raw(`"35%"`), New: raw(`"40%"`)},
				"added":    {New: raw(`{"x":1}`)},
			},
		},
		{
			name: "formatting, comments, key order and quoting are not changes",
			kind: YAML,
			old:  "a: {x: 1, y: [1, 2]}\nb: 'text'\nc: 1.50\n",
			new:  "# comment\nb: \"text\"   # same\na:\n  y:\n    - 1\n    - 2\n  x: 1\nc: 1.5\n",
			want: map[string]Change{},
		},
		{
			name: "null is not absence",
			kind: YAML,
			old:  "a: null\nb: 1\n",
			new:  "b: ~\nc:\n",
			want: map[string]Change{
				"a": {Old: raw(`null`)},
				"b": {Old: raw(`1`), New: raw(`null`)},
				"c": {New: raw(`null`)},
			},
		},
		{
			name: "YAML scalar types",
			kind: YAML,
			old:  "i: 0x10\nf: .inf\nb: true\nd: 2026-11-20\ns: \"a\\tb\"\n",
			new:  "i: 17\nf: 1e3\nb: false\nd: 2026-11-21\ns: \"<&>\"\n",
			want: map[string]Change{
				"i": {Old: raw(`16`), New: raw(`17`)},
				"f": {Old: raw(`".inf"`), New: raw(`1000`)},
				"b": {Old: raw(`true`), New: raw(`false`)},
				"d": {Old: raw(`"2026-11-20"`), New: raw(`"2026-11-21"`)},
				"s": {Old: raw(`"a\tb"`), New: raw(`"<&>"`)},
			},
		},
		{
			name: "aliases and merge keys are expanded",
			kind: YAML,
			old:  "base: &b {x: 1, y: 2}\nm:\n  <<: *b\n  y: 3\nl: *b\n",
			new:  "base: {x: 1, y: 2}\nm: {x: 1, y: 3}\nl: {y: 2, x: 5}\n",
			want: map[string]Change{
				"l": {Old: raw(`{"x":1,"y":2}`), New: raw(`{"x":5,"y":2}`)},
			},
		},
		{
			name: "non-string keys",
			kind: YAML,
			old:  "m: {1: a, true: b, null: c, [x]: d}\n",
			new:  "m: {1: a, true: b, null: c, [x]: e}\n",
			want: map[string]Change{
				"m": {Old: raw(`{"1":"a","[\"x\"]":"d","null":"c","true":"b"}`), New: raw(`{"1":"a","[\"x\"]":"e","null":"c","true":"b"}`)},
			},
		},
		{
			name: "JSON",
			kind: JSON,
			old:  `{"revision": 1, "a": {"x": 1, "y": 2}, "b": [1, 2.50], "c": "x", "d": true}`,
			new:  "{\n \"revision\": 2,\n \"a\": {\"y\": 2, \"x\": 1},\n \"b\": [1, 2.5],\n \"e\": null\n}",
			want: map[string]Change{
				"b": {Old: raw(`[1,2.50]`), New: raw(`[1,2.5]`)},
				"c": {Old: raw(`"x"`)},
				"d": {Old: raw(`true`)},
				"e": {New: raw(`null`)},
			},
		},
		{
			name: "only the revision changed",
			kind: JSON,
			old:  `{"revision": 1, "a": 1}`,
			new:  `{"revision": 2, "a": 1}`,
			want: map[string]Change{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Changes(mustParse(t, tt.kind, tt.old), mustParse(t, tt.kind, tt.new))
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Changes =\n%s\nwant\n%s", dump(got), dump(tt.want))
			}
		})
	}
}

func dump(m map[string]Change) string {
	b, err := json.Marshal(m)
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("%s (nil=%v)", b, m == nil)
}

func TestChangesCreatedDeleted(t *testing.T) {
	d := mustParse(t, YAML, "revision: 0\na: 1\n")
	if got, want := Changes(nil, d), (map[string]Change{"a": {New: raw(`1`)}}); !reflect.DeepEqual(got, want) {
		t.Errorf("created: %s", dump(got))
	}
	if got, want := Changes(d, nil), (map[string]Change{"a": {Old: raw(`1`)}}); !reflect.DeepEqual(got, want) {
		t.Errorf("deleted: %s", dump(got))
	}
	if got := Changes(nil, nil); got != nil {
		t.Errorf("nil, nil: %s", dump(got))
	}
}

func TestChangesNotMappings(t *testing.T) {
	m := mustParse(t, YAML, "a: 1\n")
	for _, other := range []*Doc{
		mustParse(t, YAML, "- a\n"),
		mustParse(t, YAML, ""),
		mustParse(t, YAML, "# only a comment\n"),
		mustParse(t, JSON, "[1]"),
		mustParse(t, JSONL, "{\"a\": 1}\n"),
		mustParse(t, None, "a: 1\n"),
	} {
		if got := Changes(m, other); got != nil {
			t.Errorf("Changes(mapping, %q) = %s, want nil", other.Data, dump(got))
		}
		if got := Changes(other, nil); got != nil {
			t.Errorf("Changes(%q, nil) = %s, want nil", other.Data, dump(got))
		}
	}
}

func TestChangesLongValues(t *testing.T) {
	// A JSON string of n characters encodes to n+2 bytes.
	at := strings.Repeat("x", maxInlineValue-2)
	over := strings.Repeat("y", maxInlineValue-1)
	old := mustParse(t, JSON, fmt.Sprintf(`{"at": %q, "over": 1}`, at))
	new := mustParse(t, JSON, fmt.Sprintf(`{"at": 1, "over": %q}`, over))
	got := Changes(old, new)
	sum := sha256.Sum256([]byte(`"` + over + `"`))
	want := map[string]Change{
		"at":   {Old: raw(`"` + at + `"`), New: raw(`1`)},
		"over": {Old: raw(`1`), New: fmt.Sprintf("<1025 bytes, sha256 %x…>", sum[:6])},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %s", dump(got))
	}
	if s := got["over"].New.(string); !strings.HasPrefix(s, "<1025 bytes, sha256 ") || len(s) != len("<1025 bytes, sha256 ")+12+len("…>") {
		t.Fatalf("summary %q", s)
	}
}

func TestChangesLongYAMLValues(t *testing.T) {
	// Two long values that differ only at the end, and one that is the same.
	long := "[" + strings.Repeat("1, ", 1000)
	old := mustParse(t, YAML, "a: "+long+"1]\nb: "+long+"1]\n")
	new := mustParse(t, YAML, "a: "+long+"2]\nb: "+long+"1]\n")
	got := Changes(old, new)
	if len(got) != 1 {
		t.Fatalf("got %s", dump(got))
	}
	o, n := got["a"].Old.(string), got["a"].New.(string)
	if !strings.HasPrefix(o, "<2003 bytes, sha256 ") || !strings.HasPrefix(n, "<2003 bytes, sha256 ") || o == n {
		t.Fatalf("got %q, %q", o, n)
	}
}

func TestChangesBoundedAliasExpansion(t *testing.T) {
	// Expands to about 10^5 nodes: within the limit, so Parse accepts it,
	// and Changes summarises it without building it.
	doc := "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
	got := Changes(mustParse(t, YAML, doc), mustParse(t, YAML, "a: 1\n"))
	s, _ := got["e"].Old.(string)
	if !strings.HasPrefix(s, "<222221 bytes, sha256 ") {
		t.Fatalf("got %s", dump(got))
	}
}

func TestChangeJSON(t *testing.T) {
	got := Changes(mustParse(t, YAML, "a: null\nb: 1\n"), mustParse(t, YAML, "b: 2\nc: x\n"))
	b, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"a":{"old":null},"b":{"old":1,"new":2},"c":{"new":"x"}}`; string(b) != want {
		t.Fatalf("got %s, want %s", b, want)
	}
}
