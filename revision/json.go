package revision

// jsonMember is one member of a top-level JSON object: its decoded key and
// the bytes of its value.
type jsonMember struct {
	key        string
	start, end int
}

// parseJSON validates doc.Data as one JSON value and fills in the revision
// field and the top-level members.
func parseJSON(doc *Doc, lim Limits) *InvalidError {
	if err := checkText(doc.Data); err != nil {
		return err
	}
	s := jsonScanner{data: doc.Data, maxDepth: lim.MaxDepth, strict: true}
	if err := s.scan(); err != nil {
		return err.invalid("json", doc.Data)
	}
	if !s.object {
		return nil
	}
	doc.isMap = true
	doc.jmembers = s.members
	for _, m := range s.members {
		if m.key != "revision" {
			continue
		}
		raw := doc.Data[m.start:m.end]
		rev, ok := parseRevision(raw)
		if !ok {
			return badRevision(describeJSON(raw))
		}
		doc.Rev, doc.HasRev = rev, true
		doc.revStart, doc.revEnd = m.start, m.end
	}
	return nil
}

// describeJSON names a JSON value for an error message.
func describeJSON(raw []byte) string {
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "an array"
	}
	return shorten(string(raw))
}

// scanError is a refusal found by jsonScanner at byte off of its input.
type scanError struct {
	off int
	msg string
	// syntax tells a syntax error, whose message gets the position.
	syntax bool
}

// invalid turns the error into the refusal of data, a document of the named
// format.
func (e *scanError) invalid(format string, data []byte) *InvalidError {
	if !e.syntax {
		return &InvalidError{Reason: e.msg}
	}
	line, col := lineCol(data, e.off)
	return invalidf("%s: line %d, column %d: %s", format, line, col, e.msg)
}
