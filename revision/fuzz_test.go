package revision

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"testing"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// FuzzParse checks that Parse never panics nor returns an unexpected error
// type, that the JSON scanner agrees with encoding/json, and that stamping
// any accepted revision changes only the revision scalar.
func FuzzParse(f *testing.F) {
	f.Add([]byte("revision: 11   # comment\nx: [1, {a: b}]\n"), byte(YAML), int64(12))
	f.Add([]byte("{\"revision\": 3, \"a\": [1, 2.5, \"x\"]}"), byte(JSON), int64(100))
	f.Add([]byte("{\"a\": 1}\n\n[2]\n"), byte(JSONL), int64(0))
	f.Add([]byte("a: &a [1, 2]\nb: *a\nc: {<<: {x: 1}}\n"), byte(YAML), int64(5))
	f.Fuzz(func(t *testing.T, data []byte, kind byte, rev int64) {
		k := Kind(kind % 4)
		d, err := Parse(k, data, DefaultLimits())
		if err != nil {
			var inv *InvalidError
			var tl *TooLargeError
			if !errors.As(err, &inv) && !errors.As(err, &tl) {
				t.Fatalf("unexpected error type %T: %v", err, err)
			}
			if d != nil {
				t.Fatal("Doc and error both returned")
			}
		}
		if k == JSON && utf8.Valid(data) && bytes.IndexByte(data, 0) < 0 {
			s := jsonScanner{data: data, maxDepth: 10000}
			if got, want := s.scan() == nil, json.Valid(data); got != want {
				t.Fatalf("scanner valid=%v, encoding/json valid=%v", got, want)
			}
		}
		if d == nil {
			return
		}
		if d.isMap {
			if c := Changes(d, d); c == nil || len(c) != 0 {
				t.Fatalf("Changes(d, d) = %v", c)
			}
		}
		if _, _, err := Check(d.Rev, -1, d, true); err != nil {
			t.Fatalf("Check(own revision): %v", err)
		}
		if d.HasRev {
			checkStamp(t, d, nonNegative(rev))
		}
	})
}

// FuzzStamp checks stamping on content that is likely to carry a revision:
// the input as is, and with a revision line before or after it.
func FuzzStamp(f *testing.F) {
	f.Add([]byte("revision: 11\n"), int64(12))
	f.Add([]byte("a: b # c\r\n"), int64(7))
	f.Add([]byte("{\"revision\" :\t0}"), int64(1))
	f.Add([]byte("é: \"☕\"\n"), int64(1000))
	f.Fuzz(func(t *testing.T, data []byte, rev int64) {
		r := nonNegative(rev)
		variants := []struct {
			kind Kind
			data []byte
		}{
			{YAML, data},
			{YAML, append([]byte("revision: 1\n"), data...)},
			{YAML, append(append([]byte{}, data...), "\nrevision: 1\n"...)},
			{JSON, data},
			{JSON, append([]byte(`{"revision": 1, "x": `), append(append([]byte{}, data...), '}')...)},
		}
		for _, v := range variants {
			d, err := Parse(v.kind, v.data, DefaultLimits())
			if err != nil || !d.HasRev {
				continue
			}
			out := checkStamp(t, d, r)
			// Stamping back restores the original bytes.
			d2, err := Parse(v.kind, out, DefaultLimits())
			if err != nil {
				t.Fatal(err)
			}
			if back := d2.Stamped(d.Rev); !bytes.Equal(back, v.data) {
				t.Fatalf("stamping back gave %q, want %q", back, v.data)
			}
		}
	})
}

// checkStamp stamps d with r and checks that the result parses with revision
// r, differs from d.Data only inside the revision scalar, and has the same
// values otherwise.
func checkStamp(t *testing.T, d *Doc, r int64) []byte {
	t.Helper()
	out := d.Stamped(r)
	tail := len(d.Data) - d.revEnd
	digits := strconv.FormatInt(r, 10)
	if len(out) != d.revStart+len(digits)+tail ||
		!bytes.Equal(out[:d.revStart], d.Data[:d.revStart]) ||
		string(out[d.revStart:len(out)-tail]) != digits ||
		!bytes.Equal(out[len(out)-tail:], d.Data[d.revEnd:]) {
		t.Fatalf("Stamped(%d) of %q = %q: changed more than bytes %d..%d", r, d.Data, out, d.revStart, d.revEnd)
	}
	d2, err := Parse(d.Kind, out, Limits{MaxSize: int64(len(out)) + 1})
	if err != nil {
		t.Fatalf("stamped %q does not parse: %v", out, err)
	}
	if !d2.HasRev || d2.Rev != r {
		t.Fatalf("stamped %q parses with Rev=%d HasRev=%v, want %d", out, d2.Rev, d2.HasRev, r)
	}
	if c := Changes(d, d2); c == nil || len(c) != 0 {
		t.Fatalf("stamping changed values: %v", c)
	}
	checkStampDecoded(t, d.Kind, d.Data, out, d.Rev, r)
	return out
}

// checkStampDecoded is an oracle independent of this package: a plain
// decoder (encoding/json, or yaml.v3 with no code of ours) reads the
// content before and after stamping. Before, its top-level revision is
// the one Parse found; after, it is r; every other value is the same. A
// stamp that found the wrong scalar (a nested one, a key named alike)
// fails here even if this package's own parser agrees with itself.
func checkStampDecoded(t *testing.T, kind Kind, before, after []byte, was, r int64) {
	t.Helper()
	m0, ok := plainDecode(kind, before)
	if !ok {
		return // beyond the plain decoder (a key that is not a string, a limit of its own)
	}
	m1, ok := plainDecode(kind, after)
	if !ok {
		t.Fatalf("the plain decoder reads %q but not its stamped %q", before, after)
	}
	if got := fmt.Sprint(m0["revision"]); got != strconv.FormatInt(was, 10) {
		t.Fatalf("in %q a plain decoder finds revision %s, Parse found %d", before, got, was)
	}
	if got := fmt.Sprint(m1["revision"]); got != strconv.FormatInt(r, 10) {
		t.Fatalf("stamped %d into %q: a plain decoder finds revision %s in %q", r, before, got, after)
	}
	delete(m0, "revision")
	delete(m1, "revision")
	if !reflect.DeepEqual(m0, m1) {
		t.Fatalf("stamping %q changed values other than the revision: %v, then %v", before, m0, m1)
	}
}

// plainDecode reads b with a decoder that shares no code with this
// package (encoding/json, yaml.v3): its top-level mapping, if b is one.
func plainDecode(kind Kind, b []byte) (map[string]any, bool) {
	var v any
	switch kind {
	case JSON:
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if dec.Decode(&v) != nil {
			return nil, false
		}
	case YAML:
		if yaml.Unmarshal(b, &v) != nil {
			return nil, false
		}
	default:
		return nil, false
	}
	m, ok := v.(map[string]any)
	return m, ok
}

func nonNegative(r int64) int64 {
	if r < 0 {
		return -(r + 1)
	}
	return r % math.MaxInt64
}
