package changelog

import "os"

// AppendTo appends e to f, a log opened with O_APPEND (and for reading)
// by a process that does not keep a Writer on it: a command adding one
// line of its own to a log no daemon serves. It is Append's one write(2),
// with the same handling of a short write; and since another appender may
// have left a torn last line, a file that does not end with a newline gets
// one first, so the line is never glued to a torn one. Unlike NewWriter,
// it repairs nothing: another process may be appending meanwhile.
func AppendTo(f *os.File, e *Entry) error {
	if err := checkAppend(f); err != nil {
		return err
	}
	w := newWriter(f)
	w.torn = true // end a partial last line first, if there is one
	return w.Append(e)
}
