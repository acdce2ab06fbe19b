package revision

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestWithRevision(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		data string
		want string
		ok   bool
	}{
		{"yaml block, comments kept", YAML, "# state\nproject: x   # c\nphase: 2\n", "# state\nrevision: 7\nproject: x   # c\nphase: 2\n", true},
		{"yaml after document start", YAML, "---\na: 1\n", "---\nrevision: 7\na: 1\n", true},
		{"yaml indented mapping", YAML, "  a: 1\n  b: 2\n", "  revision: 7\n  a: 1\n  b: 2\n", true},
		{"yaml crlf", YAML, "a: 1\r\nb: 2\r\n", "revision: 7\r\na: 1\r\nb: 2\r\n", true},
		{"yaml flow", YAML, "{a: 1, b: 2}\n", "{revision: 7, a: 1, b: 2}\n", true},
		{"yaml empty flow", YAML, "{}\n", "{revision: 7}\n", true},
		{"yaml has the field", YAML, "a: 1\nrevision: 3 # c\n", "a: 1\nrevision: 7 # c\n", true},
		{"yaml anchored first key", YAML, "&k a: 1\nb: *k\n", "&k a: 1\nb: *k\n", false},
		{"yaml sequence", YAML, "- a\n- b\n", "- a\n- b\n", false},
		{"yaml scalar", YAML, "hello\n", "hello\n", false},
		{"json pretty", JSON, "{\n  \"a\": 1,\n  \"b\": [2]\n}\n", "{\n  \"revision\": 7,\n  \"a\": 1,\n  \"b\": [2]\n}\n", true},
		{"json compact", JSON, `{"a":1}`, `{"revision":7,"a":1}`, true},
		{"json empty", JSON, " {}\n", " {\"revision\": 7}\n", true},
		{"json array", JSON, "[1]", "[1]", false},
		{"json has the field", JSON, `{"revision": 2, "a": 1}`, `{"revision": 7, "a": 1}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := mustParse(t, tc.kind, tc.data).WithRevision(7)
			if string(got) != tc.want || ok != tc.ok {
				t.Fatalf("WithRevision(7) = %q, %v; want %q, %v", got, ok, tc.want, tc.ok)
			}
			if !ok {
				return
			}
			d := mustParse(t, tc.kind, string(got))
			if !d.HasRev || d.Rev != 7 {
				t.Fatalf("%q parses with revision %v %d, want 7", got, d.HasRev, d.Rev)
			}
		})
	}
}

func TestValueAndKeys(t *testing.T) {
	d := mustParse(t, YAML, "base: &b {x: 1}\nitem:\n  <<: *b\n  y: [true, null, 2.5]\n")
	v, err := d.Value()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"base": map[string]any{"x": json.Number("1")},
		"item": map[string]any{"x": json.Number("1"), "y": []any{true, nil, json.Number("2.5")}}}
	if !reflect.DeepEqual(v, want) {
		t.Fatalf("Value() = %#v, want %#v", v, want)
	}
	if got := d.Keys(); !reflect.DeepEqual(got, []string{"base", "item"}) {
		t.Fatalf("Keys() = %q", got)
	}
	j := mustParse(t, JSON, `{"b": 1, "a": {"c": "d"}}`)
	if got := j.Keys(); !reflect.DeepEqual(got, []string{"b", "a"}) {
		t.Fatalf("JSON Keys() = %q", got)
	}
	if v, _ := mustParse(t, JSON, `[1]`).Value(); !reflect.DeepEqual(v, []any{json.Number("1")}) {
		t.Fatalf("JSON array Value() = %#v", v)
	}
	if k := mustParse(t, YAML, "- a\n").Keys(); k != nil {
		t.Fatalf("a sequence has keys %q", k)
	}
}

// FuzzWithRevision checks that a revision field added to any mapping
// parses back with that revision and the same keys, and that a plain
// decoder (encoding/json, yaml.v3: no code of this package) reads the
// result as the input's values plus that top-level revision.
func FuzzWithRevision(f *testing.F) {
	f.Add([]byte("# c\na: 1\nb: [x]\n"), byte(YAML), int64(3))
	f.Add([]byte("  a: 1\r\n  b: 2\r\n"), byte(YAML), int64(0))
	f.Add([]byte("{a: 1, b: {c: d}}"), byte(YAML), int64(9))
	f.Add([]byte("{\n  \"a\": 1\n}\n"), byte(JSON), int64(12))
	f.Add([]byte("{}"), byte(JSON), int64(1))
	f.Fuzz(func(t *testing.T, data []byte, kind byte, rev int64) {
		k := YAML
		if kind%2 == 1 {
			k = JSON
		}
		d, err := Parse(k, data, DefaultLimits())
		if err != nil || d.HasRev {
			return
		}
		rev = nonNegative(rev)
		out, ok := d.WithRevision(rev)
		if !ok {
			if !bytes.Equal(out, data) {
				t.Fatalf("WithRevision gave up but changed the content: %q", out)
			}
			return
		}
		d2, err := Parse(k, out, DefaultLimits())
		if err != nil {
			t.Fatalf("WithRevision(%d) of %q gave %q, which does not parse: %v", rev, data, out, err)
		}
		if !d2.HasRev || d2.Rev != rev {
			t.Fatalf("WithRevision(%d) of %q gave %q, revision %v %d", rev, data, out, d2.HasRev, d2.Rev)
		}
		if got, want := strings.Join(d2.Keys(), "\x00"), strings.Join(append([]string{"revision"}, d.Keys()...), "\x00"); got != want {
			t.Fatalf("WithRevision of %q gave %q: keys %q, want %q", data, out, d2.Keys(), append([]string{"revision"}, d.Keys()...))
		}
		if c := Changes(d, d2); len(c) != 0 {
			t.Fatalf("WithRevision of %q changed values: %v", data, c)
		}
		m0, ok := plainDecode(k, data)
		if !ok {
			return // beyond the plain decoder (a key that is not a string, a limit of its own)
		}
		m1, ok := plainDecode(k, out)
		if !ok {
			t.Fatalf("a plain decoder reads %q but not %q, with a revision added", data, out)
		}
		if _, had := m0["revision"]; had {
			t.Fatalf("a plain decoder finds a top-level revision in %q, where Parse found none", data)
		}
		if got := fmt.Sprint(m1["revision"]); got != strconv.FormatInt(rev, 10) {
			t.Fatalf("WithRevision(%d) of %q gave %q: a plain decoder finds revision %s", rev, data, out, got)
		}
		delete(m1, "revision")
		if !reflect.DeepEqual(m0, m1) {
			t.Fatalf("WithRevision of %q gave %q: a plain decoder finds other values changed: %v, then %v", data, out, m0, m1)
		}
	})
}
