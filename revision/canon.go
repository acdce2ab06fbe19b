package revision

import (
	"encoding/json"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// This file encodes values as canonical JSON: mapping keys sorted, no
// insignificant space, strings escaped as encoding/json does but without
// HTML escaping.

// appendGo appends the encoding of a value decoded by encoding/json with
// UseNumber. w, when not nil, is spilled to as the encoding grows.
func appendGo(b []byte, v any, w *canonWriter) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		return strconv.AppendBool(b, x)
	case json.Number:
		return append(b, x...)
	case string:
		return appendJSONString(b, x)
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = flushed(appendGo(b, e, w), w)
		}
		return append(b, ']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = flushed(appendGo(b, x[k], w), w)
		}
		return append(b, '}')
	}
	return append(b, "null"...)
}

// flushed hands b to w when it has grown, returning what remains to append to.
func flushed(b []byte, w *canonWriter) []byte {
	if w == nil {
		return b
	}
	w.buf = b
	w.spill()
	return w.buf
}

// yamlEncoder encodes YAML nodes, expanding aliases and merge keys. The
// tree has passed Parse, so it has no alias cycles and bounded expansion.
type yamlEncoder struct {
	w   *canonWriter // receives the encoding; nil to keep it all in b
	buf []byte       // the encoding when w is nil
}

func (e *yamlEncoder) bytes() *[]byte {
	if e.w != nil {
		return &e.w.buf
	}
	return &e.buf
}

func (e *yamlEncoder) node(n *yaml.Node) {
	b := e.bytes()
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			*b = append(*b, "null"...)
			return
		}
		e.node(n.Alias)
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			*b = append(*b, "null"...)
			return
		}
		e.node(n.Content[0])
	case yaml.ScalarNode:
		text, isString := scalarJSON(n)
		if isString {
			*b = appendJSONString(*b, text)
		} else {
			*b = append(*b, text...)
		}
	case yaml.SequenceNode:
		*b = append(*b, '[')
		for i, c := range n.Content {
			if i > 0 {
				*b = append(*b, ',')
			}
			e.node(c)
			e.w.spill()
		}
		*b = append(*b, ']')
	case yaml.MappingNode:
		entries := yamlEntries(n)
		slices.SortFunc(entries, func(a, b yamlEntry) int { return strings.Compare(a.key, b.key) })
		*b = append(*b, '{')
		for i, en := range entries {
			if i > 0 {
				*b = append(*b, ',')
			}
			*b = appendJSONString(*b, en.key)
			*b = append(*b, ':')
			e.node(en.value)
			e.w.spill()
		}
		*b = append(*b, '}')
	default:
		*b = append(*b, "null"...)
	}
}

// yamlEntry is one key of a mapping as JSON sees it.
type yamlEntry struct {
	key   string
	value *yaml.Node
}

// yamlEntries lists the keys of mapping m in document order, with the keys
// of merged mappings (`<<: *base`) that m does not set itself after them.
func yamlEntries(m *yaml.Node) []yamlEntry {
	out := make([]yamlEntry, 0, len(m.Content)/2)
	seen := make(map[string]int, len(m.Content)/2)
	var merges []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.ShortTag() == "!!merge" && mergeable(v) {
			merges = append(merges, v)
			continue
		}
		key := keyString(k)
		if at, ok := seen[key]; ok {
			out[at].value = v
			continue
		}
		seen[key] = len(out)
		out = append(out, yamlEntry{key, v})
	}
	for _, v := range merges {
		v = deref(v)
		sources := []*yaml.Node{v}
		if v.Kind == yaml.SequenceNode {
			sources = v.Content
		}
		for _, src := range sources {
			for _, en := range yamlEntries(deref(src)) {
				if _, ok := seen[en.key]; !ok {
					seen[en.key] = len(out)
					out = append(out, en)
				}
			}
		}
	}
	return out
}

func deref(n *yaml.Node) *yaml.Node {
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		return n.Alias
	}
	return n
}

// mergeable tells a merge key value: a mapping or a sequence of mappings.
func mergeable(v *yaml.Node) bool {
	v = deref(v)
	if v.Kind == yaml.MappingNode {
		return true
	}
	if v.Kind != yaml.SequenceNode {
		return false
	}
	for _, c := range v.Content {
		if deref(c).Kind != yaml.MappingNode {
			return false
		}
	}
	return true
}

// keyString is the JSON object key for a YAML mapping key: a scalar's text
// (canonical for numbers and booleans), or the encoding of a collection.
func keyString(k *yaml.Node) string {
	k = deref(k)
	if k.Kind == yaml.ScalarNode {
		text, _ := scalarJSON(k)
		return text
	}
	e := yamlEncoder{}
	e.node(k)
	return string(e.buf)
}

// scalarJSON returns the JSON for a YAML scalar: a literal (null, true, 16,
// 1.5) with isString false, or the text of a string. Timestamps, binary data,
// infinities, NaN and values of unknown tags keep their text as a string.
func scalarJSON(n *yaml.Node) (text string, isString bool) {
	v := n.Value
	switch n.ShortTag() {
	case "!!null":
		return "null", false
	case "!!bool":
		if v == "true" || v == "false" {
			return v, false
		}
		var b bool
		if n.Decode(&b) == nil {
			return strconv.FormatBool(b), false
		}
	case "!!int", "!!float":
		if i, err := strconv.ParseInt(v, 10, 64); err == nil && strconv.FormatInt(i, 10) == v {
			return v, false // already canonical: the common case, without reflection
		}
		var x any
		if n.Decode(&x) != nil {
			break
		}
		switch x := x.(type) {
		case int:
			return strconv.Itoa(x), false
		case int64:
			return strconv.FormatInt(x, 10), false
		case uint64:
			return strconv.FormatUint(x, 10), false
		case float64:
			if !math.IsInf(x, 0) && !math.IsNaN(x) {
				return strconv.FormatFloat(x, 'g', -1, 64), false
			}
		}
	}
	return v, true
}

// appendJSONString appends s as a JSON string, escaped as encoding/json does
// without HTML escaping.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 || r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			switch r {
			case utf8.RuneError:
				b = append(b, `\ufffd`...)
			default:
				b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xF])
			}
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
