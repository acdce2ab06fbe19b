package changelog

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
)

// Writer appends entries to an open log file. It is safe for concurrent use.
//
// Each line goes out in exactly one write(2) call on a descriptor opened with
// O_APPEND. On Linux a write to a regular file holds the inode lock for its
// whole length and O_APPEND places it at the end atomically, so lines
// written by other goroutines, by other Writers and by other processes
// (paracle appends its own entries to the same file) never interleave. The
// mutex additionally keeps one Writer's lines in call order.
//
// Append does not fsync. The log is a record, not the data: once write(2)
// returns, the line is in the page cache, so a killed or crashed daemon loses
// nothing. Only a power loss or kernel crash can drop the newest lines, and
// then only whole lines at the tail (or one torn last line, which Repair
// cuts at the next start and which readers skip); lines older than the lost
// ones are never torn, because the file only grows. An fsync per commit
// would double the cost of a commit for no gain that matters.
type Writer struct {
	mu  sync.Mutex
	f   *os.File
	buf bytes.Buffer
	enc *json.Encoder
	// torn is set when an append was cut short (a full disk) and its
	// terminating newline could not be written either: the file may end
	// in a partial line, which the next append must not be glued to.
	torn bool
	// sysWrite is write(2); tests replace it to cut appends short.
	sysWrite func(fd int, p []byte) (int, error)
}

// NewWriter repairs a torn tail of f (see Repair) and returns a Writer that
// appends to f; torn holds the bytes that were cut off, nil if none. The
// caller opens f with os.O_RDWR|os.O_APPEND|os.O_CREATE (the daemon never
// opens paths inside its own mount, so the Writer takes a file, not a path)
// and keeps ownership of it: closing the file is the caller's job.
//
// Call NewWriter before anything else appends to the file (at daemon start):
// Repair cannot tell a torn line from a line that another process is writing
// at that moment.
func NewWriter(f *os.File) (w *Writer, torn []byte, err error) {
	if err := checkAppend(f); err != nil {
		return nil, nil, err
	}
	torn, err = Repair(f)
	if err != nil {
		return nil, torn, err
	}
	return newWriter(f), torn, nil
}

// newWriter returns a Writer for f without repairing it.
func newWriter(f *os.File) *Writer {
	w := &Writer{f: f, sysWrite: syscall.Write}
	w.enc = json.NewEncoder(&w.buf)
	w.enc.SetEscapeHTML(false)
	return w
}

// checkAppend fails unless f was opened with O_APPEND: without it, writers in
// other processes would overwrite each other's lines.
func checkAppend(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return fmt.Errorf("changelog: %w", err)
	}
	var flags uintptr
	var errno syscall.Errno
	if err := rc.Control(func(fd uintptr) {
		flags, _, errno = syscall.Syscall(syscall.SYS_FCNTL, fd, syscall.F_GETFL, 0)
	}); err != nil {
		return fmt.Errorf("changelog: %w", err)
	}
	if errno != 0 {
		return fmt.Errorf("changelog: fcntl %s: %w", f.Name(), errno)
	}
	if flags&syscall.O_APPEND == 0 {
		return fmt.Errorf("changelog: %s is not open with O_APPEND", f.Name())
	}
	return nil
}

// Marshal renders e as one log line, including the trailing newline: keys
// in the struct's order, no HTML escaping ("<", ">" and "&" stay as they
// are), no insignificant spaces.
func Marshal(e *Entry) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("changelog: %w", err)
	}
	return b.Bytes(), nil
}

// Append writes e as one line with a single write(2) call. A zero Timestamp
// is not filled in: the caller stamps the entry (see Timestamp).
func (w *Writer) Append(e *Entry) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Reset()
	if err := w.enc.Encode(e); err != nil {
		return fmt.Errorf("changelog: %w", err)
	}
	line := w.buf.Bytes()
	// The encoder escapes control characters in strings and compacts
	// json.RawMessage values, so the only newline is the final one.
	if bytes.IndexByte(line, '\n') != len(line)-1 {
		return errors.New("changelog: entry does not marshal to one line")
	}
	err := w.write(line)
	if w.buf.Cap() > 1<<20 {
		w.buf = bytes.Buffer{} // do not pin a huge buffer
	}
	return err
}

// AppendLines appends b, which must be zero or more complete lines (the
// caller has checked that each is valid JSON), with a single write(2) call.
// b must end with a newline, so that it cannot leave a torn line behind.
func (w *Writer) AppendLines(b []byte) error {
	if len(b) == 0 {
		return nil
	}
	if b[len(b)-1] != '\n' {
		return errors.New("changelog: AppendLines: data does not end with a newline")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.write(b)
}

// Size returns the current size of the log file.
func (w *Writer) Size() (int64, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	fi, err := w.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// write writes b, which ends with '\n', with one write(2). os.File.Write
// would loop on a short write, issuing a second write(2) that another
// process's line could precede; here a short write (disk full) is an error,
// and the torn line is terminated with a newline, so that it stays one bad
// line that readers skip instead of swallowing the next one. When even that
// newline cannot be written, the next append writes it first, and fails
// without writing its line if it still cannot: a line is never glued to a
// torn one, not only after a restart (Repair) but at every append.
func (w *Writer) write(b []byte) error {
	rc, err := w.f.SyscallConn()
	if err != nil {
		return fmt.Errorf("changelog: %w", err)
	}
	var n int
	var werr error
	write := func(p []byte) func(fd uintptr) bool {
		return func(fd uintptr) bool {
			for {
				n, werr = w.sysWrite(int(fd), p)
				if werr != syscall.EINTR {
					return true
				}
			}
		}
	}
	if w.torn {
		if err := w.endTornLine(rc); err != nil {
			return err
		}
	}
	if err := rc.Write(write(b)); err != nil {
		return fmt.Errorf("changelog: %w", err)
	}
	if werr == nil && n == len(b) {
		return nil
	}
	if n > 0 && n < len(b) {
		// A short write returns no error; the disk's reason comes with
		// the next write, the newline's.
		cut := werr
		if rerr := rc.Write(write([]byte{'\n'})); rerr != nil || werr != nil || n != 1 {
			w.torn = true
			if cut == nil {
				cut = werr
			}
		}
		werr = cut
	}
	if werr == nil {
		werr = io.ErrShortWrite
	}
	return &os.PathError{Op: "write", Path: w.f.Name(), Err: werr}
}

// endTornLine ends the partial line an earlier append left at the end of
// the file, unless the file already ends with a newline (another process
// wrote one, or the log was repaired or rotated).
func (w *Writer) endTornLine(rc syscall.RawConn) error {
	fi, err := w.f.Stat()
	if err != nil {
		return fmt.Errorf("changelog: %w", err)
	}
	if size := fi.Size(); size > 0 {
		var last [1]byte
		if _, err := w.f.ReadAt(last[:], size-1); err != nil {
			return fmt.Errorf("changelog: %w", err)
		}
		if last[0] == '\n' {
			w.torn = false
			return nil
		}
	} else {
		w.torn = false
		return nil
	}
	var n int
	var werr error
	if err := rc.Write(func(fd uintptr) bool {
		for {
			n, werr = w.sysWrite(int(fd), []byte{'\n'})
			if werr != syscall.EINTR {
				return true
			}
		}
	}); err != nil {
		return fmt.Errorf("changelog: %w", err)
	}
	if werr == nil && n == 1 {
		w.torn = false
		return nil
	}
	if werr == nil {
		werr = io.ErrShortWrite
	}
	return &os.PathError{Op: "write", Path: w.f.Name(), Err: fmt.Errorf("the last line is torn and cannot be ended: %w", werr)}
}

// Repair makes f end at a line boundary: if f is not empty and its last byte
// is not '\n', it truncates f to just after its last '\n' (or to 0 when there
// is none), fsyncs it, and returns the bytes it removed. A file that is empty
// or ends with '\n' is left untouched and torn is nil.
//
// Run Repair only while nothing else appends to f: a line being written by
// another process looks torn until its write completes.
func Repair(f *os.File) (torn []byte, err error) {
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("changelog: repair: %w", err)
	}
	size := fi.Size()
	if size == 0 {
		return nil, nil
	}
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return nil, fmt.Errorf("changelog: repair: %w", err)
	}
	if last[0] == '\n' {
		return nil, nil
	}
	cut, err := lastNewlineEnd(f, size)
	if err != nil {
		return nil, fmt.Errorf("changelog: repair: %w", err)
	}
	torn = make([]byte, size-cut)
	if err := readFull(f, torn, cut); err != nil {
		return nil, fmt.Errorf("changelog: repair: %w", err)
	}
	if err := f.Truncate(cut); err != nil {
		return nil, fmt.Errorf("changelog: repair: %w", err)
	}
	if err := f.Sync(); err != nil {
		return torn, fmt.Errorf("changelog: repair: %w", err)
	}
	return torn, nil
}

// lastNewlineEnd returns the offset just after the last '\n' in r's first
// size bytes, or 0 if there is none, reading backward in blocks.
func lastNewlineEnd(r io.ReaderAt, size int64) (int64, error) {
	buf := make([]byte, BlockSize)
	for end := size; end > 0; {
		start := max(end-int64(len(buf)), 0)
		b := buf[:end-start]
		if err := readFull(r, b, start); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}
