package revision

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"hash"

	"gopkg.in/yaml.v3"
)

// Change is the old and new value of one top-level key. A value is a
// json.RawMessage holding its canonical JSON encoding (mapping keys sorted,
// no insignificant space), or, when that encoding is longer than 1024 bytes,
// a string "<5321 bytes, sha256 3f2a9c0e1b7d…>" naming its length and the
// first 12 hex digits of its SHA-256. A nil Old or New means the key is
// absent; a null value is json.RawMessage("null"), so the two stay apart.
type Change struct {
	Old any `json:"old,omitempty"`
	New any `json:"new,omitempty"`
}

// maxInlineValue is the longest encoding Changes reports as the value itself.
const maxInlineValue = 1024

// Changes lists the top-level keys whose values differ between two versions
// of a YAML mapping or JSON object: added, removed and changed keys. old or
// new may be nil (the file was created or deleted). It returns nil when
// either is not a mapping, and an empty map when nothing changed. The
// `revision` key is left out. Values are compared by their canonical JSON
// encoding, so key order and formatting do not count as changes; YAML
// aliases and merge keys are expanded, YAML numbers are compared by value
// (0x10 is 16) and JSON numbers as written (2.50 is not 2.5).
func Changes(old, new *Doc) map[string]Change {
	if old == nil && new == nil || old != nil && !old.isMap || new != nil && !new.isMap {
		return nil
	}
	before, after := topValues(old), topValues(new)
	out := make(map[string]Change)
	for key, o := range before {
		if key == "revision" {
			continue
		}
		n, ok := after[key]
		if !ok {
			out[key] = Change{Old: o.canonical().value()}
			continue
		}
		if o.raw != nil && bytes.Equal(o.raw, n.raw) || o.span != nil && bytes.Equal(o.span, n.span) {
			continue
		}
		visited := 0
		if o.node != nil && n.node != nil && sameYAML(o.node, n.node, &visited) {
			continue // the same tree: the same canonical encoding, without computing it
		}
		oc, nc := o.canonical(), n.canonical()
		if oc.size != nc.size || oc.sum != nc.sum {
			out[key] = Change{Old: oc.value(), New: nc.value()}
		}
	}
	for key, n := range after {
		if _, ok := before[key]; !ok && key != "revision" {
			out[key] = Change{New: n.canonical().value()}
		}
	}
	return out
}

// topValue is the value of a top-level key: a YAML node, the span of a
// scanned YAML key (its `key: value` lines), or raw JSON.
type topValue struct {
	node *yaml.Node
	span []byte
	raw  []byte
}

func topValues(d *Doc) map[string]topValue {
	if d == nil {
		return nil
	}
	if d.scan != nil && d.ymap == nil {
		m := make(map[string]topValue, len(d.scan.keys))
		for _, k := range d.scan.keys {
			m[k.key] = topValue{span: d.Data[k.start:k.end]}
		}
		return m
	}
	if d.ymap != nil {
		entries := yamlEntries(d.ymap)
		m := make(map[string]topValue, len(entries))
		for _, e := range entries {
			m[e.key] = topValue{node: e.value}
		}
		return m
	}
	m := make(map[string]topValue, len(d.jmembers))
	for _, jm := range d.jmembers {
		m[jm.key] = topValue{raw: d.Data[jm.start:jm.end]}
	}
	return m
}

// canonical encodes the value as canonical JSON into a hash, keeping the
// encoding itself only while it is short.
func (v topValue) canonical() canonValue {
	w := &canonWriter{h: sha256.New()}
	if v.span != nil {
		v.node = spanValue(v.span)
	}
	if v.node != nil {
		e := yamlEncoder{w: w}
		e.node(v.node)
	} else {
		dec := json.NewDecoder(bytes.NewReader(v.raw))
		dec.UseNumber()
		var x any
		if dec.Decode(&x) == nil {
			w.buf = appendGo(w.buf, x, w)
		} else {
			w.buf = append(w.buf, v.raw...) // cannot happen: Parse validated it
		}
	}
	return w.finish()
}

// canonValue is a canonical JSON encoding, summarised.
type canonValue struct {
	inline json.RawMessage // the encoding, when at most maxInlineValue bytes
	size   int64
	sum    [sha256.Size]byte
}

// value is what Change reports for the encoding.
func (c canonValue) value() any {
	if c.inline != nil {
		return c.inline
	}
	return fmt.Sprintf("<%d bytes, sha256 %x…>", c.size, c.sum[:6])
}

// canonWriter receives an encoding in chunks: encoders append to buf and
// call spill now and then, so a long encoding never sits in memory whole.
type canonWriter struct {
	buf  []byte
	head []byte // the first maxInlineValue+1 bytes
	size int64
	h    hash.Hash
}

const canonChunk = 32 << 10

// spill passes buf on once it has grown.
func (w *canonWriter) spill() {
	if w != nil && len(w.buf) >= canonChunk {
		w.flush()
	}
}

func (w *canonWriter) flush() {
	w.h.Write(w.buf)
	w.size += int64(len(w.buf))
	if room := maxInlineValue + 1 - len(w.head); room > 0 {
		w.head = append(w.head, w.buf[:min(room, len(w.buf))]...)
	}
	w.buf = w.buf[:0]
}

func (w *canonWriter) finish() canonValue {
	w.flush()
	c := canonValue{size: w.size}
	w.h.Sum(c.sum[:0])
	if w.size <= maxInlineValue {
		c.inline = json.RawMessage(w.head)
	}
	return c
}

// sameYAMLBudget bounds the nodes sameYAML visits for one value (aliases
// may repeat subtrees); past it the values are compared by encoding.
const sameYAMLBudget = 100_000

// sameYAML reports whether two YAML trees are written alike: the same
// kinds, resolved tags, styles and scalar values, in the same order,
// aliases followed. Such trees have the same canonical encoding; trees
// written differently may have it too, and are left to canonical.
func sameYAML(a, b *yaml.Node, visited *int) bool {
	if a == b {
		return true
	}
	*visited++
	if *visited > sameYAMLBudget || a.Kind != b.Kind || a.Tag != b.Tag || a.Style != b.Style ||
		a.Value != b.Value || len(a.Content) != len(b.Content) {
		return false
	}
	if a.Kind == yaml.AliasNode {
		if a.Alias == nil || b.Alias == nil {
			return a.Alias == b.Alias
		}
		return sameYAML(a.Alias, b.Alias, visited)
	}
	for i := range a.Content {
		if !sameYAML(a.Content[i], b.Content[i], visited) {
			return false
		}
	}
	return true
}

// spanValue decodes the value of a scanned top-level key from its span
// alone: a one-key mapping, whose value means what it means in the whole
// document (the scan admits no anchors, aliases or tags). A null node
// stands in if it cannot be decoded, which the scan rules out.
func spanValue(span []byte) *yaml.Node {
	if m := spanTree(span); m != nil && len(m.Content) == 2 {
		return m.Content[1]
	}
	var root yaml.Node
	if yaml.Unmarshal(span, &root) == nil && len(root.Content) == 1 {
		if m := root.Content[0]; m.Kind == yaml.MappingNode && len(m.Content) == 2 {
			return m.Content[1]
		}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}
