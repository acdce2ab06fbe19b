package revision

import (
	"bytes"
	"math"
	"strconv"
	"unicode/utf8"
)

// checkText refuses NUL bytes and invalid UTF-8, naming the 0-based byte
// offset of the first offending byte.
func checkText(data []byte) *InvalidError {
	nul := bytes.IndexByte(data, 0)
	if utf8.Valid(data) {
		if nul >= 0 {
			return invalidf("NUL byte at byte %d", nul)
		}
		return nil
	}
	limit := len(data)
	if nul >= 0 {
		limit = nul
	}
	for i := 0; i < limit; {
		if data[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, size := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && size == 1 {
			return invalidf("invalid UTF-8 at byte %d", i)
		}
		i += size
	}
	return invalidf("NUL byte at byte %d", nul)
}

// lineCol returns the 1-based line and column (in characters) of byte offset
// off, counting "\n" as the line break.
func lineCol(data []byte, off int) (line, col int) {
	if off > len(data) {
		off = len(data)
	}
	line = 1 + bytes.Count(data[:off], []byte{'\n'})
	start := bytes.LastIndexByte(data[:off], '\n') + 1
	return line, 1 + utf8.RuneCount(data[start:off])
}

// parseRevision parses the text of a revision scalar: decimal digits without
// sign or leading zeros, below the largest int64.
func parseRevision(s []byte) (int64, bool) {
	if len(s) == 0 || len(s) > 19 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(s), 10, 64)
	// The largest int64 cannot be followed by another revision.
	return n, err == nil && n < math.MaxInt64
}

// badRevision is the refusal of a revision field whose value is described
// by got (already quoted when it is a string).
func badRevision(got string) *InvalidError {
	return invalidf("revision must be a non-negative integer, got %s", got)
}

// shorten cuts s to a length fit for an error message.
func shorten(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
