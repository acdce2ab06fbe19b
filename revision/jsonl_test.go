package revision

import (
	"os"
	"strings"
	"testing"
)

func TestParseJSONLValid(t *testing.T) {
	fixture, err := os.ReadFile("testdata/state_changes.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{
		"fixture":      string(fixture),
		"empty":        "",
		"one line":     "{\"a\": 1}\n",
		"blank lines":  "\n{\"a\": 1}\n\n  \t\n[2]\n",
		"CRLF":         "{\"a\": 1}\r\n{\"b\": 2}\r\n",
		"scalars":      "1\n\"x\"\nnull\n",
		"duplicates":   "{\"a\": 1, \"a\": 2}\n", // not checked in JSONL
		"depth 200":    strings.Repeat("[", 200) + strings.Repeat("]", 200) + "\n",
		"revision key": "{\"revision\": \"x\"}\n",
	} {
		t.Run(name, func(t *testing.T) {
			d := mustParse(t, JSONL, data)
			if d.HasRev || d.isMap {
				t.Fatalf("HasRev=%v isMap=%v, want false", d.HasRev, d.isMap)
			}
		})
	}
}

func TestParseJSONLInvalid(t *testing.T) {
	tests := []struct {
		name, data, want string
	}{
		{"unterminated", "{\"a\": 1}\n{\"b\": 2}", "jsonl: last line is not terminated by a newline"},
		{"torn last line", "{\"a\": 1}\n{\"b\": ", "jsonl: last line is not terminated by a newline"},
		{"trailing spaces", "{\"a\": 1}\n  ", "jsonl: last line is not terminated by a newline"},
		{"bad line", "{}\n{}\n{}\n{\"a\": x}\n", "jsonl: line 4 is not valid JSON: invalid character 'x' looking for beginning of value (column 7)"},
		{"two values on a line", "{} {}\n", "jsonl: line 1 is not valid JSON: invalid character '{' after top-level value (column 4)"},
		{"value across lines", "{\"a\":\n1}\n", "jsonl: line 1 is not valid JSON: unexpected end of JSON input"},
		{"too deep", "{}\n" + strings.Repeat("[", 201) + strings.Repeat("]", 201) + "\n", "jsonl: line 2: nesting deeper than 200"},
		{"NUL", "{}\n\x00\n", "NUL byte at byte 3"},
		{"invalid UTF-8", "\"\xff\"\n", "invalid UTF-8 at byte 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(JSONL, []byte(tt.data), DefaultLimits())
			wantInvalid(t, err, tt.want)
		})
	}
}
