package revision

import "bytes"

// parseJSONL validates doc.Data as JSON Lines: every line holds one complete
// JSON value (blank lines are allowed) and the content ends with a newline
// unless it is empty. Duplicate keys are not checked in JSONL: a log line is
// taken as its writer wrote it.
func parseJSONL(doc *Doc, lim Limits) *InvalidError {
	if err := checkText(doc.Data); err != nil {
		return err
	}
	data := doc.Data
	s := jsonScanner{maxDepth: lim.MaxDepth}
	for n, start := 1, 0; start < len(data); n++ {
		end := bytes.IndexByte(data[start:], '\n')
		if end < 0 {
			return invalidf("jsonl: last line is not terminated by a newline")
		}
		line := data[start : start+end]
		start += end + 1
		if isBlank(line) {
			continue
		}
		s.data, s.pos, s.stack = line, 0, s.stack[:0]
		if err := s.scan(); err != nil {
			if !err.syntax {
				return invalidf("jsonl: line %d: %s", n, err.msg)
			}
			_, col := lineCol(line, err.off)
			return invalidf("jsonl: line %d is not valid JSON: %s (column %d)", n, err.msg, col)
		}
	}
	return nil
}

// isBlank tells a line holding only JSON whitespace.
func isBlank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}
