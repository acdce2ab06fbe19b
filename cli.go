package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/paracfs/paracfs/backing"
	"github.com/spf13/pflag"
)

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

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// exitStatus ends the program with this status and no message of its own
// (exec's: the command's status, or 125 once its error is printed).
type exitStatus int

func (e exitStatus) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// flagSet makes a command's pflag set with --help and a usage line.
func flagSet(name, args, summary string) *pflag.FlagSet {
	flags := pflag.NewFlagSet(name, pflag.ContinueOnError)
	flags.SortFlags = false
	flags.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: paracfs %s %s\n\n%s\n\nFlags:\n%s", name, args, summary, flags.FlagUsages())
	}
	return flags
}

// parse parses flags, turning pflag's errors into usage errors.
func parse(flags *pflag.FlagSet, args []string, maxArgs int) error {
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageError{fmt.Sprintf("%v (run 'paracfs %s --help')", err, flags.Name())}
	}
	if flags.NArg() > maxArgs {
		return usageError{fmt.Sprintf("too many arguments: %q (run 'paracfs %s --help')", flags.Args()[maxArgs:], flags.Name())}
	}
	return nil
}

// annotation keys read by the completion scripts' generator.
const (
	annotValues = "paracfs_values" // the words a flag's value is one of
	annotFiles  = "paracfs_files"  // a flag's value is a file name
)

// parseSize reads sizes such as 4096, 512KiB, 16MiB, 1G.
func parseSize(s string) (int64, error) { return backing.ParseSize(s) }

// dirArg is dirOperand, checked to be a directory.
func dirArg(args []string, i int) (string, error) {
	dir, err := dirOperand(args, i)
	if err != nil || len(args) <= i {
		return dir, err
	}
	if st, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("%s: no such directory", dir)
	} else if err != nil {
		return "", err
	} else if !st.IsDir() {
		return "", fmt.Errorf("%s: not a directory", dir)
	}
	return dir, nil
}

func printJSON(v any) error {
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
