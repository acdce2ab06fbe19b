package revision

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// jsonFrame is one open array or object.
type jsonFrame struct {
	object bool
	keys   []keyRef            // keys so far, while few
	set    map[string]struct{} // keys so far, once many
}

// keyRef locates an object key in the input: the bytes between its quotes,
// and its decoded text when it has escapes.
type keyRef struct {
	start, end int
	escaped    bool
	text       string
}

const jsonSmallObject = 16

// jsonScanner validates one JSON value in a single pass, accepting exactly
// what encoding/json accepts, and checks nesting depth and (when strict)
// duplicate keys. It records the members of a top-level object.
type jsonScanner struct {
	data     []byte
	pos      int
	maxDepth int
	strict   bool // refuse duplicate keys and record top-level members

	stack   []jsonFrame
	object  bool // the top-level value is an object
	members []jsonMember
	topKey  string // key of the top-level member being scanned
	topFrom int    // start of its value
}

func (s *jsonScanner) scan() *scanError {
	for {
		// At the start of a value.
		s.skipSpace()
		if s.pos >= len(s.data) {
			return s.eof()
		}
		switch c := s.data[s.pos]; {
		case c == '{' || c == '[':
			if len(s.stack) >= s.maxDepth {
				return &scanError{off: s.pos, msg: fmt.Sprintf("nesting deeper than %d", s.maxDepth)}
			}
			if len(s.stack) == 0 && c == '{' {
				s.object = true
			}
			s.pos++
			s.skipSpace()
			if s.pos >= len(s.data) {
				return s.eof()
			}
			if c == '{' {
				if s.data[s.pos] == '}' {
					s.pos++
					break // an empty object is a complete value
				}
				s.push(true)
				if err := s.member("looking for beginning of object key string"); err != nil {
					return err
				}
				continue
			}
			if s.data[s.pos] == ']' {
				s.pos++
				break // an empty array is a complete value
			}
			s.push(false)
			continue
		case c == '"':
			if err := s.str(); err != nil {
				return err
			}
		case c == '-' || (c >= '0' && c <= '9'):
			if err := s.number(); err != nil {
				return err
			}
		case c == 't':
			if err := s.literal("true"); err != nil {
				return err
			}
		case c == 'f':
			if err := s.literal("false"); err != nil {
				return err
			}
		case c == 'n':
			if err := s.literal("null"); err != nil {
				return err
			}
		default:
			return s.badChar("looking for beginning of value")
		}
		// After a complete value: close containers until one continues.
		for {
			if len(s.stack) == 1 && s.strict && s.stack[0].object {
				s.members = append(s.members, jsonMember{key: s.topKey, start: s.topFrom, end: s.pos})
			}
			if len(s.stack) == 0 {
				s.skipSpace()
				if s.pos < len(s.data) {
					return s.badChar("after top-level value")
				}
				return nil
			}
			s.skipSpace()
			if s.pos >= len(s.data) {
				return s.eof()
			}
			top := &s.stack[len(s.stack)-1]
			c := s.data[s.pos]
			if c == ',' {
				s.pos++
				if top.object {
					s.skipSpace()
					if err := s.member("looking for beginning of object key string"); err != nil {
						return err
					}
				}
				break
			}
			if top.object && c == '}' || !top.object && c == ']' {
				s.pos++
				s.stack = s.stack[:len(s.stack)-1]
				continue
			}
			if top.object {
				return s.badChar("after object key:value pair")
			}
			return s.badChar("after array element")
		}
	}
}

// push opens an array or object, reusing the memory of closed frames.
func (s *jsonScanner) push(object bool) {
	if len(s.stack) < cap(s.stack) {
		s.stack = s.stack[:len(s.stack)+1]
		f := &s.stack[len(s.stack)-1]
		f.object, f.keys, f.set = object, f.keys[:0], nil
		return
	}
	s.stack = append(s.stack, jsonFrame{object: object})
}

// member scans an object key and the colon after it, leaving pos at the
// start of the member's value. ctx describes what a bad character breaks.
func (s *jsonScanner) member(ctx string) *scanError {
	if s.pos >= len(s.data) {
		return s.eof()
	}
	if s.data[s.pos] != '"' {
		return s.badChar(ctx)
	}
	start := s.pos + 1
	escaped, err := s.strBody()
	if err != nil {
		return err
	}
	end := s.pos - 1
	s.skipSpace()
	if s.pos >= len(s.data) {
		return s.eof()
	}
	if s.data[s.pos] != ':' {
		return s.badChar("after object key")
	}
	s.pos++
	if !s.strict {
		return nil
	}
	k := keyRef{start: start, end: end, escaped: escaped}
	if escaped {
		// Rare: let encoding/json decode the escapes.
		if json.Unmarshal(s.data[start-1:end+1], &k.text) != nil {
			return &scanError{off: start, msg: "invalid string", syntax: true}
		}
	}
	if err := s.addKey(k); err != nil {
		return err
	}
	if len(s.stack) == 1 {
		s.topKey = s.keyText(k)
		s.skipSpace()
		s.topFrom = s.pos
	}
	return nil
}

func (s *jsonScanner) keyText(k keyRef) string {
	if k.escaped {
		return k.text
	}
	return string(s.data[k.start:k.end])
}

func (s *jsonScanner) sameKey(a, b keyRef) bool {
	if !a.escaped && !b.escaped {
		return bytes.Equal(s.data[a.start:a.end], s.data[b.start:b.end])
	}
	return s.keyText(a) == s.keyText(b)
}

// addKey records a key of the innermost object, refusing a duplicate.
func (s *jsonScanner) addKey(k keyRef) *scanError {
	f := &s.stack[len(s.stack)-1]
	dup := false
	if f.set != nil {
		text := s.keyText(k)
		_, dup = f.set[text]
		f.set[text] = struct{}{}
	} else {
		for _, o := range f.keys {
			if s.sameKey(o, k) {
				dup = true
				break
			}
		}
		f.keys = append(f.keys, k)
		if len(f.keys) > jsonSmallObject {
			f.set = make(map[string]struct{}, 2*len(f.keys))
			for _, o := range f.keys {
				f.set[s.keyText(o)] = struct{}{}
			}
		}
	}
	if dup {
		line, _ := lineCol(s.data, k.start)
		return &scanError{off: k.start, msg: fmt.Sprintf("duplicate key %q at line %d", shorten(s.keyText(k)), line)}
	}
	return nil
}

func (s *jsonScanner) skipSpace() {
	for s.pos < len(s.data) {
		switch s.data[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// str scans a string starting at its opening quote.
func (s *jsonScanner) str() *scanError {
	_, err := s.strBody()
	return err
}

// strBody scans a string starting at its opening quote and ending past its
// closing quote, telling whether it has escapes.
func (s *jsonScanner) strBody() (escaped bool, err *scanError) {
	s.pos++
	for s.pos < len(s.data) {
		c := s.data[s.pos]
		switch {
		case c == '"':
			s.pos++
			return escaped, nil
		case c == '\\':
			escaped = true
			s.pos++
			if s.pos >= len(s.data) {
				return escaped, s.eof()
			}
			switch s.data[s.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.pos++
			case 'u':
				s.pos++
				for i := 0; i < 4; i++ {
					if s.pos >= len(s.data) {
						return escaped, s.eof()
					}
					if !isHex(s.data[s.pos]) {
						return escaped, s.badChar(`in \u hexadecimal character escape`)
					}
					s.pos++
				}
			default:
				return escaped, s.badChar("in string escape code")
			}
		case c < 0x20:
			return escaped, s.badChar("in string literal")
		default:
			s.pos++
		}
	}
	return escaped, s.eof()
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func (s *jsonScanner) digits() {
	for s.pos < len(s.data) && s.data[s.pos] >= '0' && s.data[s.pos] <= '9' {
		s.pos++
	}
}

// needDigit refuses anything but a digit at pos.
func (s *jsonScanner) needDigit() *scanError {
	if s.pos >= len(s.data) {
		return s.eof()
	}
	if c := s.data[s.pos]; c < '0' || c > '9' {
		return s.badChar("in numeric literal")
	}
	return nil
}

// number scans a number; what follows it is checked by the caller.
func (s *jsonScanner) number() *scanError {
	if s.data[s.pos] == '-' {
		s.pos++
		if err := s.needDigit(); err != nil {
			return err
		}
	}
	if s.data[s.pos] == '0' {
		s.pos++
	} else {
		s.digits()
	}
	if s.pos < len(s.data) && s.data[s.pos] == '.' {
		s.pos++
		if err := s.needDigit(); err != nil {
			return err
		}
		s.digits()
	}
	if s.pos < len(s.data) && (s.data[s.pos] == 'e' || s.data[s.pos] == 'E') {
		s.pos++
		if s.pos < len(s.data) && (s.data[s.pos] == '+' || s.data[s.pos] == '-') {
			s.pos++
		}
		if err := s.needDigit(); err != nil {
			return err
		}
		s.digits()
	}
	return nil
}

func (s *jsonScanner) literal(word string) *scanError {
	for i := 0; i < len(word); i++ {
		if s.pos >= len(s.data) {
			return s.eof()
		}
		if s.data[s.pos] != word[i] {
			return s.badChar(fmt.Sprintf("in literal %s (expecting %s)", word, quoteChar(rune(word[i]))))
		}
		s.pos++
	}
	return nil
}

func (s *jsonScanner) eof() *scanError {
	return &scanError{off: len(s.data), msg: "unexpected end of JSON input", syntax: true}
}

// badChar reports the character at pos, in encoding/json's words.
func (s *jsonScanner) badChar(ctx string) *scanError {
	r, _ := utf8.DecodeRune(s.data[s.pos:])
	return &scanError{off: s.pos, msg: "invalid character " + quoteChar(r) + " " + ctx, syntax: true}
}

// quoteChar formats r as encoding/json does in its syntax errors.
func quoteChar(r rune) string {
	if r == '\'' {
		return `'\''`
	}
	if r == '"' {
		return `'"'`
	}
	q := strconv.Quote(string(r))
	return "'" + q[1:len(q)-1] + "'"
}
