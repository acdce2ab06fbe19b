package revision

import (
	"bytes"
	"unicode/utf8"

	"gopkg.in/yaml.v3"
)

// scanYAML is the fast path of YAML validation: a line scanner for the
// plain block YAML that state files are made of (block mappings and
// sequences, plain and simply quoted scalars, empty and simple flow
// collections, comments), which builds no node tree. It either proves the
// content valid, finding its revision scalar and the byte span of each
// top-level key, or gives up (ok false) and leaves the verdict to
// yaml.v3: it never refuses anything itself, so every error message stays
// yaml.v3's. It gives up on anything outside that subset: tabs, CR line
// breaks, a byte order mark, directives and document markers, anchors,
// aliases, tags, merge keys, block scalars, multi-line scalars, escapes in
// double quotes, nested flow collections, quoted or unusual keys, keys
// that are not strings, duplicate keys, nesting near the depth limit and
// indentation it does not follow line by line.
//
// Within the subset, a scalar's meaning depends on its text alone, so a
// top-level key's span (from its line to the next top-level key) decodes
// on its own to the same value as in the whole document.
func scanYAML(data []byte, lim Limits) (s *yamlScan, ok bool) {
	if lim.MaxDepth < 8 {
		return nil, false // the scan keeps two levels of room below the limit, and a flow list adds one
	}
	sc := yamlScanner{data: data, maxDepth: lim.MaxDepth, s: &yamlScan{}}
	if !sc.run() {
		return nil, false
	}
	return sc.s, true
}

// yamlScan is what scanYAML found in a document whose root is a block
// mapping.
type yamlScan struct {
	keys []yamlSpan // top-level keys in document order
	// revStart and revEnd delimit the revision scalar; revStart < 0 when
	// the mapping has no revision key.
	rev              int64
	revStart, revEnd int
	hasRev           bool
}

// yamlSpan is one top-level key: its name, and the bytes from the start of
// its line to the start of the next top-level key's line (or the end).
type yamlSpan struct {
	key        string
	start, end int
}

type scanLevel struct {
	indent     int
	seq        bool
	indentless bool            // a sequence at its parent key's own indentation
	keys       map[string]bool // keys seen in a mapping (nil until the second)
	first      string          // the first key of a mapping
	node       *yaml.Node      // the collection, when building
}

type yamlScanner struct {
	data     []byte
	maxDepth int
	s        *yamlScan
	stack    []scanLevel
	// pending: the last line opened a node with no value on it (`key:`
	// or `-`): a more indented block may follow as its value.
	pending bool
	rooted  bool

	// build makes the scanner also build the node tree yaml.v3 would
	// (spanTree): pendIn and pendAt are the collection and index of the
	// null that a pending node's block replaces.
	build  bool
	root   *yaml.Node
	pendIn *yaml.Node
	pendAt int
}

// spanTree builds the node tree of a document of the subset: the same
// kinds, tags, styles and values as yaml.v3 decodes it to (positions
// aside). nil when the scan does not take it.
func spanTree(data []byte) *yaml.Node {
	sc := yamlScanner{data: data, maxDepth: defaultMaxDepth, s: &yamlScan{}, build: true}
	if !sc.run() {
		return nil
	}
	return sc.root
}

// push opens a collection on the stack; when building, its node goes
// into the collection into, or the pending slot, or becomes the root.
func (sc *yamlScanner) push(lv scanLevel, into *yaml.Node) {
	if sc.build {
		lv.node = &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		if lv.seq {
			lv.node = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		}
		switch {
		case into != nil:
			into.Content = append(into.Content, lv.node)
		case sc.pendIn != nil:
			sc.pendIn.Content[sc.pendAt] = lv.node
		default:
			sc.root = lv.node
		}
	}
	sc.stack = append(sc.stack, lv)
}

// add appends a node to the collection on top of the stack, when building.
func (sc *yamlScanner) add(n *yaml.Node) {
	if sc.build {
		top := sc.stack[len(sc.stack)-1].node
		top.Content = append(top.Content, n)
	}
}

// addPending appends the null a pending node is until a block replaces it.
func (sc *yamlScanner) addPending() {
	sc.pending = true
	if sc.build {
		top := sc.stack[len(sc.stack)-1].node
		sc.pendIn, sc.pendAt = top, len(top.Content)
		top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null"})
	}
}

// scalarNode is the node of a scalar of the subset: a plain or quoted
// scalar, or a simple flow collection.
func scalarNode(v []byte) *yaml.Node {
	switch v[0] {
	case '"':
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.DoubleQuotedStyle, Value: string(v[1 : len(v)-1])}
	case '\'':
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Style: yaml.SingleQuotedStyle, Value: string(bytes.ReplaceAll(v[1:len(v)-1], []byte("''"), []byte("'")))}
	case '[', '{':
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
		if v[0] == '{' {
			n.Kind, n.Tag = yaml.MappingNode, "!!map"
		}
		if in := bytes.Trim(v[1:len(v)-1], " "); len(in) > 0 {
			for _, item := range bytes.Split(in, []byte(",")) {
				n.Content = append(n.Content, plainNode(bytes.Trim(item, " ")))
			}
		}
		return n
	}
	return plainNode(v)
}

func plainNode(v []byte) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Value: string(v)}
	n.Tag = n.ShortTag() // yaml.v3's own resolution of a plain scalar
	return n
}

func (sc *yamlScanner) run() bool {
	data := sc.data
	if bytes.IndexByte(data, '\r') >= 0 || bytes.IndexByte(data, '\t') >= 0 || bytes.HasPrefix(data, []byte("\uFEFF")) {
		return false
	}
	for pos := 0; pos < len(data); {
		end := bytes.IndexByte(data[pos:], '\n')
		next := len(data)
		if end < 0 {
			end = len(data)
		} else {
			end += pos
			next = end + 1
		}
		if !sc.line(pos, end) {
			return false
		}
		pos = next
	}
	if !sc.rooted {
		return false // empty, or only comments: rare, yaml.v3 decides
	}
	if n := len(sc.s.keys); n > 0 {
		sc.s.keys[n-1].end = len(data)
	}
	return true
}

// line scans the line data[start:end].
func (sc *yamlScanner) line(start, end int) bool {
	data := sc.data
	ind := 0
	for start+ind < end && data[start+ind] == ' ' {
		ind++
	}
	at := start + ind
	if at == end || data[at] == '#' {
		return printable(data[at:end]) // blank or a comment line
	}
	if ind == 0 {
		switch c := data[at]; {
		case c == '%', bytes.HasPrefix(data[at:end], []byte("---")), bytes.HasPrefix(data[at:end], []byte("...")):
			return false
		}
	}
	text := data[at:end]
	seqItem := text[0] == '-' && (len(text) == 1 || text[1] == ' ')

	if !sc.rooted {
		if ind != 0 {
			return false
		}
		sc.rooted = true
		if seqItem {
			return false // only a mapping at the root: the state files' shape
		}
		sc.push(scanLevel{indent: 0}, nil)
		return sc.mapEntry(at, end, true)
	}

	if sc.pending {
		sc.pending = false
		top := &sc.stack[len(sc.stack)-1]
		switch {
		case ind > top.indent || (ind == top.indent && seqItem && !top.seq):
			// The pending node's value: a block starting on this line.
			if len(sc.stack) >= sc.maxDepth-2 {
				return false
			}
			sc.push(scanLevel{indent: ind, seq: seqItem, indentless: ind == top.indent}, nil)
			sc.pendIn = nil
			if seqItem {
				return sc.seqEntry(at, end)
			}
			return sc.mapEntry(at, end, false)
		}
		// Otherwise the pending value was null.
		sc.pendIn = nil
	}

	for len(sc.stack) > 0 && sc.stack[len(sc.stack)-1].indent > ind {
		sc.stack = sc.stack[:len(sc.stack)-1]
	}
	if len(sc.stack) == 0 {
		return false
	}
	top := &sc.stack[len(sc.stack)-1]
	if top.indentless && top.indent == ind && !seqItem {
		sc.stack = sc.stack[:len(sc.stack)-1]
		top = &sc.stack[len(sc.stack)-1]
	}
	if top.indent != ind {
		return false
	}
	if top.seq {
		if !seqItem {
			return false
		}
		return sc.seqEntry(at, end)
	}
	if seqItem {
		return false
	}
	return sc.mapEntry(at, end, len(sc.stack) == 1)
}

// seqEntry scans a sequence entry `- ...` at data[at:end].
func (sc *yamlScanner) seqEntry(at, end int) bool {
	i := at + 1
	for i < end && sc.data[i] == ' ' {
		i++
	}
	if i == end || sc.data[i] == '#' {
		sc.addPending()
		return printable(sc.data[i:end])
	}
	rest := sc.data[i:end]
	if rest[0] == '-' && (len(rest) == 1 || rest[1] == ' ') {
		return false // `- - x`: a compact nested sequence
	}
	if _, _, ok := splitKey(rest); ok {
		// `- key: value`: a mapping whose keys sit at this column.
		if len(sc.stack) >= sc.maxDepth-2 {
			return false
		}
		col := i - lineStart(sc.data, at)
		sc.push(scanLevel{indent: col}, sc.stack[len(sc.stack)-1].node)
		return sc.mapEntry(i, end, false)
	}
	vend, ok := scalarEnd(sc.data, i, end)
	if ok && sc.build {
		sc.add(scalarNode(sc.data[i:vend]))
	}
	return ok
}

// mapEntry scans a mapping entry `key: value` at data[at:end] into the
// mapping on top of the stack.
func (sc *yamlScanner) mapEntry(at, end int, top bool) bool {
	key, vstart, ok := splitKey(sc.data[at:end])
	if !ok {
		return false
	}
	lv := &sc.stack[len(sc.stack)-1]
	k := string(key)
	switch {
	case lv.first == "" && lv.keys == nil:
		lv.first = k
	case lv.first == k || lv.keys[k]:
		return false // a duplicate key: yaml.v3's walk names it
	default:
		if lv.keys == nil {
			lv.keys = map[string]bool{lv.first: true}
		}
		lv.keys[k] = true
	}
	if sc.build {
		sc.add(&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k})
	}
	if top {
		start := lineStart(sc.data, at)
		if n := len(sc.s.keys); n > 0 {
			sc.s.keys[n-1].end = start
		}
		sc.s.keys = append(sc.s.keys, yamlSpan{key: k, start: start})
	}
	i := at + vstart
	for i < end && sc.data[i] == ' ' {
		i++
	}
	if i == end || sc.data[i] == '#' {
		if top && k == "revision" {
			return false // a null revision: yaml.v3's refusal
		}
		sc.addPending()
		return printable(sc.data[i:end])
	}
	vend, ok := scalarEnd(sc.data, i, end)
	if !ok {
		return false
	}
	if sc.build {
		sc.add(scalarNode(sc.data[i:vend]))
	}
	if top && k == "revision" {
		rev, ok := parseRevision(sc.data[i:vend])
		if !ok {
			return false
		}
		sc.s.rev, sc.s.revStart, sc.s.revEnd, sc.s.hasRev = rev, i, vend, true
	}
	return true
}

// splitKey splits `key: rest` or `key:` into the key and the offset of
// what follows the colon. Keys are plain words that resolve to strings.
func splitKey(text []byte) (key []byte, after int, ok bool) {
	i := 0
	for i < len(text) && keyByte(text[i], i == 0) {
		i++
	}
	if i == 0 || i >= len(text) || text[i] != ':' || (i+1 < len(text) && text[i+1] != ' ') {
		return nil, 0, false
	}
	key = text[:i]
	if len(key) > 128 {
		return nil, 0, false // yaml.v3 bounds implicit keys (1024 characters)
	}
	switch string(bytes.ToLower(key)) {
	case "true", "false", "null", "yes", "no", "on", "off", "y", "n":
		return nil, 0, false
	}
	return key, i + 1, true
}

func keyByte(c byte, first bool) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		return true
	case c >= '0' && c <= '9', c == '-', c == '.':
		return !first
	}
	return false
}

func lineStart(data []byte, at int) int { return bytes.LastIndexByte(data[:at], '\n') + 1 }

// scalarEnd checks the inline value at data[i:end] (i at its first byte)
// and returns the end of the scalar, before any trailing spaces and
// comment.
func scalarEnd(data []byte, i, end int) (int, bool) {
	var vend int
	switch c := data[i]; {
	case c == '"' || c == '\'':
		j := i + 1
		for {
			k := bytes.IndexByte(data[j:end], c)
			if k < 0 {
				return 0, false
			}
			j += k
			if c == '\'' && j+1 < end && data[j+1] == '\'' {
				j += 2 // '' in single quotes
				continue
			}
			break
		}
		if c == '"' && bytes.IndexByte(data[i:j], '\\') >= 0 {
			return 0, false
		}
		vend = j + 1
		if !printable(data[i+1 : j]) {
			return 0, false
		}
	case c == '[' || c == '{':
		j := bytes.IndexByte(data[i:end], c+2) // ']' or '}'
		if j < 0 {
			return 0, false
		}
		j += i
		if !simpleFlow(data[i+1:j], c == '[') {
			return 0, false
		}
		vend = j + 1
	default:
		if !plainStart(data[i:end]) {
			return 0, false
		}
		// A plain scalar runs to a comment (` #`) or the end of line.
		vend = end
		if k := bytes.Index(data[i:end], []byte(" #")); k >= 0 {
			vend = i + k
		}
		for vend > i && data[vend-1] == ' ' {
			vend--
		}
		v := data[i:vend]
		if bytes.Contains(v, []byte(": ")) || v[len(v)-1] == ':' || !printable(v) {
			return 0, false
		}
		return vend, printable(data[vend:end])
	}
	// After a quoted scalar or a flow collection: spaces, then a comment
	// (after at least one space) or nothing.
	j := vend
	for j < end && data[j] == ' ' {
		j++
	}
	if j < end && (data[j] != '#' || j == vend) {
		return 0, false
	}
	return vend, printable(data[j:end])
}

// plainStart reports whether v may start a plain scalar of the subset.
func plainStart(v []byte) bool {
	c := v[0]
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '_', c == '.', c == '/', c == '(', c == '~', c == '$', c == '+', c == '=', c == '^':
		return true
	case c == '-':
		return len(v) > 1 && v[1] != ' '
	case c >= utf8.RuneSelf:
		return true // checked by printable
	}
	return false
}

// simpleFlow reports whether the inside of a flow sequence or mapping is
// empty, or (for a sequence) plain words separated by commas.
func simpleFlow(in []byte, seq bool) bool {
	in = bytes.Trim(in, " ")
	if len(in) == 0 {
		return true
	}
	if !seq {
		return false
	}
	for _, item := range bytes.Split(in, []byte(",")) {
		item = bytes.Trim(item, " ")
		if len(item) == 0 {
			return false
		}
		for i, c := range item {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || (i > 0 && (c >= '0' && c <= '9' || c == '-' || c == '.'))) {
				return false
			}
		}
		switch string(bytes.ToLower(item)) {
		case "true", "false", "null", "yes", "no", "on", "off", "y", "n":
			// fine as values, but keep the words the subset is sure of
			return false
		}
	}
	return true
}

// printable reports whether b holds only characters YAML allows in a
// document, and no line break other than "\n" (the scanner's lines hold
// none): printable ASCII, and the printable ranges above it except NEL,
// LS and PS, which YAML counts as line breaks.
func printable(b []byte) bool {
	for i := 0; i < len(b); {
		c := b[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7f {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return false
		case r < 0xA0, r == 0x2028, r == 0x2029, r >= 0xD800 && r <= 0xDFFF, r == 0xFEFF, r >= 0xFFFE:
			// (yaml.v3 reads no character beyond the BMP as printable)
			return false
		}
		i += size
	}
	return true
}
