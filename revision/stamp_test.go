package revision

import (
	"bytes"
	"os"
	"testing"
)

func TestStamped(t *testing.T) {
	tests := []struct {
		name string
		kind Kind
		data string
		rev  int64
		want string
	}{
		{
			name: "comments and formatting kept",
			kind: YAML,
			data: "# Current project state.\nversion: \"1.17\"   # quoted\nrevision: 11\nproject:\n    name:   orbit-notes\n    tags: [a,  b]\n\n# trailing comment\n",
			rev:  12,
			want: "# Current project state.\nversion: \"1.17\"   # quoted\nrevision: 12\nproject:\n    name:   orbit-notes\n    tags: [a,  b]\n\n# trailing comment\n",
		},
		{
			name: "comment after the scalar",
			kind: YAML,
			data: "revision: 11   # comment\nx: 1\n",
			rev:  12,
			want: "revision: 12   # comment\nx: 1\n",
		},
		{
			name: "more digits",
			kind: YAML,
			data: "a: 1\nrevision: 9 # c\nb: 2\n",
			rev:  10,
			want: "a: 1\nrevision: 10 # c\nb: 2\n",
		},
		{
			name: "fewer digits",
			kind: YAML,
			data: "revision: 100\n",
			rev:  7,
			want: "revision: 7\n",
		},
		{
			name: "CRLF line endings",
			kind: YAML,
			data: "# state\r\nname: x\r\nrevision: 11\r\nlist:\r\n  - a\r\n",
			rev:  12,
			want: "# state\r\nname: x\r\nrevision: 12\r\nlist:\r\n  - a\r\n",
		},
		{
			name: "multi-byte characters before the scalar on its line",
			kind: YAML,
			data: "{título: \"café ☕\", \"ключ\": 日本, revision: 11, z: 1}\n",
			rev:  12,
			want: "{título: \"café ☕\", \"ключ\": 日本, revision: 12, z: 1}\n",
		},
		{
			name: "multi-byte characters on earlier lines",
			kind: YAML,
			data: "note: Ünïcödé ☃ 𝄞\r\nrevision: 3\r\n",
			rev:  4,
			want: "note: Ünïcödé ☃ 𝄞\r\nrevision: 4\r\n",
		},
		{
			name: "old Mac line endings",
			kind: YAML,
			data: "a: 1\rrevision: 5\rb: 2\r",
			rev:  6,
			want: "a: 1\rrevision: 6\rb: 2\r",
		},
		{
			name: "unicode line separators",
			kind: YAML,
			data: "a: 1\u0085b: 2\u2028revision: 5\n",
			rev:  6,
			want: "a: 1\u0085b: 2\u2028revision: 6\n",
		},
		{
			name: "byte order mark",
			kind: YAML,
			data: "\uFEFFrevision: 5\n",
			rev:  6,
			want: "\uFEFFrevision: 6\n",
		},
		{
			name: "tabs before the comment",
			kind: YAML,
			data: "revision: 5\t# tab\n",
			rev:  6,
			want: "revision: 6\t# tab\n",
		},
		{
			name: "quoted key, value on next line",
			kind: YAML,
			data: "\"revision\":\n    41\nz: 0\n",
			rev:  42,
			want: "\"revision\":\n    42\nz: 0\n",
		},
		{
			name: "after a multi-line quoted string",
			kind: YAML,
			data: "a: \"x\n  y\"\nrevision: 3\n",
			rev:  4,
			want: "a: \"x\n  y\"\nrevision: 4\n",
		},
		{
			name: "after a literal block",
			kind: YAML,
			data: "a: |\n  revision: 99\n  ok\nrevision: 3\n",
			rev:  4,
			want: "a: |\n  revision: 99\n  ok\nrevision: 4\n",
		},
		{
			name: "compact JSON",
			kind: JSON,
			data: `{"a":1,"revision":11,"b":[1,2]}`,
			rev:  12,
			want: `{"a":1,"revision":12,"b":[1,2]}`,
		},
		{
			name: "indented JSON",
			kind: JSON,
			data: "{\n  \"name\": \"x\",\n  \"revision\": 11,\n  \"list\": []\n}\n",
			rev:  12,
			want: "{\n  \"name\": \"x\",\n  \"revision\": 12,\n  \"list\": []\n}\n",
		},
		{
			name: "JSON with spaces around the colon and CRLF",
			kind: JSON,
			data: "{\r\n\t\"revision\"  :  9  ,\r\n\t\"é\" : \"ü\"\r\n}\r\n",
			rev:  10,
			want: "{\r\n\t\"revision\"  :  10  ,\r\n\t\"é\" : \"ü\"\r\n}\r\n",
		},
		{
			name: "JSON revision last",
			kind: JSON,
			data: `{"a":{"revision":"nested"},"revision":0}`,
			rev:  1,
			want: `{"a":{"revision":"nested"},"revision":1}`,
		},
		{
			name: "JSON escaped key",
			kind: JSON,
			data: `{"revi\u0073ion": 5}`,
			rev:  6,
			want: `{"revi\u0073ion": 6}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := mustParse(t, tt.kind, tt.data)
			if !d.HasRev {
				t.Fatal("HasRev = false")
			}
			got := d.Stamped(tt.rev)
			if string(got) != tt.want {
				t.Fatalf("Stamped(%d) =\n%q\nwant\n%q", tt.rev, got, tt.want)
			}
			again := mustParse(t, tt.kind, string(got))
			if !again.HasRev || again.Rev != tt.rev {
				t.Fatalf("stamped content parses with Rev %d, HasRev %v", again.Rev, again.HasRev)
			}
			if string(d.Data) != tt.data {
				t.Fatal("Stamped modified Data")
			}
		})
	}
}

func TestStampedFixture(t *testing.T) {
	data, err := os.ReadFile("testdata/current_state.yaml")
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse(YAML, data, DefaultLimits())
	if err != nil {
		t.Fatal(err)
	}
	want := bytes.Replace(data, []byte("\nrevision: 11\n"), []byte("\nrevision: 12\n"), 1)
	if got := d.Stamped(12); !bytes.Equal(got, want) {
		t.Fatalf("Stamped(12) changed more than the revision:\n%s", got)
	}
}

func TestStampedUnchanged(t *testing.T) {
	for _, tt := range []struct {
		kind Kind
		data string
		rev  int64
	}{
		{YAML, "revision: 11\n", 11},      // same revision
		{YAML, "a: 1\n", 5},               // no field
		{JSON, `{"revision": 3}`, 3},      // same revision
		{JSON, `[1, 2]`, 5},               // not an object
		{JSONL, "{\"revision\": 1}\n", 2}, // JSONL has no revision
		{None, "revision: 1\n", 2},        // not validated
		{YAML, "", 1},                     // empty
	} {
		d := mustParse(t, tt.kind, tt.data)
		got := d.Stamped(tt.rev)
		if len(got) > 0 && &got[0] != &d.Data[0] || string(got) != tt.data {
			t.Errorf("%v %q: Stamped(%d) = %q, want Data itself", tt.kind, tt.data, tt.rev, got)
		}
	}
}
