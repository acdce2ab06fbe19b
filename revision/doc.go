// Package revision turns the bytes of a managed file into a checked commit:
// it validates YAML, JSON and JSONL content (Parse), reads and rewrites the
// top-level integer `revision` field without touching anything else
// (Doc.Stamped), decides whether a write may be committed (Check; First for
// a name with no committed version; Restores for a stale write of a kept
// version's bytes) and lists the top-level keys that changed (Changes).
//
// Everything here is a pure function on bytes: no I/O, no global state, safe
// for concurrent use. A parsed Doc is never modified after Parse returns.
package revision

import (
	"strconv"

	"gopkg.in/yaml.v3"
)

// Limits bounds the work Parse does on hostile input. A zero or negative
// field means its default.
type Limits struct {
	// MaxSize is the largest content accepted, in bytes (default 16 MiB).
	MaxSize int64
	// MaxDepth is the deepest nesting of mappings, sequences, arrays and
	// objects accepted (default 200). For YAML it is measured after alias
	// expansion.
	MaxDepth int
	// MaxAliasNodes is the number of nodes a YAML document may expand to
	// through aliases and merge keys (default 1,000,000).
	MaxAliasNodes int
}

// Default limits.
const (
	defaultMaxSize       = 16 << 20
	defaultMaxDepth      = 200
	defaultMaxAliasNodes = 1_000_000
)

// DefaultLimits returns the limits paracfs uses unless configured otherwise.
func DefaultLimits() Limits {
	return Limits{MaxSize: defaultMaxSize, MaxDepth: defaultMaxDepth, MaxAliasNodes: defaultMaxAliasNodes}
}

func (l Limits) withDefaults() Limits {
	if l.MaxSize <= 0 {
		l.MaxSize = defaultMaxSize
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = defaultMaxDepth
	}
	if l.MaxAliasNodes <= 0 {
		l.MaxAliasNodes = defaultMaxAliasNodes
	}
	return l
}

// Doc is one parsed version of a managed file.
type Doc struct {
	Kind Kind
	Data []byte
	// Rev is the value of the top-level integer `revision` field when HasRev.
	Rev    int64
	HasRev bool

	// revStart and revEnd delimit the bytes of the revision scalar in Data.
	revStart, revEnd int
	// ymap is the root mapping of a YAML document, nil otherwise.
	ymap *yaml.Node
	// jmembers are the members of a top-level JSON object.
	jmembers []jsonMember
	// isMap tells that the content is a YAML mapping or a JSON object.
	isMap bool
}

// Parse validates data as content of the given kind and returns the parsed
// Doc. The size limit is checked first, for every kind; content of kind None
// is checked for nothing else. YAML, JSON and JSONL content must also be valid
// UTF-8 without NUL bytes. Errors are *InvalidError or *TooLargeError.
//
// Data is kept, not copied: the caller must not modify it afterwards.
func Parse(kind Kind, data []byte, lim Limits) (*Doc, error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.MaxSize {
		return nil, &TooLargeError{Size: int64(len(data)), Max: lim.MaxSize}
	}
	doc := &Doc{Kind: kind, Data: data}
	var err *InvalidError
	switch kind {
	case None:
		return doc, nil
	case YAML:
		err = parseYAML(doc, lim)
	case JSON:
		err = parseJSON(doc, lim)
	case JSONL:
		err = parseJSONL(doc, lim)
	default:
		err = invalidf("unknown kind %v", kind)
	}
	if err != nil {
		return nil, err
	}
	return doc, nil
}

// Stamped returns the content with the revision scalar replaced by rev and
// every other byte unchanged: comments, key order, quoting, whitespace and
// line endings are kept exactly. If the Doc has no revision field, or rev is
// already its revision, Stamped returns Data itself. rev should not be
// negative: Check never asks for a negative revision.
func (d *Doc) Stamped(rev int64) []byte {
	if !d.HasRev || rev == d.Rev {
		return d.Data
	}
	digits := strconv.AppendInt(nil, rev, 10)
	out := make([]byte, 0, len(d.Data)-(d.revEnd-d.revStart)+len(digits))
	out = append(out, d.Data[:d.revStart]...)
	out = append(out, digits...)
	return append(out, d.Data[d.revEnd:]...)
}
