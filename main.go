// Command paracfs mounts a project's .parac/ state directory in place, so
// that every write through the mount becomes a locked, validated, atomic,
// revision-checked commit, logged to JSONL.
//
// Installed as /sbin/mount.fuse.paracfs (a link to the same binary) it is
// mount(8)'s helper for the type fuse.paracfs: see cmd_mount_helper.go.
package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"
)

type command struct {
	name, args, summary string
	// flags makes the command's flag set, for the completion scripts.
	flags func() *pflag.FlagSet
	// operands says what the arguments after the flags are, for the
	// completion scripts: "dirs", "files", "shells", or "" (none).
	operands string
	run      func(args []string) error
}

var commands []command

func init() {
	commands = []command{
		{"mount", "[flags] [DIR [MOUNTPOINT]]", "mount DIR (default: the nearest .parac) in place, or on MOUNTPOINT",
			func() *pflag.FlagSet { return mountFlagSet(&mountFlags{}) }, "dirs", runMount},
		{"check", "[DIR]", "check DIR's paracfs.yaml, and every managed file against it, without mounting",
			checkFlagSet, "dirs", runCheck},
		{"unmount", "[--lazy] [MOUNTPOINT]", "unmount (alias: umount)",
			func() *pflag.FlagSet { return unmountFlagSet(new(bool)) }, "dirs", runUnmount},
		{"exec", "[flags] [DIR] -- CMD [ARG...]", "mount DIR in place, run CMD, unmount; exit with CMD's status",
			func() *pflag.FlagSet { return execFlagSet(&mountFlags{}) }, "dirs", runExec},
		{"status", "[--json] [--wait D] [MOUNTPOINT...]", "list active mounts, their counters and last refusals",
			func() *pflag.FlagSet { return statusFlagSet(&statusOpts{}) }, "dirs", runStatus},
		{"log", "[flags] [DIR]", "read the change log",
			func() *pflag.FlagSet {
				flags := logFlagSet(&logOpts{})
				flags.AddFlagSet(pruneFlagSet(new(int), new(string))) // log prune's, for the completion scripts
				return flags
			}, "dirs", runLog},
		{"rejected", rejectedArgs, "list, show, diff, apply or drop refused writes",
			func() *pflag.FlagSet { return rejectedFlagSet("*", &rejectedOpts{}) }, "dirs", runRejected},
		{"history", "[--json] FILE", "list the versions of a managed file in its history",
			func() *pflag.FlagSet { return historyFlagSet(new(bool), new(string)) }, "files", runHistory},
		{"show", "FILE@REV", "print a version of a managed file from its history",
			func() *pflag.FlagSet { return showFlagSet() }, "files", runShow},
		{"diff", "[--keys] FILE@A [FILE@B | @B | FILE]", "compare a version with another, or with the current file",
			func() *pflag.FlagSet { return diffFlagSet(new(bool), new(int), new(string)) }, "files", runDiff},
		{"restore", "FILE@REV", "commit a version again (revision-checked, logged as a restore)",
			func() *pflag.FlagSet { return restoreFlagSet() }, "files", runRestore},
		{"completion", "bash|zsh|fish", "print a shell completion script",
			completionFlagSet, "shells", runCompletion},
		{"version", "", "print the version, commit, build date and go-fuse version",
			versionFlagSet, "", runVersion},
	}
}

func usage() {
	fmt.Fprintf(os.Stderr, "paracfs protects a .parac state directory: every write through the mount is a\nlocked, validated, atomic, revision-checked commit, logged to JSONL.\n\nUsage: paracfs COMMAND [flags]\n\nCommands:\n")
	for _, c := range commands {
		fmt.Fprintf(os.Stderr, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintf(os.Stderr, "\nRun 'paracfs COMMAND --help' for a command's flags, 'man paracfs' for more.\n")
}

func main() {
	// As mount(8)'s helper: /sbin/mount.fuse.paracfs DIR MOUNTPOINT -o OPTS,
	// or `paracfs DIR MOUNTPOINT -o OPTS` as mount.fuse3 runs it.
	if prog := filepath.Base(os.Args[0]); strings.HasPrefix(prog, "mount.") {
		os.Exit(mountHelper(prog, os.Args[1:]))
	}
	if len(os.Args) >= 3 && findCommand(os.Args[1]) == nil && looksLikePath(os.Args[1]) {
		os.Exit(mountHelper("paracfs", os.Args[1:]))
	}
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
	c := findCommand(name)
	if c == nil {
		fmt.Fprintf(os.Stderr, "paracfs: unknown command %q (run 'paracfs --help')\n", os.Args[1])
		os.Exit(2)
	}
	err := c.run(os.Args[2:])
	var es exitStatus
	switch {
	case err == nil, errors.Is(err, pflag.ErrHelp):
		return
	case errors.As(err, &es):
		os.Exit(int(es))
	}
	fmt.Fprintf(os.Stderr, "paracfs %s: %v\n", c.name, err)
	var ue usageError
	if errors.As(err, &ue) {
		os.Exit(2)
	}
	os.Exit(1)
}

func findCommand(name string) *command {
	for i := range commands {
		if commands[i].name == name {
			return &commands[i]
		}
	}
	return nil
}

// looksLikePath tells a directory given as the first argument (mount.fuse3
// runs `paracfs DIR MOUNTPOINT -o OPTS`) from a mistyped command.
func looksLikePath(s string) bool {
	if strings.HasPrefix(s, "-") {
		return false
	}
	if strings.Contains(s, "/") {
		return true
	}
	st, err := os.Stat(s)
	return err == nil && st.IsDir()
}
