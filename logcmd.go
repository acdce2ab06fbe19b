package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"

	"github.com/paracfs/paracfs/backing"
	"github.com/paracfs/paracfs/changelog"
)

// logOpts are the flags of log.
type logOpts struct {
	path, since, until, op, logPath, color string
	n, pid                                 int
	asJSON, follow                         bool
}

func logFlagSet(o *logOpts) *pflag.FlagSet {
	fs := flagSet("log", "[flags] [DIR]\n       paracfs log prune [--keep-days N] [DIR]",
		"Prints the change log of DIR (default: the nearest .parac), oldest first: every commit,\n"+
			"refusal, delete and rename, with paracle's own entries. On a terminal the table is\n"+
			"coloured (unless NO_COLOR is set). 'paracfs log prune --help' removes old entries.")
	fs.StringVar(&o.path, "path", "", "only entries for this path (relative to DIR, or a glob such as 'roadmap/*.yaml')")
	fs.StringVar(&o.op, "op", "", "only entries with this op (commit, conflict, invalid, delete, ...)")
	fs.SetAnnotation("op", annotValues, []string{"commit", "create", "apply", "rename", "truncate", "delete", "move", "conflict", "invalid",
		"too_large", "lock_timeout", "append_only", "drop", "prune", "external", "recover", "warning"})
	fs.IntVar(&o.pid, "pid", 0, "only entries made by this process id")
	fs.StringVar(&o.since, "since", "", "only entries at or after this time: a duration back from now (1h, 30m) or a date (2026-11-28, RFC 3339)")
	fs.StringVar(&o.until, "until", "", "only entries before this time: a duration back from now or a date, as --since")
	fs.IntVarP(&o.n, "lines", "n", 0, "only the last N matching entries (0: all; with --follow, 10 when not given)")
	fs.BoolVarP(&o.follow, "follow", "f", false, "keep printing new entries as they are appended, like tail -f (Ctrl-C stops)")
	fs.BoolVar(&o.asJSON, "json", false, "print the raw JSON lines")
	fs.StringVar(&o.color, "color", "auto", "colour the table: auto (on a terminal, unless NO_COLOR is set), always, never")
	fs.SetAnnotation("color", annotValues, []string{"auto", "always", "never"})
	fs.StringVar(&o.logPath, "log", "", "change log, relative to DIR (default: the mount's, or "+backing.DefaultLogPath+")")
	fs.SetAnnotation("log", annotFiles, []string{"jsonl"})
	return fs
}

func runLog(args []string) error {
	if len(args) > 0 && args[0] == "prune" {
		return runPrune(args[1:])
	}
	var o logOpts
	fs := logFlagSet(&o)
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	dir, err := dirArg(fs.Args(), 0)
	if err != nil {
		return err
	}
	color, err := useColor(o.color)
	if err != nil {
		return err
	}
	f := changelog.Filter{Op: o.op, Path: relTo(dir, o.path), PID: o.pid}
	now := time.Now()
	if o.since != "" {
		if f.Since, err = parseSince(o.since, now); err != nil {
			return usageError{fmt.Sprintf("--since %q: %v", o.since, err)}
		}
	}
	if o.until != "" {
		if f.Until, err = parseSince(o.until, now); err != nil {
			return usageError{fmt.Sprintf("--until %q: %v", o.until, err)}
		}
	}
	if o.n < 0 {
		return usageError{"-n must be 0 or more"}
	}
	if o.pid < 0 {
		return usageError{"--pid must be a process id"}
	}
	if o.path != "" && strings.ContainsAny(o.path, "*?[") {
		if _, err := filepath.Match(o.path, ""); err != nil {
			return usageError{fmt.Sprintf("--path %q: malformed glob", o.path)}
		}
	}
	if o.follow && !f.Until.IsZero() {
		return usageError{"--follow and --until do not go together"}
	}
	if o.logPath == "" {
		o.logPath = logPathOf(dir)
	}
	p := &logPrinter{json: o.asJSON, color: color, widths: make([]int, changelog.NumCols)}
	path := filepath.Join(dir, o.logPath)
	if o.follow {
		n := o.n
		if !fs.Changed("lines") {
			n = 10
		}
		return follow(path, f, n, p)
	}
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return err
	}
	entries, err := changelog.Last(file, st.Size(), f, o.n)
	if err != nil {
		return err
	}
	p.print(entries)
	return nil
}

// logPrinter prints entries as JSON lines or as an aligned table.
type logPrinter struct {
	json, color bool
	widths      []int // the table's column widths so far, kept while following
	t           table
}

func (p *logPrinter) print(es []*changelog.Entry) {
	if p.json {
		w := bufio.NewWriter(os.Stdout)
		for _, e := range es {
			w.Write(e.Raw)
			w.WriteByte('\n')
		}
		w.Flush()
		return
	}
	for _, e := range es {
		op := e.Op
		if op == "" {
			op = e.ChangeType
		}
		colors := make([]string, changelog.NumCols)
		colors[changelog.ColTime] = sgrDim
		colors[changelog.ColOp] = opColor(op)
		colors[changelog.ColWho] = sgrDim
		if e.Op == "" {
			colors[changelog.ColOp] = sgrCyan // paracle's own entry
		}
		p.t.add(changelog.Fields(e), colors)
	}
	w := bufio.NewWriter(os.Stdout)
	p.widths = p.t.write(w, p.color, p.widths)
	w.Flush()
}

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
	file, err := os.Open(path)
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
	file, err := os.Open(fl.path)
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
		fl.ino = inoOf(st)
		return fl.resync(file, size)
	}
	if size > fl.off {
		return fl.read(file, fl.off, size, time.Time{})
	}
	return nil
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

// relTo turns a path given from the cwd (.parac/x.yaml, or absolute) into
// one relative to dir; a path already relative to dir is kept.
func relTo(dir, p string) string {
	if p == "" {
		return ""
	}
	if abs, err := filepath.Abs(p); err == nil {
		if r, err := filepath.Rel(dir, abs); err == nil && !strings.HasPrefix(r, "..") && (filepath.IsAbs(p) || strings.Contains(p, ".parac")) {
			return filepath.ToSlash(r)
		}
	}
	return filepath.ToSlash(filepath.Clean(p))
}

// parseSince reads a duration back from now, or a date or time.
func parseSince(s string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("want a duration (1h, 30m) or a date (2026-11-28, 2026-11-28T10:00:00Z)")
}
