// Command paracfs mounts a project's .parac/ state directory in place, so
// that every write through the mount becomes a locked, validated, atomic,
// revision-checked commit, logged to JSONL.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/pflag"
)

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

type command struct {
	name, args, summary string
	run                 func(args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"mount", "[flags] [DIR [MOUNTPOINT]]", "mount DIR (default: the nearest .parac) in place, or on MOUNTPOINT", runMount},
		{"unmount", "[--lazy] [MOUNTPOINT]", "unmount (alias: umount)", runUnmount},
		{"status", "[--json]", "list active mounts", runStatus},
		{"log", "[flags] [DIR]", "read the change log", runLog},
		{"version", "", "print the version", runVersion},
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, "paracfs protects a .parac state directory: every write through the mount is a\nlocked, validated, atomic, revision-checked commit, logged to JSONL.\n\nUsage: paracfs COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'paracfs COMMAND --help' for a command's flags.\n")
}

func main() {
	if len(os.Args) < 2 {
		usage()
		os.Exit(2)
	}
	name := os.Args[1]
	switch name {
	case "-h", "--help", "help":
		usage()
		return
	case "umount":
		name = "unmount"
	case "-v", "--version":
		name = "version"
	}
	for _, c := range commands {
		if c.name == name {
			err := c.run(os.Args[2:])
			if errors.Is(err, pflag.ErrHelp) {
				return
			}
			if err != nil {
				fmt.Fprintf(os.Stderr, "paracfs %s: %v\n", c.name, err)
				var ue usageError
				if errors.As(err, &ue) {
					os.Exit(2)
				}
				os.Exit(1)
			}
			return
		}
	}
	fmt.Fprintf(os.Stderr, "paracfs: unknown command %q (run 'paracfs --help')\n", os.Args[1])
	os.Exit(2)
}

// flagSet makes a command's pflag set with --help and a usage line.
func flagSet(name, args, summary string) *pflag.FlagSet {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SortFlags = false
	fs.Usage = func() {
		fmt.Fprintf(os.Stderr, "Usage: paracfs %s %s\n\n%s\n\nFlags:\n%s", name, args, summary, fs.FlagUsages())
	}
	return fs
}

// parse parses flags, turning pflag's errors into usage errors.
func parse(fs *pflag.FlagSet, args []string, maxArgs int) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > maxArgs {
		return usageError{fmt.Sprintf("too many arguments: %q (run 'paracfs %s --help')", fs.Args()[maxArgs:], fs.Name())}
	}
	return nil
}
