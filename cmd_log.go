package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/paracfs/paracfs/backing"
	"github.com/paracfs/paracfs/changelog"
	"github.com/spf13/pflag"
)

// logOpts are the flags of log.
type logOpts struct {
	path, since, until, op, logPath, color string
	n, pid                                 int
	asJSON, follow                         bool
}

func logFlagSet(o *logOpts) *pflag.FlagSet {
	flags := flagSet("log", "[flags] [DIR]\n       paracfs log prune [--keep-days N] [DIR]",
		"Prints the change log of DIR (default: the nearest .parac), oldest first: every commit,\n"+
			"refusal, delete and rename, with paracle's own entries. On a terminal the table is\n"+
			"coloured (unless NO_COLOR is set). 'paracfs log prune --help' removes old entries.")
	flags.StringVar(&o.path, "path", "", "only entries for this path (relative to DIR, or a glob such as 'roadmap/*.yaml')")
	flags.StringVar(&o.op, "op", "", "only entries with this op (commit, conflict, invalid, delete, ...)")
	flags.SetAnnotation("op", annotValues, changelog.Ops())
	flags.IntVar(&o.pid, "pid", 0, "only entries made by this process id")
	flags.StringVar(&o.since, "since", "", "only entries at or after this time: a duration back from now (1h, 30m) or a date (2026-11-28, RFC 3339)")
	flags.StringVar(&o.until, "until", "", "only entries before this time: a duration back from now or a date, as --since")
	flags.IntVarP(&o.n, "lines", "n", 0, "only the last N matching entries (0: all; with --follow, 10 when not given)")
	flags.BoolVarP(&o.follow, "follow", "f", false, "keep printing new entries as they are appended, like tail -f (Ctrl-C stops)")
	flags.BoolVar(&o.asJSON, "json", false, "print the raw JSON lines")
	flags.StringVar(&o.color, "color", "auto", "colour the table: auto (on a terminal, unless NO_COLOR is set), always, never")
	flags.SetAnnotation("color", annotValues, []string{"auto", "always", "never"})
	flags.StringVar(&o.logPath, "log", "", "change log, relative to DIR (default: the mount's, or the one DIR/paracfs.yaml names, or "+backing.DefaultLogPath+")")
	flags.SetAnnotation("log", annotFiles, []string{"jsonl"})
	return flags
}

func runLog(args []string) error {
	if len(args) > 0 && args[0] == "prune" {
		return runPrune(args[1:])
	}
	var o logOpts
	flags := logFlagSet(&o)
	if err := parse(flags, args, 1); err != nil {
		return err
	}
	dir, err := dirArg(flags.Args(), 0)
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
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Since.Before(f.Until) {
		return usageError{fmt.Sprintf("--since %s is not before --until %s: no entry can match (a duration counts back from now: --since 2h --until 1h)", o.since, o.until)}
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
		if !flags.Changed("lines") {
			n = 10
		}
		return follow(path, f, n, p)
	}
	// A log rotated by size (mount --log-max-size) goes on in LOG.1: its
	// lines come first.
	files := []string{path + backing.RotatedSuffix, path}
	if o.n == 0 && f.Since.IsZero() {
		// The whole log: streamed, in batches, so that memory does not
		// follow the size of the log.
		var batch []*changelog.Entry
		for i, name := range files {
			file, err := openLogRead(name)
			if i == 0 && errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				return noLog(err)
			}
			var size int64
			if st, serr := file.Stat(); serr == nil {
				size = st.Size() // what is there now; not what is appended while printing
			}
			err = changelog.Scan(io.NewSectionReader(file, 0, size), f, func(e *changelog.Entry) bool {
				if batch = append(batch, e); len(batch) == 4096 {
					p.print(batch)
					batch = batch[:0]
				}
				return true
			})
			file.Close()
			if err != nil {
				p.print(batch)
				return err
			}
		}
		p.print(batch)
		return nil
	}
	entries, err := lastEntries(path, f, o.n)
	if err != nil {
		return noLog(err)
	}
	if rotated := path + backing.RotatedSuffix; o.n == 0 || len(entries) < o.n {
		want := 0 // all
		if o.n > 0 {
			want = o.n - len(entries)
		}
		more, err := lastEntries(rotated, f, want)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		entries = append(more, entries...)
	}
	p.print(entries)
	return nil
}

// noLog says plainly that a log is missing.
func noLog(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) && errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s: no change log there (nothing logged yet, or --log names another file)", pe.Path)
	}
	return err
}

// lastEntries reads the last n entries of a log file that match f (all of
// them when n is 0).
func lastEntries(path string, f changelog.Filter, n int) ([]*changelog.Entry, error) {
	file, err := openLogRead(path)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	st, err := file.Stat()
	if err != nil {
		return nil, err
	}
	return changelog.Last(file, st.Size(), f, n)
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
