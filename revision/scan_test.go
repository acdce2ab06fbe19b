package revision

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// treeParse parses YAML the way Parse did before the scan: yaml.v3's tree
// only.
func treeParse(data []byte) (*Doc, error) {
	doc := &Doc{Kind: YAML, Data: data}
	if err := checkText(data); err != nil {
		return nil, err
	}
	if err := parseYAMLTree(doc, DefaultLimits()); err != nil {
		return nil, err
	}
	return doc, nil
}

// scanCorpus is YAML the scan must take (true) or leave to yaml.v3 (false).
var scanCorpus = []struct {
	yaml string
	take bool
}{
	{"revision: 3\nname: x\n", true},
	{"# c\nrevision: 0 # kept\nitems:\n  - a\n  - b: 1\n    c: [x, z]\nempty: []\nobj: {}\nq: 'it''s'\nd: \"a # b\"\n", true},
	{"a:\n- x\n- y\nb:\n  - z\n", true},
	{"a:\n  b:\n    c:\n      d: 1\n  e: 2\nf: ~\n", true},
	{"a: 1\nb:\nc: 3\n", true},
	{"seq:\n  -\n    x: 1\n  - # empty item\n  - 3\n", true},
	{"a: 100%\nb: -5\nc: .5\nd: (x)\ne: héllo wörld\n", true},
	{"a: 1\na: 2\n", false},        // duplicate: yaml.v3's walk refuses it
	{"a: &x 1\nb: *x\n", false},    // anchors and aliases
	{"a: |\n  text\n", false},      // block scalar
	{"a: b\n  c\n", false},         // multi-line plain scalar
	{"a: b: c\n", false},           // invalid: yaml.v3's error
	{"a:\n  - x\n   - y\n", false}, // bad indentation
	{"revision: '3'\n", false},     // a quoted revision: refused by yaml.v3's path
	{"revision:\n", false},         // null revision
	{"revision: 03\n", false},      // leading zero
	{"- a\n- b\n", false},          // root sequence
	{"---\na: 1\n", false},         // document marker
	{"a: 1\r\nb: 2\r\n", false},    // CR line breaks
	{"a:\t1\n", false},             // tab
	{"\"a\": 1\n", false},          // quoted key
	{"true: 1\n", false},           // a key that is not a string
	{"<<: {a: 1}\n", false},        // merge key
	{"a: \"x\\ny\"\n", false},      // escapes
	{"a: [b, [c]]\n", false},       // nested flow
	{"a: {b: 1}\n", false},         // flow mapping with entries
	{"a: 'x'y\n", false},           // text after a quoted scalar
	{"a: \"x\"#c\n", false},        // comment without a space
	{"a: x:\n", false},             // trailing colon
	{"a: \u0085\n", false},         // NEL
	{"a: \U0001F600\n", false},     // beyond the BMP
	{"", false},                    // empty
	{"# only a comment\n", false},  //
	{"  a: 1\n", false},            // indented root
	{"a: 1\n- b\n", false},         // invalid
	{"a:\n  b: 1\n c: 2\n", false}, // invalid indentation
	{"a: -\n", false},              // block sequence inline: invalid
	{"a: @x\n", false},             // reserved indicator
	{"a: `x`\n", false},            // reserved indicator
	{"a: %x\n", false},             // indicator
	{"a:\n- - x\n", false},         // compact nested sequence
	{"a: [yes, no]\n", false},      // words the subset leaves alone
	{"a.b-c_d: 1\nA9: 2\n", true},  //
	{"a: ...\nb: x---\n", true},    // markers only count at column 0
	{"k: \"\"\nl: ''\n", true},     // empty quoted scalars
	{"k: [ a , b ]  # c\n", true},  //
	{"k: 'a''b' # c\n", true},      //
	{"k: v # c: d\n", true},        // a colon inside a comment
	{"k: a#b\n", true},             // # inside a plain scalar
	{"x:\n    - a\n    - b\nw: 1\n", true},
}

func TestScanSubset(t *testing.T) {
	for _, c := range scanCorpus {
		_, ok := scanYAML([]byte(c.yaml), DefaultLimits())
		if ok != c.take {
			t.Errorf("scanYAML(%q) took it: %v, want %v", c.yaml, ok, c.take)
		}
		if ok {
			checkAgrees(t, []byte(c.yaml))
		}
	}
	for _, name := range []string{"current_state.yaml"} {
		data := fixture(t, name)
		if _, ok := scanYAML(data, DefaultLimits()); !ok {
			t.Errorf("the scan leaves %s to yaml.v3", name)
		}
		checkAgrees(t, data)
	}
}

// checkAgrees asserts that a document the scan takes is valid for yaml.v3
// too, and that everything read from it is the same either way: the
// revision and its bytes, the keys, the value, stamping, and the changed
// keys against other versions.
func checkAgrees(t *testing.T, data []byte) {
	t.Helper()
	s, err := Parse(YAML, data, DefaultLimits())
	if err != nil {
		t.Fatalf("Parse(%q): %v", data, err)
	}
	if s.scan == nil {
		return // not taken by the scan
	}
	tr, err := treeParse(data)
	if err != nil {
		t.Fatalf("the scan took %q, which yaml.v3 refuses: %v", data, err)
	}
	if diff := sameTree(spanTree(data), tr.ymap, "root"); diff != "" {
		t.Errorf("%q: the scan's tree differs from yaml.v3's: %s", data, diff)
	}
	if s.HasRev != tr.HasRev || s.Rev != tr.Rev || s.revStart != tr.revStart || s.revEnd != tr.revEnd {
		t.Errorf("%q: scan revision %v %d [%d:%d], tree %v %d [%d:%d]", data, s.HasRev, s.Rev, s.revStart, s.revEnd, tr.HasRev, tr.Rev, tr.revStart, tr.revEnd)
	}
	if !reflect.DeepEqual(s.Keys(), tr.Keys()) {
		t.Errorf("%q: scan keys %q, tree keys %q", data, s.Keys(), tr.Keys())
	}
	sv, err1 := s.Value()
	tv, err2 := tr.Value()
	if err1 != nil || err2 != nil || !reflect.DeepEqual(sv, tv) {
		t.Errorf("%q: scan value %v (%v), tree value %v (%v)", data, sv, err1, tv, err2)
	}
	if !bytes.Equal(s.Stamped(s.Rev+7), tr.Stamped(tr.Rev+7)) {
		t.Errorf("%q: stamped differently", data)
	}
	a, _ := s.WithRevision(41)
	b, _ := tr.WithRevision(41)
	if !bytes.Equal(a, b) {
		t.Errorf("%q: WithRevision: %q vs %q", data, a, b)
	}
	// Changes: scanned against scanned, tree against tree, and mixed.
	other := []byte("revision: 1\nzz: 1\n")
	for _, o := range [][]byte{other, data} {
		so, _ := Parse(YAML, o, DefaultLimits())
		to, _ := treeParse(o)
		want := changesJSON(Changes(to, tr))
		for _, got := range []string{changesJSON(Changes(so, s)), changesJSON(Changes(to, s)), changesJSON(Changes(so, tr))} {
			if got != want {
				t.Errorf("Changes(%q → %q):\n got %s\nwant %s", o, data, got, want)
			}
		}
	}
}

// sameTree compares what yaml.v3 decodes (positions and comments aside).
func sameTree(a, b *yaml.Node, at string) string {
	if a == nil || b == nil {
		if a != b {
			return at + ": one tree is missing"
		}
		return ""
	}
	if a.Kind != b.Kind || a.Tag != b.Tag || a.Value != b.Value || a.Style != b.Style || len(a.Content) != len(b.Content) {
		return fmt.Sprintf("%s: kind %v/%v tag %q/%q value %q/%q style %v/%v len %d/%d", at, a.Kind, b.Kind, a.Tag, b.Tag, a.Value, b.Value, a.Style, b.Style, len(a.Content), len(b.Content))
	}
	for i := range a.Content {
		if d := sameTree(a.Content[i], b.Content[i], fmt.Sprintf("%s/%d", at, i)); d != "" {
			return d
		}
	}
	return ""
}

func changesJSON(c map[string]Change) string {
	j, _ := json.Marshal(c)
	return string(j)
}

// TestScanAgreesUnderMutation mutates YAML state files byte by byte with
// the characters YAML cares about, and checks every mutant the scan takes
// against yaml.v3: valid there too, and read the same.
func TestScanAgreesUnderMutation(t *testing.T) {
	seeds := [][]byte{fixture(t, "current_state.yaml")}
	for _, c := range scanCorpus {
		if c.take {
			seeds = append(seeds, []byte(c.yaml))
		}
	}
	if files, _ := filepath.Glob("testdata/fuzz/FuzzParse/*"); len(files) > 0 {
		for _, f := range files {
			if b, err := os.ReadFile(f); err == nil {
				if i := bytes.Index(b, []byte("[]byte(")); i >= 0 {
					var s string
					if _, err := fmt.Sscanf(strings.TrimSpace(string(b[i+len("[]byte("):])), "%q", &s); err == nil {
						seeds = append(seeds, []byte(s))
					}
				}
			}
		}
	}
	alphabet := []string{" ", "  ", "\n", "\n  ", "\n- ", "- ", ":", ": ", "#", " #", "'", "\"", "[", "]", "{", "}", ",", "-", "a", "revision: 1\n", "revision", "&a", "*a", "|", ">", "?", "!", "%", "\t", "\\", "é", "\u0085", "x: y", "0", "09"}
	n := 20000
	if testing.Short() {
		n = 2000
	}
	r := rand.New(rand.NewSource(1))
	taken := 0
	for i := 0; i < n; i++ {
		m := append([]byte(nil), seeds[r.Intn(len(seeds))]...)
		for k := 1 + r.Intn(3); k > 0; k-- {
			pos := 0
			if len(m) > 0 {
				pos = r.Intn(len(m) + 1)
			}
			switch r.Intn(3) {
			case 0: // insert
				m = append(m[:pos], append([]byte(alphabet[r.Intn(len(alphabet))]), m[pos:]...)...)
			case 1: // delete a few bytes
				end := min(len(m), pos+1+r.Intn(4))
				m = append(m[:pos], m[end:]...)
			default: // replace
				end := min(len(m), pos+1)
				m = append(m[:pos], append([]byte(alphabet[r.Intn(len(alphabet))]), m[end:]...)...)
			}
		}
		if _, ok := scanYAML(m, DefaultLimits()); ok {
			taken++
			checkAgrees(t, m)
			if t.Failed() {
				t.Fatalf("mutant %d: %q", i, m)
			}
		}
	}
	if taken < n/20 {
		t.Errorf("the scan took only %d of %d mutants: the test checks little", taken, n)
	}
}

func BenchmarkScanYAML(b *testing.B) {
	data := fixture(b, "current_state.yaml")
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, ok := scanYAML(data, DefaultLimits()); !ok {
			b.Fatal("not taken")
		}
	}
}

// TestScanDepthLimit: a limit the scan's document exceeds leaves the
// verdict to yaml.v3's walk, whatever the limit.
func TestScanDepthLimit(t *testing.T) {
	for depth := 1; depth <= 12; depth++ {
		lim := Limits{MaxDepth: depth}
		for _, doc := range []string{"a: 1\n", "a: [x]\n", "a:\n  b: [x]\n", "a:\n  - b:\n      c: {}\n", strings.Repeat("  ", 0) + "a:\n  b:\n    c:\n      d:\n        e:\n          f: 1\n"} {
			_, scanErr := Parse(YAML, []byte(doc), lim)
			d := &Doc{Kind: YAML, Data: []byte(doc)}
			treeErr := parseYAMLTree(d, lim.withDefaults())
			if (scanErr == nil) != (treeErr == nil) {
				t.Errorf("depth %d, %q: Parse says %v, yaml.v3's walk %v", depth, doc, scanErr, treeErr)
			}
		}
	}
}
