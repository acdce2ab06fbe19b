package revision

import (
	"bytes"
	"encoding/json"
	"strconv"

	"gopkg.in/yaml.v3"
)

// IsMap reports whether the content is a YAML mapping or a JSON object, the
// only kinds of content that have top-level keys and can carry a revision.
func (d *Doc) IsMap() bool { return d.isMap }

// Keys returns the top-level keys of a YAML mapping or JSON object, in
// document order (YAML merge keys expanded); nil for other content.
func (d *Doc) Keys() []string {
	if !d.isMap {
		return nil
	}
	if d.scan != nil {
		keys := make([]string, len(d.scan.keys))
		for i, k := range d.scan.keys {
			keys[i] = k.key
		}
		return keys
	}
	if d.ymap != nil {
		entries := yamlEntries(d.ymap)
		keys := make([]string, len(entries))
		for i, e := range entries {
			keys[i] = e.key
		}
		return keys
	}
	keys := make([]string, len(d.jmembers))
	for i, m := range d.jmembers {
		keys[i] = m.key
	}
	return keys
}

// Value returns YAML or JSON content as the value encoding/json decodes it
// to with UseNumber (map[string]any, []any, json.Number, string, bool,
// nil), YAML aliases and merge keys expanded: the form JSON Schema
// validators take. Empty YAML is nil. Other kinds have no value: nil.
func (d *Doc) Value() (any, error) {
	var text []byte
	switch d.Kind {
	case JSON:
		text = d.Data
	case YAML:
		e := yamlEncoder{}
		if m := d.yamlRoot(); m != nil {
			e.node(m) // the tree Parse kept: no second decoding
		} else {
			var root yaml.Node
			if err := yaml.Unmarshal(d.Data, &root); err != nil {
				return nil, &InvalidError{Reason: err.Error()} // cannot happen: Parse accepted it
			}
			e.node(&root)
		}
		text = e.buf
	default:
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, invalidf("cannot read the content as JSON: %v", err)
	}
	return v, nil
}

// WithRevision returns the content carrying revision rev. A document that
// has the field gets only its scalar replaced, as Stamped does. A YAML
// block or flow mapping, or a JSON object, without the field gets
// `revision: rev` added as its first key, in the document's own
// indentation and line endings, every other byte unchanged. ok is false,
// and Data is returned, for other content, or for a mapping whose first
// key cannot be located safely (written after an anchor or a tag, or as an
// explicit `? key`).
func (d *Doc) WithRevision(rev int64) (out []byte, ok bool) {
	if d.HasRev {
		return d.Stamped(rev), true
	}
	if !d.isMap {
		return d.Data, false
	}
	num := strconv.FormatInt(rev, 10)
	if d.Kind == YAML && d.yamlRoot() != nil {
		return d.addYAMLRevision(num)
	}
	return d.addJSONRevision(num)
}

func (d *Doc) addYAMLRevision(num string) ([]byte, bool) {
	m := d.yamlRoot()
	if m.Style&yaml.FlowStyle != 0 {
		off := yamlOffset(d.Data, m.Line, m.Column)
		if off < 0 || off >= len(d.Data) || d.Data[off] != '{' {
			return d.Data, false
		}
		field := "revision: " + num
		if len(m.Content) > 0 {
			field += ", "
		} else if off+1 < len(d.Data) && d.Data[off+1] == '#' {
			field += " " // a comment needs a space before it: `{#c` must not become `{revision: 5#c`
		}
		return insertAt(d.Data, off+1, field), true
	}
	if len(m.Content) == 0 {
		return d.Data, false
	}
	k := m.Content[0]
	off := yamlOffset(d.Data, k.Line, k.Column)
	if off < 0 || k.Kind != yaml.ScalarNode || k.Anchor != "" || k.Style&(yaml.TaggedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 ||
		k.Line != m.Line || k.Column != m.Column {
		return d.Data, false // not a plain `key:` opening the mapping (an explicit `? key`, say)
	}
	// The key must be the first thing on its line, after spaces only, so
	// that the new line can take the same indentation.
	start := bytes.LastIndexAny(d.Data[:off], "\r\n") + 1
	indent := d.Data[start:off]
	if len(bytes.Trim(indent, " ")) != 0 {
		return d.Data, false
	}
	eol := "\n"
	if bytes.Contains(d.Data, []byte("\r\n")) {
		eol = "\r\n"
	}
	return insertAt(d.Data, off, "revision: "+num+eol+string(indent)), true
}

func (d *Doc) addJSONRevision(num string) ([]byte, bool) {
	open := bytes.IndexByte(d.Data, '{')
	if open < 0 {
		return d.Data, false
	}
	if len(d.jmembers) == 0 {
		return insertAt(d.Data, open+1, `"revision": `+num), true
	}
	// Reuse the space between the brace and the first key, so that a
	// pretty-printed object stays pretty and a compact one compact.
	i := open + 1
	for i < len(d.Data) && (d.Data[i] == ' ' || d.Data[i] == '\t' || d.Data[i] == '\n' || d.Data[i] == '\r') {
		i++
	}
	if i >= len(d.Data) || d.Data[i] != '"' {
		return d.Data, false
	}
	space := string(d.Data[open+1 : i])
	if space == "" {
		return insertAt(d.Data, i, `"revision":`+num+`,`), true
	}
	return insertAt(d.Data, i, `"revision": `+num+`,`+space), true
}

func insertAt(b []byte, off int, s string) []byte {
	out := make([]byte, 0, len(b)+len(s))
	out = append(out, b[:off]...)
	out = append(out, s...)
	return append(out, b[off:]...)
}
