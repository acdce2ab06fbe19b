package changelog

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// Prune copies the log read from r to w, leaving out the entries stamped
// before cutoff, and returns how many it left out and how many it kept.
// It is paracle's clear_old_changes, made safe for everything else a log
// may hold: only a line that is a JSON object with a timestamp that parses
// (see ParseTime) and is older than cutoff is removed. Every other line
// (foreign text, a JSON object without a timestamp, a torn last line, a line
// over 64 KiB, which is copied unread) is copied byte for byte, so that the result is the log
// minus the old entries and nothing else.
func Prune(w io.Writer, r io.Reader, cutoff time.Time) (removed, kept int, err error) {
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, rerr := br.ReadSlice('\n')
		if rerr == bufio.ErrBufferFull {
			// A long line: not something this copy needs to decode.
			if _, err := w.Write(line); err != nil {
				return removed, kept, err
			}
			for rerr == bufio.ErrBufferFull {
				line, rerr = br.ReadSlice('\n')
				if _, err := w.Write(line); err != nil {
					return removed, kept, err
				}
			}
			kept++
		} else if len(line) > 0 {
			if old(line, cutoff) {
				removed++
			} else {
				if _, err := w.Write(line); err != nil {
					return removed, kept, err
				}
				kept++
			}
		}
		if rerr == io.EOF {
			return removed, kept, nil
		}
		if rerr != nil && rerr != bufio.ErrBufferFull {
			return removed, kept, fmt.Errorf("changelog: prune: %w", rerr)
		}
	}
}

// old reports whether line is a complete entry stamped before cutoff.
func old(line []byte, cutoff time.Time) bool {
	if !bytes.HasSuffix(line, []byte{'\n'}) {
		return false // torn or being written: never removed
	}
	e := parseLine(bytes.TrimSuffix(line, []byte{'\n'}))
	if e == nil || e.Timestamp == "" {
		return false
	}
	t, err := ParseTime(e.Timestamp)
	return err == nil && t.Before(cutoff)
}

// Replace swaps the file the Writer appends to. It runs fn with the
// current file while no Append or AppendLines can run, so that fn can
// write a new version of the log (see Prune) and rename it into place; the
// appends that waited then land in the file fn returns, which must be open
// with O_APPEND. On an error the Writer keeps its file. The caller closes
// the old file.
func (w *Writer) Replace(fn func(old *os.File) (*os.File, error)) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	nf, err := fn(w.f)
	if err != nil {
		return err
	}
	if nf == nil {
		return errors.New("changelog: Replace: no new file")
	}
	w.f = nf
	return nil
}
