package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"
)

// exec's own failures exit with the statuses env(1) and timeout(1) use,
// so that they are told apart from CMD's.
const (
	execFailed      = 125 // paracfs itself failed (bad flags, no mount)
	execCannotRun   = 126 // CMD was found but could not be run
	execNotFound    = 127 // CMD was not found
	execSignalShift = 128 // CMD was killed by signal N: 128+N, as the shell says
)

func execFlagSet(mf *mountFlags) *pflag.FlagSet {
	flags := flagSet("exec", "[flags] [DIR] -- CMD [ARG...]",
		"Mounts DIR (default: the nearest .parac at or above the current directory) in place,\n"+
			"runs CMD, unmounts, and exits with CMD's status (128+N if a signal N killed it), even\n"+
			"when CMD fails. If DIR is already mounted by paracfs, CMD runs on that mount and it\n"+
			"stays. paracfs's own failures exit 125; 126 and 127: CMD cannot be run or is not found.\n"+
			"SIGTERM and SIGHUP are passed on to CMD; SIGINT and SIGQUIT (which a terminal sends to\n"+
			"CMD itself) are ignored while CMD runs.")
	addServeFlags(flags, mf)
	return flags
}

func runExec(args []string) error {
	mf := mountFlags{logLevel: logLevel{slog.LevelWarn}}
	flags := execFlagSet(&mf)
	err := execMain(flags, &mf, args)
	var es exitStatus
	if err == nil || errors.Is(err, pflag.ErrHelp) || errors.As(err, &es) {
		return err
	}
	fmt.Fprintf(os.Stderr, "paracfs exec: %v\n", err)
	return exitStatus(execFailed)
}

func execMain(flags *pflag.FlagSet, mf *mountFlags, args []string) error {
	if err := flags.Parse(args); err != nil {
		if errors.Is(err, pflag.ErrHelp) {
			return err
		}
		return usageError{fmt.Sprintf("%v (run 'paracfs exec --help')", err)}
	}
	dash := flags.ArgsLenAtDash()
	if dash < 0 || dash == flags.NArg() {
		return usageError{"name the command to run after --: paracfs exec [DIR] -- CMD [ARG...]"}
	}
	if dash > 1 {
		return usageError{fmt.Sprintf("too many arguments before --: %q", flags.Args()[:dash])}
	}
	argv := flags.Args()[dash:]
	cfg, err := mf.config()
	if err != nil {
		return err
	}
	cfg.Pinned = pinnedSettings(flags)
	setupLog(os.Stderr, mf.logLevel.level, true)
	dir, err := dirOperand(flags.Args()[:dash], 0)
	if err != nil {
		return err
	}
	// CMD starts from the same directory, by path: when it is inside DIR,
	// that is inside the mount.
	cwd, err := os.Getwd()
	if err != nil {
		return err
	}
	// Like system(3): a terminal's SIGINT and SIGQUIT reach CMD directly;
	// SIGTERM and SIGHUP, sent to paracfs alone, are passed on to CMD, also
	// when they come while mounting.
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	if m, ok := mountAt(dir); ok && m.Dir == dir && !isStale(dir) {
		slog.Info("already mounted by paracfs: running on that mount", "dir", dir)
		return runChild(argv, cwd, sigs)
	}
	if err := checkMount(dir, dir, mf.allowOther); err != nil {
		return err
	}
	d, err := startDaemon(dir, dir, cfg, *mf)
	if err != nil {
		return err
	}
	status := runChild(argv, cwd, sigs)
	slog.Info("unmounting", "mountpoint", dir, "status", int(status))
	os.Chdir("/") // this process must not hold the mount
	d.stop(int(status))
	if err := d.finish(); err != nil {
		slog.Error("unmounting", "mountpoint", dir, "err", err)
	}
	return status
}

// runChild runs CMD with this process's standard files and environment,
// from dir, passing on SIGTERM and SIGHUP from sigs, and returns its status
// as an exitStatus (printing why when it could not be started).
//
// The child gets dir as its working directory by inheriting it: this
// process changes into dir just before it starts CMD, and back to "/" right
// after. A child that changed directory itself would do so between fork
// and exec, while it still shares this process's memory (vfork) and holds
// its descriptors, /dev/fuse included: when dir is on the mount this
// process serves, the daemon must answer that child's request while the
// forking thread (and, under the race detector, the runtime's fork locks)
// waits for the child's exec. That could hang for good.
func runChild(argv []string, dir string, sigs <-chan os.Signal) exitStatus {
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := os.Chdir(dir); err != nil {
		fmt.Fprintf(os.Stderr, "paracfs exec: %v\n", err)
		return exitStatus(execCannotRun)
	}
	err := cmd.Start()
	os.Chdir("/") // this process must not hold the mount
	if err != nil {
		fmt.Fprintf(os.Stderr, "paracfs exec: %v\n", err)
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return exitStatus(execNotFound)
		}
		return exitStatus(execCannotRun)
	}
	slog.Debug("started", "cmd", argv, "pid", cmd.Process.Pid)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case sig := <-sigs:
			if sig == syscall.SIGTERM || sig == syscall.SIGHUP {
				slog.Info("passing a signal on", "signal", sig.String(), "pid", cmd.Process.Pid)
				cmd.Process.Signal(sig)
			}
		case err := <-done:
			return childStatus(err)
		}
	}
}

// childStatus is the shell's $? for a finished child.
func childStatus(err error) exitStatus {
	if err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			slog.Info("the command was killed by a signal", "signal", ws.Signal().String())
			return exitStatus(execSignalShift + int(ws.Signal()))
		}
		return exitStatus(ee.ExitCode())
	}
	return execFailed
}
