package changelog

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

const (
	// BlockSize is how much Last reads at a time, going backward.
	BlockSize = 64 << 10
	// MaxLineSize bounds the lines readers decode: a longer line is skipped
	// like an invalid one (without holding it in memory), so a corrupt log
	// cannot exhaust a reader.
	MaxLineSize = 64 << 20
	// SinceSlack is how far before Filter.Since Last keeps reading: see Last.
	SinceSlack = time.Hour
)

// Filter selects entries. Its zero value matches every entry.
type Filter struct {
	// Path selects entries whose Path or From (the source of a rename)
	// matches. Without any of the characters * ? [ it is a path: it matches
	// itself and, as a directory, everything below it ("memory" matches
	// "memory/context/current_state.yaml"; a trailing slash is ignored).
	// With one of them it is a glob (path.Match syntax) matched against the
	// whole path and, when it has no '/', also against the last element, so
	// "*.yaml" matches YAML files at any depth. A malformed glob matches
	// nothing. "" matches any entry, including paracle's, which have no path.
	Path string
	// Op selects entries with exactly this op; "" means any.
	Op string
	// PID selects entries with this process_id; 0 means any.
	PID int
	// Since selects entries stamped at or after it; zero means no bound.
	Since time.Time
	// Until selects entries stamped before it; zero means no bound.
	// An entry whose timestamp does not parse fails a Since or Until bound.
	Until time.Time
}

// Match reports whether e passes every condition of f.
func (f Filter) Match(e *Entry) bool {
	if f.Op != "" && e.Op != f.Op {
		return false
	}
	if f.PID != 0 && e.ProcessID != f.PID {
		return false
	}
	if f.Path != "" && !f.matchPath(e.Path) && !f.matchPath(e.From) {
		return false
	}
	if !f.Since.IsZero() || !f.Until.IsZero() {
		t, err := ParseTime(e.Timestamp)
		if err != nil {
			return false
		}
		if !f.Since.IsZero() && t.Before(f.Since) {
			return false
		}
		if !f.Until.IsZero() && !t.Before(f.Until) {
			return false
		}
	}
	return true
}

func (f Filter) matchPath(p string) bool {
	if p == "" {
		return false
	}
	if strings.ContainsAny(f.Path, "*?[") {
		if ok, _ := path.Match(f.Path, p); ok {
			return true
		}
		if !strings.Contains(f.Path, "/") {
			ok, _ := path.Match(f.Path, path.Base(p))
			return ok
		}
		return false
	}
	want := strings.TrimRight(f.Path, "/")
	if want == "" { // "/" : the root holds everything
		return true
	}
	return p == want || strings.HasPrefix(p, want+"/")
}

// Last returns the last n entries of the log that match f, oldest first;
// n <= 0 means all of them. r holds the log and size is its length (the
// caller stats it once, so lines appended meanwhile are not read).
//
// Last reads backward from the end, BlockSize bytes at a time, and stops as
// soon as it has n entries, so its cost follows the result, not the size of
// the log. With f.Since set it also stops at the first entry, matching or
// not, whose timestamp has a UTC offset (paracfs's entries do; paracle's
// may not, and those are never trusted for this) and is more than
// SinceSlack before f.Since: the log is appended in time order, and the
// slack absorbs the skew between appenders.
//
// Lines that are not JSON objects, a torn last line and lines longer than
// MaxLineSize are skipped, never fatal. A last line without a newline that
// is a complete JSON object is returned. Every entry has Raw set.
func Last(r io.ReaderAt, size int64, f Filter, n int) ([]*Entry, error) {
	return last(r, size, f, n, BlockSize, MaxLineSize)
}

func last(r io.ReaderAt, size int64, f Filter, n, blockSize, maxLine int) ([]*Entry, error) {
	var out []*Entry
	var cutoff time.Time
	if !f.Since.IsZero() {
		cutoff = f.Since.Add(-SinceSlack)
	}
	err := backLines(r, size, blockSize, maxLine, func(line []byte) bool {
		e := parseLine(line)
		if e == nil {
			return true
		}
		if f.Match(e) {
			out = append(out, e)
			if n > 0 && len(out) >= n {
				return false
			}
		} else if !cutoff.IsZero() && hasOffset(e.Timestamp) {
			if t, err := ParseTime(e.Timestamp); err == nil && t.Before(cutoff) {
				return false
			}
		}
		return true
	})
	// out is newest first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, err
}

// Scan decodes the log from r, oldest entry first, and calls fn for each
// entry that matches f, until fn returns false or r ends. It skips the same
// lines as Last. Every entry has Raw set.
func Scan(r io.Reader, f Filter, fn func(*Entry) bool) error {
	return scanLines(r, 64<<10, MaxLineSize, func(line []byte) bool {
		e := parseLine(line)
		if e == nil || !f.Match(e) {
			return true
		}
		return fn(e)
	})
}

// ParseLine decodes one log line (without its newline). It returns nil when
// the line is not a JSON object. Values of the wrong type for a field (a
// string process_id, say) leave that field zero but do not reject the line,
// so that a reader still shows it. The entry's Raw is a copy of line.
func ParseLine(line []byte) *Entry {
	return parseLine(line)
}

func parseLine(line []byte) *Entry {
	t := bytes.TrimLeft(line, " \t\r")
	if len(t) == 0 || t[0] != '{' {
		return nil
	}
	var e Entry
	if err := json.Unmarshal(line, &e); err != nil {
		// Unmarshal checks the syntax of the whole line before decoding, so
		// a type error means valid JSON with an odd field.
		var te *json.UnmarshalTypeError
		if !errors.As(err, &te) {
			return nil
		}
	}
	e.Raw = bytes.Clone(line)
	return &e
}

// backLines calls fn with each line of r's first size bytes, last line first,
// without the newline, until fn returns false. The slice passed to fn is only
// valid during the call. Lines longer than maxLine are skipped without being
// held in memory.
func backLines(r io.ReaderAt, size int64, blockSize, maxLine int, fn func([]byte) bool) error {
	buf := make([]byte, min(int64(blockSize), max(size, 0)))
	var (
		pending    [][]byte // the end of the current line, later pieces first
		pendingLen int
		overflow   bool // the current line is longer than maxLine
		joined     []byte
	)
	// emit completes the current line with its first piece p and passes it on.
	emit := func(p []byte) bool {
		skip := overflow || pendingLen+len(p) > maxLine
		line := p
		if !skip && len(pending) > 0 {
			joined = append(joined[:0], p...)
			for i := len(pending) - 1; i >= 0; i-- {
				joined = append(joined, pending[i]...)
			}
			line = joined
		}
		pending, pendingLen, overflow = pending[:0], 0, false
		if skip {
			return true
		}
		return fn(line)
	}
	for end := size; end > 0; {
		start := max(end-int64(blockSize), 0)
		b := buf[:end-start]
		if err := readFull(r, b, start); err != nil {
			return err
		}
		j := len(b)
		for {
			i := bytes.LastIndexByte(b[:j], '\n')
			if i < 0 {
				break
			}
			if !emit(b[i+1 : j]) {
				return nil
			}
			j = i
		}
		if start == 0 {
			emit(b[:j])
			return nil
		}
		// b[:j] continues a line that began before start.
		if j > 0 && !overflow {
			if pendingLen+j > maxLine {
				pending, pendingLen, overflow = pending[:0], 0, true
			} else {
				pending = append(pending, bytes.Clone(b[:j]))
				pendingLen += j
			}
		}
		end = start
	}
	return nil
}

// scanLines calls fn with each line read from r, first line first, without
// the newline, until fn returns false. The slice passed to fn is only valid
// during the call. Lines longer than maxLine are skipped without being held
// in memory.
func scanLines(r io.Reader, bufSize, maxLine int, fn func([]byte) bool) error {
	br := bufio.NewReaderSize(r, bufSize)
	var long []byte // the start of a line longer than the buffer
	overflow := false
	for {
		chunk, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			if !overflow {
				if len(long)+len(chunk) > maxLine {
					long, overflow = nil, true
				} else {
					long = append(long, chunk...)
				}
			}
			continue
		}
		chunk = bytes.TrimSuffix(chunk, []byte{'\n'})
		if !overflow && len(long)+len(chunk) <= maxLine && (len(chunk) > 0 || len(long) > 0 || err == nil) {
			line := chunk
			if len(long) > 0 {
				long = append(long, chunk...)
				line = long
			}
			if !fn(line) {
				return nil
			}
		}
		long, overflow = long[:0], false
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readFull reads exactly len(b) bytes of r at off.
func readFull(r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("changelog: read at %d: %w", off, err)
}
