package revision

import (
	"bytes"
	"io"
	"strconv"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// parseYAML validates doc.Data as a single YAML document and fills in the
// revision field and the root mapping: with the scan when the document is
// plain block YAML it takes, with yaml.v3's tree otherwise.
func parseYAML(doc *Doc, lim Limits) *InvalidError {
	if err := checkText(doc.Data); err != nil {
		return err
	}
	if s, ok := scanYAML(doc.Data, lim); ok {
		doc.isMap, doc.scan, doc.tree = true, s, &lazyTree{}
		if s.hasRev {
			doc.Rev, doc.HasRev = s.rev, true
			doc.revStart, doc.revEnd = s.revStart, s.revEnd
		}
		return nil
	}
	return parseYAMLTree(doc, lim)
}

// parseYAMLTree validates doc.Data with yaml.v3's node tree: every YAML
// the scan does not take, and every refusal.
func parseYAMLTree(doc *Doc, lim Limits) (ierr *InvalidError) {
	// yaml.v3 reports syntax errors as values; anything it panics with is a
	// bug of the parser that bad input must not turn into a crash.
	defer func() {
		if r := recover(); r != nil {
			ierr = invalidf("yaml: parser failed: %v", r)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(doc.Data))
	var root yaml.Node
	if err := dec.Decode(&root); err == io.EOF {
		return nil // empty, or only comments
	} else if err != nil {
		return &InvalidError{Reason: err.Error()}
	}
	var next yaml.Node
	if err := dec.Decode(&next); err == nil {
		return invalidf("multi-document YAML is not allowed")
	} else if err != io.EOF {
		return &InvalidError{Reason: err.Error()}
	}
	if len(root.Content) == 0 {
		return nil
	}
	top := root.Content[0]
	if err := checkYAMLTree(top, lim, len(doc.Data)); err != nil {
		return err
	}
	if top.Kind != yaml.MappingNode {
		return nil
	}
	doc.isMap = true
	doc.ymap = top
	return findYAMLRevision(doc, top)
}

// yamlShape is the size of a node after alias expansion.
type yamlShape struct {
	nodes int64 // nodes, saturating at yamlWalker.cap
	depth int   // nesting of sequences and mappings; 0 for a scalar
}

// yamlWalker checks a node tree in one pass: nesting depth (after alias
// expansion), alias expansion size, alias cycles and duplicate keys. The
// expanded shape of every anchored node is memoised, so an alias costs one
// map lookup however much it expands to.
type yamlWalker struct {
	maxDepth int
	cap      int64 // saturation bound of node counts
	literal  int64 // nodes as written, an alias counting as one
	memo     map[*yaml.Node]yamlShape
}

func checkYAMLTree(top *yaml.Node, lim Limits, size int) *InvalidError {
	w := &yamlWalker{
		maxDepth: lim.MaxDepth,
		// Larger than both the limit and any literal count, so a saturated
		// count still reads as expansion beyond the limit.
		cap: int64(lim.MaxAliasNodes) + int64(size) + 2,
	}
	s, err := w.walk(top, 0)
	if err != nil {
		return err
	}
	if s.nodes > int64(lim.MaxAliasNodes) && s.nodes > w.literal {
		return invalidf("yaml alias expansion exceeds %d nodes", lim.MaxAliasNodes)
	}
	return nil
}

// walk returns the expanded shape of n, which has level enclosing
// collections.
func (w *yamlWalker) walk(n *yaml.Node, level int) (yamlShape, *InvalidError) {
	w.literal++
	var s yamlShape
	switch n.Kind {
	case yaml.AliasNode:
		if n.Alias == nil {
			return yamlShape{nodes: 1}, nil
		}
		t, ok := w.memo[n.Alias]
		if !ok {
			// Anchors precede their aliases, so a target not yet walked
			// to the end is an ancestor of the alias.
			return s, invalidf("yaml: line %d: alias *%s refers to a node that contains it", n.Line, shorten(n.Value))
		}
		if level+t.depth > w.maxDepth {
			return s, w.tooDeep()
		}
		return t, nil
	case yaml.SequenceNode, yaml.MappingNode:
		if level+1 > w.maxDepth {
			return s, w.tooDeep()
		}
		s.nodes = 1
		for _, c := range n.Content {
			cs, err := w.walk(c, level+1)
			if err != nil {
				return s, err
			}
			s.nodes += cs.nodes
			if s.nodes > w.cap {
				s.nodes = w.cap
			}
			s.depth = max(s.depth, cs.depth)
		}
		s.depth++
		if n.Kind == yaml.MappingNode {
			if k := duplicateKey(n); k != nil {
				return s, invalidf("duplicate key %q at line %d", shorten(k.Value), k.Line)
			}
		}
	default:
		s.nodes = 1
	}
	if n.Anchor != "" {
		if w.memo == nil {
			w.memo = make(map[*yaml.Node]yamlShape)
		}
		w.memo[n] = s
	}
	return s, nil
}

func (w *yamlWalker) tooDeep() *InvalidError {
	return invalidf("nesting deeper than %d", w.maxDepth)
}

// duplicateKey returns the key node of the second occurrence of a scalar key
// in mapping m, or nil. Keys are the same when their tags and texts are.
func duplicateKey(m *yaml.Node) *yaml.Node {
	pairs := len(m.Content) / 2
	if pairs < 2 {
		return nil
	}
	if pairs <= 8 {
		for i := 2; i < 2*pairs; i += 2 {
			ki := keyScalar(m.Content[i])
			if ki == nil {
				continue
			}
			for j := 0; j < i; j += 2 {
				kj := keyScalar(m.Content[j])
				if kj != nil && kj.Value == ki.Value && kj.ShortTag() == ki.ShortTag() {
					return m.Content[i]
				}
			}
		}
		return nil
	}
	seen := make(map[string]struct{}, pairs)
	for i := 0; i < 2*pairs; i += 2 {
		k := keyScalar(m.Content[i])
		if k == nil {
			continue
		}
		id := k.ShortTag() + "\x00" + k.Value
		if _, dup := seen[id]; dup {
			return m.Content[i]
		}
		seen[id] = struct{}{}
	}
	return nil
}

// keyScalar returns the scalar a mapping key is or aliases, or nil.
func keyScalar(k *yaml.Node) *yaml.Node {
	if k.Kind == yaml.AliasNode && k.Alias != nil {
		k = k.Alias
	}
	if k.Kind != yaml.ScalarNode {
		return nil
	}
	return k
}

// findYAMLRevision looks for a `revision` key in the root mapping m and, if
// there is one, checks its value and locates its bytes.
func findYAMLRevision(doc *Doc, m *yaml.Node) *InvalidError {
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind == yaml.ScalarNode && k.Value == "revision" && k.ShortTag() == "!!str" {
			return locateYAMLRevision(doc, m.Content[i+1])
		}
	}
	return nil
}

func locateYAMLRevision(doc *Doc, v *yaml.Node) *InvalidError {
	switch v.Kind {
	case yaml.SequenceNode:
		return badRevision("a sequence")
	case yaml.MappingNode:
		return badRevision("a mapping")
	case yaml.AliasNode:
		return badRevision("an alias")
	}
	if v.Style&yaml.TaggedStyle != 0 || v.Anchor != "" {
		return invalidf("revision must be a plain integer, without tag or anchor")
	}
	if v.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return badRevision(strconv.Quote(shorten(v.Value)))
	}
	if v.ShortTag() == "!!null" {
		return badRevision("null")
	}
	rev, ok := parseRevision([]byte(v.Value))
	if !ok || v.ShortTag() != "!!int" {
		return badRevision(shorten(v.Value))
	}
	off := yamlOffset(doc.Data, v.Line, v.Column)
	if off < 0 || !bytes.HasPrefix(doc.Data[off:], []byte(v.Value)) {
		return invalidf("yaml: line %d: cannot locate the revision scalar", v.Line)
	}
	doc.Rev, doc.HasRev = rev, true
	doc.revStart, doc.revEnd = off, off+len(v.Value)
	return nil
}

// yamlOffset converts a 1-based line and column, as yaml.v3 reports them, to
// a byte offset in data, or -1. yaml.v3 counts columns in characters, breaks
// lines at "\r\n", "\r", "\n", NEL, LS and PS, and does not count a leading
// byte order mark.
func yamlOffset(data []byte, line, col int) int {
	i := 0
	if bytes.HasPrefix(data, []byte("\uFEFF")) {
		i = 3
	}
	for l := 1; l < line; l++ {
		n := nextYAMLBreak(data[i:])
		if n < 0 {
			return -1
		}
		i += n
	}
	for c := 1; c < col; c++ {
		if i >= len(data) {
			return -1
		}
		_, size := utf8.DecodeRune(data[i:])
		i += size
	}
	return i
}

// nextYAMLBreak returns the offset just past the first line break in b, or -1.
func nextYAMLBreak(b []byte) int {
	for i := 0; i < len(b); i++ {
		switch c := b[i]; {
		case c == '\n':
			return i + 1
		case c == '\r':
			if i+1 < len(b) && b[i+1] == '\n' {
				return i + 2
			}
			return i + 1
		case c == 0xC2 && i+1 < len(b) && b[i+1] == 0x85: // NEL
			return i + 2
		case c == 0xE2 && i+2 < len(b) && b[i+1] == 0x80 && (b[i+2] == 0xA8 || b[i+2] == 0xA9): // LS, PS
			return i + 3
		}
	}
	return -1
}
