package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/paracfs/paracfs/backing"
)

// Fast tests of the command line: flag sets, usage errors and exit
// statuses. They need no root, no /dev/fuse and no mount: every case
// stops before a command touches a mount.

// mainEnv makes the test binary run main() with the arguments it was
// started with (see TestMain), as paracfs itself, or as argv0 when
// mainArgv0Env is set.
const (
	mainEnv      = "PARACFS_TEST_RUN_MAIN"
	mainArgv0Env = "PARACFS_TEST_ARGV0"
)

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) != "" {
		argv0 := "paracfs"
		if a := os.Getenv(mainArgv0Env); a != "" {
			argv0 = a
		}
		os.Args = append([]string{argv0}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runMain runs main() in a child (this test binary) with args, in dir, as
// argv0 (or paracfs), and returns its exit status, stdout and stderr.
func runMain(t *testing.T, dir, argv0 string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), mainEnv+"=1", mainArgv0Env+"="+argv0, "NO_COLOR=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, out.String(), errb.String()
	case errors.As(err, &ee):
		return ee.ExitCode(), out.String(), errb.String()
	}
	t.Fatalf("running main with %q: %v", args, err)
	return 0, "", ""
}

// TestExitStatus checks the exit status and the message a user sees for
// mistakes on the command line: 2 for a usage error, 1 for a failure, 0
// for help; exec's own failures 125.
func TestExitStatus(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "plain")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args      []string
		status    int
		stderr    string // a line of stderr, exactly
		stdoutHas string
		stderrHas string
	}{
		{args: nil, status: 2, stderrHas: "Usage: paracfs COMMAND [flags]"},
		{args: []string{"--help"}, status: 0, stderrHas: "  restore    commit a version again"},
		{args: []string{"frobnicate"}, status: 2, stderr: `paracfs: unknown command "frobnicate" (run 'paracfs --help')`},
		{args: []string{"history"}, status: 2, stderr: "paracfs history: name a FILE (run 'paracfs history --help')"},
		{args: []string{"history", "a", "b"}, status: 2, stderr: `paracfs history: too many arguments: ["b"] (run 'paracfs history --help')`},
		{args: []string{"history", "--color=sometimes", "x"}, status: 2, stderr: "paracfs history: --color sometimes: want auto, always or never"},
		{args: []string{"show"}, status: 2, stderr: "paracfs show: name FILE@REV (run 'paracfs show --help')"},
		{args: []string{"restore", "--bogus"}, status: 2, stderr: "paracfs restore: unknown flag: --bogus (run 'paracfs restore --help')"},
		{args: []string{"diff", "-U", "-1", "x@1"}, status: 2, stderr: "paracfs diff: --unified -1: must be 0 or more"},
		{args: []string{"version", "extra"}, status: 2, stderr: `paracfs version: too many arguments: ["extra"] (run 'paracfs version --help')`},
		{args: []string{"version", "--help"}, status: 0, stderrHas: "Usage: paracfs version"},
		{args: []string{"completion"}, status: 2, stderr: "paracfs completion: name the shell: bash, zsh or fish"},
		{args: []string{"completion", "tcsh"}, status: 2, stderr: `paracfs completion: "tcsh": want bash, zsh or fish`},
		{args: []string{"completion", "fish"}, status: 0, stdoutHas: "complete -c paracfs"},
		{args: []string{"status", "extra"}, status: 1, stderr: `paracfs status: extra: not mounted by paracfs`},
		{args: []string{"status", "--wait", "0s"}, status: 2, stderr: `paracfs status: --wait 0s: want a positive duration, such as 3s or 1m`},
		{args: []string{"log", "--since", "yesterday", tmp}, status: 2, stderr: `paracfs log: --since "yesterday": want a duration (1h, 30m) or a date (2026-11-28, 2026-11-28T10:00:00Z)`},
		{args: []string{"log", filepath.Join(tmp, "missing")}, status: 1, stderr: "paracfs log: " + filepath.Join(tmp, "missing") + ": no such directory"},
		{args: []string{"check", file}, status: 1, stderr: "paracfs check: " + file + ": not a directory"},
		{args: []string{"log", "prune", "--keep-days", "-1", tmp}, status: 2, stderr: "paracfs log: --keep-days must be 0 or more"},
		{args: []string{"rejected", "shwo", "1a2b"}, status: 2, stderr: `paracfs rejected: "shwo": no such subcommand (list, show, diff, apply, drop) nor directory`},
		{args: []string{"rejected", "show"}, status: 2, stderr: "paracfs rejected: which refused write? (paracfs rejected show ID; 'paracfs rejected' lists them)"},
		{args: []string{"exec", tmp}, status: 125, stderr: "paracfs exec: name the command to run after --: paracfs exec [DIR] -- CMD [ARG...]"},
		{args: []string{"exec", "a", "b", "--", "true"}, status: 125, stderr: `paracfs exec: too many arguments before --: ["a" "b"]`},
		{args: []string{"mount", "--max-size", "lots", tmp}, status: 2, stderr: `paracfs mount: --max-size "lots": want a positive size such as 4096, 512KiB or 16MiB`},
		{args: []string{"mount", "--lock-timeout", "0s", tmp}, status: 2, stderr: "paracfs mount: --lock-timeout 0s: must be positive"},
	} {
		status, stdout, stderr := runMain(t, tmp, "", tc.args...)
		name := strings.Join(append([]string{"paracfs"}, tc.args...), " ")
		if status != tc.status {
			t.Errorf("%s: exit status %d, want %d (stderr %q)", name, status, tc.status, stderr)
		}
		if tc.stderr != "" && strings.TrimSuffix(stderr, "\n") != tc.stderr {
			t.Errorf("%s: stderr\n%q\nwant\n%q", name, stderr, tc.stderr+"\n")
		}
		if tc.stderrHas != "" && !strings.Contains(stderr, tc.stderrHas) {
			t.Errorf("%s: stderr %q lacks %q", name, stderr, tc.stderrHas)
		}
		if tc.stdoutHas != "" && !strings.Contains(stdout, tc.stdoutHas) {
			t.Errorf("%s: stdout %q lacks %q", name, stdout, tc.stdoutHas)
		}
	}
}

// TestAliases checks that umount, -v and --version find their commands.
func TestAliases(t *testing.T) {
	_, out, _ := runMain(t, t.TempDir(), "", "-v")
	if !strings.HasPrefix(out, "paracfs ") || !strings.Contains(out, "\ngo-fuse ") {
		t.Errorf("paracfs -v printed %q, want the version report", out)
	}
	status, _, stderr := runMain(t, t.TempDir(), "", "umount", "--bogus")
	if want := "paracfs unmount: unknown flag: --bogus (run 'paracfs unmount --help')\n"; status != 2 || stderr != want {
		t.Errorf("paracfs umount --bogus: status %d, stderr %q; want 2, %q", status, stderr, want)
	}
}

// TestCommandTable checks the command table: every command has a flag set
// named after it, with --help, and findCommand finds exactly those.
func TestCommandTable(t *testing.T) {
	want := []string{"mount", "check", "unmount", "exec", "status", "log", "rejected", "history", "show", "diff", "restore", "completion", "version"}
	var got []string
	for _, c := range commands {
		got = append(got, c.name)
		flags := c.flags()
		flags.Usage = func() {} // quiet: only the error matters here
		if !strings.HasPrefix(flags.Name(), c.name) {
			t.Errorf("%s: flag set named %q", c.name, flags.Name())
		}
		if err := flags.Parse([]string{"--help"}); !errors.Is(err, pflag.ErrHelp) {
			t.Errorf("%s --help: %v, want pflag.ErrHelp", c.name, err)
		}
		if findCommand(c.name) == nil || findCommand(c.name).name != c.name {
			t.Errorf("findCommand(%q) does not find it", c.name)
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("commands %q, want %q", got, want)
	}
	for _, name := range []string{"umount", "help", "", "Mount"} {
		if c := findCommand(name); c != nil {
			t.Errorf("findCommand(%q) = %s, want nil", name, c.name)
		}
	}
}

// TestFlagDefaults checks each command's flags and their defaults, as a
// user reads them in --help and as the command sees them unset.
func TestFlagDefaults(t *testing.T) {
	for _, tc := range []struct {
		set   *pflag.FlagSet
		flags map[string]string // name → default
	}{
		{mountFlagSet(&mountFlags{}), map[string]string{"foreground": "false", "lock-timeout": "10s", "max-size": "16MiB",
			"log": backing.DefaultLogPath, "rejected-max": "64MiB", "log-max-size": "64MiB",
			"history-versions": strconv.Itoa(backing.DefaultHistoryVersions),
			"history-days":     "30", "allow-other": "false", "debug": "false", "log-level": "info", "ready-fd": "-1"}},
		{unmountFlagSet(new(bool)), map[string]string{"lazy": "false"}},
		{logFlagSet(&logOpts{}), map[string]string{"path": "", "op": "", "pid": "0", "since": "", "until": "", "lines": "0",
			"follow": "false", "json": "false", "color": "auto", "log": ""}},
		{pruneFlagSet(new(int), new(string)), map[string]string{"keep-days": "30", "log": ""}},
		{diffFlagSet(new(bool), new(int), new(string)), map[string]string{"keys": "false", "unified": "3", "color": "auto"}},
		{historyFlagSet(new(bool), new(string)), map[string]string{"json": "false", "color": "auto"}},
		{statusFlagSet(&statusOpts{}), map[string]string{"json": "false", "color": "auto"}},
		{rejectedFlagSet("", &rejectedOpts{}), map[string]string{"json": "false", "color": "auto"}},
		{rejectedFlagSet("show", &rejectedOpts{}), map[string]string{"json": "false", "raw": "false"}},
		{rejectedFlagSet("diff", &rejectedOpts{}), map[string]string{"unified": "3", "color": "auto"}},
	} {
		// Each flag named is there with its default (a command may have
		// more: a new flag adds a line here).
		for name, def := range tc.flags {
			f := tc.set.Lookup(name)
			if f == nil {
				t.Errorf("%s has no --%s", tc.set.Name(), name)
			} else if f.DefValue != def {
				t.Errorf("%s --%s: default %q, want %q", tc.set.Name(), name, f.DefValue, def)
			}
		}
	}
	// The short flags.
	for _, tc := range []struct {
		set         *pflag.FlagSet
		short, long string
	}{
		{mountFlagSet(&mountFlags{}), "f", "foreground"},
		{unmountFlagSet(new(bool)), "z", "lazy"},
		{logFlagSet(&logOpts{}), "n", "lines"},
		{logFlagSet(&logOpts{}), "f", "follow"},
		{diffFlagSet(new(bool), new(int), new(string)), "U", "unified"},
	} {
		if f := tc.set.ShorthandLookup(tc.short); f == nil || f.Name != tc.long {
			t.Errorf("%s -%s: %v, want --%s", tc.set.Name(), tc.short, f, tc.long)
		}
	}
	if f := mountFlagSet(&mountFlags{}).Lookup("ready-fd"); f == nil || !f.Hidden {
		t.Errorf("mount --ready-fd is not hidden: %+v", f)
	}
}

// TestParse checks parse: pflag's errors become usage errors that name
// the command's --help, --help stays pflag.ErrHelp, and extra operands
// are refused.
func TestParse(t *testing.T) {
	var o logOpts
	flags := logFlagSet(&o)
	if err := parse(flags, []string{"-n", "5", "--op=commit", "--since", "1h", "DIR"}, 1); err != nil {
		t.Fatalf("parse: %v", err)
	}
	if o.n != 5 || o.op != "commit" || o.since != "1h" || flags.NArg() != 1 || flags.Arg(0) != "DIR" {
		t.Errorf("parsed %+v, args %q", o, flags.Args())
	}
	for _, tc := range []struct {
		args []string
		max  int
		want string
	}{
		{[]string{"--nope"}, 1, "unknown flag: --nope (run 'paracfs log --help')"},
		{[]string{"-n"}, 1, "flag needs an argument: 'n' in -n (run 'paracfs log --help')"},
		{[]string{"-n", "many"}, 1, `invalid argument "many" for "-n, --lines" flag: must be an integer (run 'paracfs log --help')`},
		{[]string{"a", "b", "c"}, 1, `too many arguments: ["b" "c"] (run 'paracfs log --help')`},
		{[]string{"a"}, 0, `too many arguments: ["a"] (run 'paracfs log --help')`},
	} {
		err := parse(logFlagSet(&logOpts{}), tc.args, tc.max)
		var ue usageError
		if !errors.As(err, &ue) || ue.msg != tc.want {
			t.Errorf("parse(%q, %d) = %v (%T), want usage error %q", tc.args, tc.max, err, err, tc.want)
		}
	}
	quiet := logFlagSet(&logOpts{})
	quiet.Usage = func() {}
	if err := parse(quiet, []string{"-h"}, 1); !errors.Is(err, pflag.ErrHelp) {
		t.Errorf("parse(-h) = %v, want pflag.ErrHelp", err)
	}
}

// TestRunUsageErrors calls commands in process with mistakes that they
// must refuse before they look at any mount or file.
func TestRunUsageErrors(t *testing.T) {
	tmp := t.TempDir()
	for _, tc := range []struct {
		run  func([]string) error
		args []string
		want string
	}{
		{runLog, []string{"--since", "1h", "--until", "2h", tmp}, "--since 1h is not before --until 2h: no entry can match (a duration counts back from now: --since 2h --until 1h)"},
		{runLog, []string{"--until", "soon", tmp}, `--until "soon": want a duration (1h, 30m) or a date (2026-11-28, 2026-11-28T10:00:00Z)`},
		{runLog, []string{"-n", "-1", tmp}, "-n must be 0 or more"},
		{runLog, []string{"--pid", "-3", tmp}, "--pid must be a process id"},
		{runLog, []string{"--path", "[a-", tmp}, `--path "[a-": malformed glob`},
		{runLog, []string{"--follow", "--until", "1h", tmp}, "--follow and --until do not go together"},
		{runLog, []string{"--color", "yes", tmp}, "--color yes: want auto, always or never"},
		{runShow, []string{"a", "b"}, `too many arguments: ["b"] (run 'paracfs show --help')`},
		{runRestore, nil, "name FILE@REV (run 'paracfs restore --help')"},
		{runDiff, nil, "name FILE@A (run 'paracfs diff --help')"},
		{runHistory, []string{"x@"}, `"x@": want FILE@REV with a revision number after the @, not "" (see paracfs history x)`},
		{runShow, []string{"@3"}, `"@3": no file named`},
		{runRejected, []string{"list", "a", "b"}, `too many arguments: ["b"] (run 'paracfs rejected list --help')`},
		{runRejected, []string{"show", "--raw", "--unified=1", "ID"}, "unknown flag: --unified (run 'paracfs rejected show --help')"},
		{runCompletion, []string{"bash", "zsh"}, `too many arguments: ["zsh"] (run 'paracfs completion --help')`},
		{runUnmount, []string{"a", "b"}, `too many arguments: ["b"] (run 'paracfs unmount --help')`},
	} {
		err := tc.run(tc.args)
		var ue usageError
		if !errors.As(err, &ue) || ue.msg != tc.want {
			t.Errorf("%q: %v (%T), want usage error %q", tc.args, err, err, tc.want)
		}
	}
}

// TestLooksLikePath checks how main tells `paracfs DIR MOUNTPOINT -o ...`
// (as mount.fuse3 runs it) from a mistyped command.
func TestLooksLikePath(t *testing.T) {
	tmp := t.TempDir()
	t.Chdir(tmp)
	if err := os.Mkdir("proj", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("file", nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for arg, want := range map[string]bool{
		"/srv/x/.parac": true, "./x": true, "a/b": true, "proj": true,
		"file": false, "moutn": false, "-o": false, "--help": false, "-/x": false,
	} {
		if got := looksLikePath(arg); got != want {
			t.Errorf("looksLikePath(%q) = %v, want %v", arg, got, want)
		}
	}
}
