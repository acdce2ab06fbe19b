package revision

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestParseJSONValid(t *testing.T) {
	tests := []struct {
		name   string
		data   string
		rev    int64
		hasRev bool
		isMap  bool
	}{
		{"object", `{"a": 1, "b": [true, false, null], "c": {"d": "e"}}`, 0, false, true},
		{"revision", `{"revision": 11}`, 11, true, true},
		{"revision with space", " {\n\t\"revision\" :\r\n 11 \n}\n ", 11, true, true},
		{"escaped revision key", `{"revi\u0073ion": 2}`, 2, true, true},
		{"nested revision is not the field", `{"a": {"revision": "x"}}`, 0, false, true},
		{"array", `[{"revision": "x"}]`, 0, false, false},
		{"string", `"hello"`, 0, false, false},
		{"number", `-1.5e+10`, 0, false, false},
		{"empty object", `{}`, 0, false, true},
		{"escapes", `{"s": "\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"}`, 0, false, true},
		{"same key in different objects", `{"a": {"x": 1}, "b": {"x": 2}}`, 0, false, true},
		{"many keys", `{` + jsonKeys(40) + `}`, 0, false, true},
		{"depth 200", strings.Repeat("[", 200) + strings.Repeat("]", 200), 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !json.Valid([]byte(tt.data)) {
				t.Fatal("test data is not valid JSON")
			}
			d := mustParse(t, JSON, tt.data)
			if d.Rev != tt.rev || d.HasRev != tt.hasRev || d.isMap != tt.isMap {
				t.Fatalf("Rev=%d HasRev=%v isMap=%v; want %d %v %v", d.Rev, d.HasRev, d.isMap, tt.rev, tt.hasRev, tt.isMap)
			}
		})
	}
}

func jsonKeys(n int) string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = `"k` + strings.Repeat("x", i) + `": 1`
	}
	return strings.Join(keys, ", ")
}

func TestParseJSONInvalid(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"empty", ``, "json: line 1, column 1: unexpected end of JSON input"},
		{"blank", " \n", "json: line 2, column 1: unexpected end of JSON input"},
		{"truncated", `{"a": [1, 2`, "unexpected end of JSON input"},
		{"trailing comma", `{"a": 1,}`, `json: line 1, column 9: invalid character '}' looking for beginning of object key string`},
		{"missing colon", `{"a" 1}`, "invalid character '1' after object key"},
		{"missing comma", `{"a": 1 "b": 2}`, "invalid character '\"' after object key:value pair"},
		{"bad array", `[1 2]`, "invalid character '2' after array element"},
		{"single quotes", `{'a': 1}`, `invalid character '\'' looking for beginning of object key string`},
		{"bare word", `{"a": yes}`, "invalid character 'y' looking for beginning of value"},
		{"bad literal", `{"a": tru}`, "invalid character '}' in literal true (expecting 'e')"},
		{"leading zero", `{"a": 01}`, "invalid character '1' after object key:value pair"},
		{"bad number", `{"a": 1.}`, "invalid character '}' in numeric literal"},
		{"bad escape", `{"a": "\x"}`, "invalid character 'x' in string escape code"},
		{"bad unicode escape", `{"a": "\u12g4"}`, `invalid character 'g' in \u hexadecimal character escape`},
		{"raw newline in string", "{\"a\": \"x\ny\"}", `invalid character '\n' in string literal`},
		{"trailing data", `{"a": 1} x`, "json: line 1, column 10: invalid character 'x' after top-level value"},
		{"two values", "{}\n{}", "json: line 2, column 1: invalid character '{' after top-level value"},
		{"line and column", "{\n  \"a\": 1,\n  \"b\" 2\n}", "json: line 3, column 7: invalid character '2' after object key"},
		{"comment", "{} // c", "invalid character '/' after top-level value"},
		{"byte order mark", "\uFEFF{}", `invalid character '\ufeff' looking for beginning of value`},
		{"NUL byte", "{\"a\": \"\x00\"}", "NUL byte at byte 7"},
		{"invalid UTF-8", "{\"a\": \"\xc3\x28\"}", "invalid UTF-8 at byte 7"},
		{"duplicate key", "{\"a\": 1,\n \"a\": 2}", `duplicate key "a" at line 2`},
		{"duplicate nested key", `{"x": [{"y": 1, "y": 2}]}`, `duplicate key "y" at line 1`},
		{"duplicate escaped key", `{"a": 1, "\u0061": 2}`, `duplicate key "a" at line 1`},
		{"duplicate in large object", `{` + jsonKeys(20) + `, "kxxx": 2}`, `duplicate key "kxxx" at line 1`},
		{"duplicate revision", `{"revision": 1, "revision": 2}`, `duplicate key "revision" at line 1`},
		{"too deep", strings.Repeat("[", 201) + strings.Repeat("]", 201), "nesting deeper than 200"},
		{"too deep objects", strings.Repeat(`{"a":`, 201) + "1" + strings.Repeat("}", 201), "nesting deeper than 200"},
		{"revision string", `{"revision": "12"}`, `revision must be a non-negative integer, got "12"`},
		{"revision float", `{"revision": 12.0}`, "revision must be a non-negative integer, got 12.0"},
		{"revision exponent", `{"revision": 1e3}`, "revision must be a non-negative integer, got 1e3"},
		{"revision negative", `{"revision": -1}`, "revision must be a non-negative integer, got -1"},
		{"revision overflow", `{"revision": 99999999999999999999}`, "revision must be a non-negative integer, got 99999999999999999999"},
		{"revision null", `{"revision": null}`, "revision must be a non-negative integer, got null"},
		{"revision bool", `{"revision": true}`, "revision must be a non-negative integer, got true"},
		{"revision array", `{"revision": [1]}`, "revision must be a non-negative integer, got an array"},
		{"revision object", `{"revision": {}}`, "revision must be a non-negative integer, got an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse(JSON, []byte(tt.data), DefaultLimits())
			if d != nil {
				t.Fatal("got a Doc, want an error")
			}
			wantInvalid(t, err, tt.want)
		})
	}
}

// TestJSONScannerAgreesWithEncodingJSON checks the hand-written scanner
// against encoding/json on the fixtures and the test tables.
func TestJSONScannerAgreesWithEncodingJSON(t *testing.T) {
	fixture, err := os.ReadFile("testdata/mcp_config.json")
	if err != nil {
		t.Fatal(err)
	}
	inputs := []string{string(fixture), `{"a":1}`, `[1,2,3]`, `"x"`, `1`, `-0.0e-0`, ` true `, `{`, `}`, `[`, `-`, `1e`, `"\u"`, `nul`, `{"a":1,}`, `[1,]`, `{"a"}`, `{1:2}`}
	for _, s := range inputs {
		sc := jsonScanner{data: []byte(s), maxDepth: 10000}
		if got, want := sc.scan() == nil, json.Valid([]byte(s)); got != want {
			t.Errorf("%q: scanner valid=%v, encoding/json valid=%v", s, got, want)
		}
	}
	d := mustParse(t, JSON, string(fixture))
	if !d.isMap || d.HasRev || len(d.jmembers) != 1 || d.jmembers[0].key != "servers" {
		t.Fatalf("fixture parsed as %+v", d)
	}
}
