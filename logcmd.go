package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/paracfs/paracfs/backing"
	"github.com/paracfs/paracfs/changelog"
)

// logOpts are the flags of log.
type logOpts struct {
	path, since, op, logPath string
	n                        int
	asJSON                   bool
}

func logFlagSet(o *logOpts) *pflag.FlagSet {
	fs := flagSet("log", "[flags] [DIR]",
		"Prints the change log of DIR (default: the nearest .parac), oldest first: every commit,\n"+
			"refusal, delete and rename, with paracle's own entries.")
	fs.StringVar(&o.path, "path", "", "only entries for this path (relative to DIR, or a glob such as 'roadmap/*.yaml')")
	fs.StringVar(&o.since, "since", "", "only entries at or after this time: a duration (1h, 30m) or a date (2026-11-28, RFC 3339)")
	fs.IntVarP(&o.n, "lines", "n", 0, "only the last N matching entries (0: all)")
	fs.StringVar(&o.op, "op", "", "only entries with this op (commit, conflict, invalid, delete, ...)")
	fs.SetAnnotation("op", annotValues, []string{"commit", "create", "rename", "truncate", "delete", "move", "conflict", "invalid",
		"too_large", "lock_timeout", "lock_busy", "lock_symlink", "append_only", "external", "recover", "warning"})
	fs.BoolVar(&o.asJSON, "json", false, "print the raw JSON lines")
	fs.StringVar(&o.logPath, "log", backing.DefaultLogPath, "change log, relative to DIR")
	fs.SetAnnotation("log", annotFiles, []string{"jsonl"})
	return fs
}

func runLog(args []string) error {
	var o logOpts
	fs := logFlagSet(&o)
	if err := parse(fs, args, 1); err != nil {
		return err
	}
	var dir string
	var err error
	if fs.NArg() == 1 {
		dir, err = absDir(fs.Arg(0))
	} else {
		dir, err = findParac()
	}
	if err != nil {
		return err
	}
	f := changelog.Filter{Op: o.op, Path: relTo(dir, o.path)}
	if o.since != "" {
		if f.Since, err = parseSince(o.since, time.Now()); err != nil {
			return usageError{fmt.Sprintf("--since %q: %v", o.since, err)}
		}
	}
	if o.n < 0 {
		return usageError{"-n must be 0 or more"}
	}
	file, err := os.Open(filepath.Join(dir, o.logPath))
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
	for _, e := range entries {
		if o.asJSON {
			fmt.Printf("%s\n", e.Raw)
		} else {
			fmt.Println(changelog.Format(e))
		}
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
