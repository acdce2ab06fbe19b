package changelog

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// FuzzLast feeds any bytes to Last, with any block size: it must not panic,
// must return only entries whose Raw is one valid JSON line of the input,
// must agree with Scan, and its n newest must be the tail of all.
func FuzzLast(f *testing.F) {
	f.Add([]byte(`{"timestamp":"2026-11-27T23:53:45.653104+00:00","op":"commit","path":"a.yaml"}`+"\n"), uint16(7), uint8(1))
	f.Add([]byte("{\"a\":1}\n\n{\"b\"\n[1]\n{}"), uint16(3), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, block uint16, n uint8) {
		bs := int(block%300) + 1
		const maxLine = 1 << 10
		all, err := last(bytes.NewReader(data), int64(len(data)), Filter{}, 0, bs, maxLine)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range all {
			if !json.Valid(e.Raw) || bytes.IndexByte(e.Raw, '\n') >= 0 || len(e.Raw) > maxLine {
				t.Fatalf("bad Raw %q", e.Raw)
			}
			if !bytes.Contains(append(append([]byte{'\n'}, data...), '\n'), append(append([]byte{'\n'}, e.Raw...), '\n')) {
				t.Fatalf("Raw %q is not a line of the input", e.Raw)
			}
		}
		var scanned []*Entry
		if err := scanLines(bytes.NewReader(data), 16, maxLine, func(l []byte) bool {
			if e := parseLine(l); e != nil {
				scanned = append(scanned, e)
			}
			return true
		}); err != nil {
			t.Fatal(err)
		}
		if len(scanned) != len(all) {
			t.Fatalf("Last read %d entries, Scan %d", len(all), len(scanned))
		}
		for i := range all {
			if !bytes.Equal(all[i].Raw, scanned[i].Raw) {
				t.Fatalf("entry %d: Last %q, Scan %q", i, all[i].Raw, scanned[i].Raw)
			}
		}
		some, err := last(bytes.NewReader(data), int64(len(data)), Filter{}, int(n), bs, maxLine)
		if err != nil {
			t.Fatal(err)
		}
		if n > 0 && len(all) > int(n) {
			all = all[len(all)-int(n):]
		}
		if len(some) != len(all) {
			t.Fatalf("Last(n=%d) read %d entries, want %d", n, len(some), len(all))
		}
		for i := range some {
			if !bytes.Equal(some[i].Raw, all[i].Raw) {
				t.Fatalf("Last(n=%d) entry %d: %q, want %q", n, i, some[i].Raw, all[i].Raw)
			}
		}
		// The public API with its own block size, and Format, survive it too.
		pub, err := Last(strings.NewReader(string(data)), int64(len(data)), Filter{Path: "*.yaml", Since: testTime}, 3)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range pub {
			if !json.Valid(e.Raw) {
				t.Fatalf("bad Raw %q", e.Raw)
			}
			_ = Format(e)
		}
	})
}
