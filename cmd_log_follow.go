package main

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/paracfs/paracfs/backing"
	"github.com/paracfs/paracfs/changelog"
)

// pollInterval is how often --follow looks at the log.
const pollInterval = 250 * time.Millisecond

// follower reads what is appended to the log, like tail -F: it reopens the
// log at every look, so that a log replaced by `log prune` (renamed over,
// or shrunk) is noticed, and resumes after the last line it had read, so
// that no entry is printed twice.
type follower struct {
	path string
	f    changelog.Filter
	p    *logPrinter

	ino  uint64
	off  int64     // bytes of the current file already read
	tail []byte    // the last bytes before off, to notice a replaced file
	last []byte    // the last complete line read (without newline)
	seen time.Time // the newest timestamp read
}

const tailLen = 256

func follow(path string, f changelog.Filter, n int, p *logPrinter) error {
	fl := &follower{path: path, f: f, p: p}
	file, err := openLogRead(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if file != nil {
		st, err := file.Stat()
		if err != nil {
			file.Close()
			return err
		}
		size := st.Size()
		if n > 0 {
			es, err := changelog.Last(file, size, f, n)
			if err != nil {
				file.Close()
				return err
			}
			p.print(es)
		}
		// Start after the last complete line.
		start := max(size-changelog.BlockSize, 0)
		buf := make([]byte, size-start)
		if _, err := file.ReadAt(buf, start); err != nil && err != io.EOF {
			file.Close()
			return err
		}
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			fl.off = start + int64(i) + 1
			fl.noteRead(buf[:i+1])
			if e := changelog.ParseLine(fl.last); e != nil {
				fl.seen, _ = e.Time()
			}
		} else if start == 0 {
			fl.off = 0
		} else {
			fl.off = size // one huge unfinished line: skip it
		}
		fl.ino = inoOf(st)
		file.Close()
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	tick := time.NewTicker(pollInterval)
	defer tick.Stop()
	for {
		select {
		case <-sigs:
			return nil
		case <-tick.C:
		}
		if err := fl.poll(); err != nil {
			return err
		}
	}
}

func inoOf(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

// noteRead remembers b, which was just read and ends with a newline.
func (fl *follower) noteRead(b []byte) {
	fl.tail = append(fl.tail, b...)
	if len(fl.tail) > tailLen {
		fl.tail = append(fl.tail[:0], fl.tail[len(fl.tail)-tailLen:]...)
	}
	body := bytes.TrimSuffix(b, []byte{'\n'})
	if i := bytes.LastIndexByte(body, '\n'); i >= 0 {
		body = body[i+1:]
	}
	if len(body) <= changelog.BlockSize {
		fl.last = append(fl.last[:0], body...)
	}
}

// poll reads what was appended since the last look.
func (fl *follower) poll() error {
	file, err := openLogRead(fl.path)
	if errors.Is(err, fs.ErrNotExist) {
		fl.off, fl.tail = 0, nil
		return nil
	}
	if err != nil {
		return err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return err
	}
	size := st.Size()
	if inoOf(st) != fl.ino || size < fl.off || !fl.tailMatches(file) {
		if inoOf(st) != fl.ino {
			if err := fl.drainRotated(); err != nil {
				return err
			}
		}
		fl.ino = inoOf(st)
		return fl.resync(file, size)
	}
	if size > fl.off {
		return fl.read(file, fl.off, size, time.Time{})
	}
	return nil
}

// drainRotated reads what a rotation (mount --log-max-size) moved to
// LOG.1 before the new LOG took over: the end of the file being read, if
// LOG.1 is that file (it holds the bytes last read, where they were;
// through the mount it has an inode number of its own), or else, after
// several rotations between two looks, its entries newer than the newest
// one read. After a prune, LOG.1 holds only older entries: none is printed.
func (fl *follower) drainRotated() error {
	file, err := openLogRead(fl.path + backing.RotatedSuffix)
	if err != nil {
		return nil // no rotation: a prune or a replaced log, which resync handles
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil
	}
	if len(fl.tail) > 0 && st.Size() >= fl.off && fl.tailMatches(file) {
		return fl.read(file, fl.off, st.Size(), time.Time{})
	}
	if fl.seen.IsZero() {
		return nil // nothing read yet to tell old entries from new
	}
	fl.off = 0
	return fl.read(file, 0, st.Size(), fl.seen)
}

func (fl *follower) tailMatches(file *os.File) bool {
	if len(fl.tail) == 0 {
		return true
	}
	b := make([]byte, len(fl.tail))
	if _, err := file.ReadAt(b, fl.off-int64(len(b))); err != nil {
		return false
	}
	return bytes.Equal(b, fl.tail)
}

// resync finds where to go on in a file that replaced the one being read:
// after the last line already read, if the new file has it (a prune keeps
// the newest lines); otherwise from the entries newer than the newest one
// read.
func (fl *follower) resync(file *os.File, size int64) error {
	var after int64 = -1
	if len(fl.last) > 0 {
		var off int64
		br := bufio.NewReaderSize(io.NewSectionReader(file, 0, size), 64<<10)
		for {
			line, err := br.ReadSlice('\n')
			off += int64(len(line))
			if err == nil && bytes.Equal(line[:len(line)-1], fl.last) {
				after = off
			}
			if err == io.EOF {
				break
			}
			if err != nil && err != bufio.ErrBufferFull {
				return err
			}
		}
	}
	fl.tail = nil
	if after >= 0 {
		fl.tail = append(append(fl.tail, fl.last...), '\n')
		if len(fl.tail) > tailLen {
			fl.tail = fl.tail[len(fl.tail)-tailLen:]
		}
		fl.off = after
		return fl.read(file, after, size, time.Time{})
	}
	fl.off = 0
	return fl.read(file, 0, size, fl.seen)
}

// read prints the matching entries of the complete lines in [from, to),
// skipping those stamped at or before notAfter (when set).
func (fl *follower) read(file *os.File, from, to int64, notAfter time.Time) error {
	br := bufio.NewReaderSize(io.NewSectionReader(file, from, to-from), 64<<10)
	var batch []*changelog.Entry
	var long bool // inside a line longer than the buffer: skipped
	for {
		line, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			fl.off += int64(len(line))
			long = true
			continue
		}
		if err == io.EOF {
			break // an unfinished line: read it once it is complete
		}
		if err != nil {
			return err
		}
		fl.off += int64(len(line))
		if long {
			long = false
			fl.tail = nil
			continue
		}
		fl.noteRead(line)
		e := changelog.ParseLine(line[:len(line)-1])
		if e == nil {
			continue
		}
		t, terr := e.Time()
		if !notAfter.IsZero() && (terr != nil || !t.After(notAfter)) {
			continue
		}
		if terr == nil && t.After(fl.seen) {
			fl.seen = t
		}
		if fl.f.Match(e) {
			batch = append(batch, e)
		}
	}
	if len(batch) > 0 {
		fl.p.print(batch)
	}
	return nil
}
