package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/backing"
	pfs "github.com/paracfs/paracfs/fs"
	"github.com/paracfs/paracfs/revision"
)

type mountFlags struct {
	foreground  bool
	lockTimeout time.Duration
	maxSize     string
	logPath     string
	allowOther  bool
	debug       bool
	readyFd     int
}

func runMount(args []string) error {
	var mf mountFlags
	fs := flagSet("mount", "[flags] [DIR [MOUNTPOINT]]",
		"Mounts DIR (default: the nearest .parac at or above the current directory) on MOUNTPOINT\n"+
			"(default: DIR itself, in place). Returns once the mount answers; the daemon runs on\n"+
			"in the background unless --foreground.")
	fs.BoolVarP(&mf.foreground, "foreground", "f", false, "stay attached: serve until unmounted or signalled")
	fs.DurationVar(&mf.lockTimeout, "lock-timeout", 10*time.Second, "how long a commit waits for P.lock")
	fs.StringVar(&mf.maxSize, "max-size", "16MiB", "largest managed file a write may produce (e.g. 512KiB, 16MiB)")
	fs.StringVar(&mf.logPath, "log", backing.DefaultLogPath, "change log, relative to DIR")
	fs.BoolVar(&mf.allowOther, "allow-other", false, "let other users in (the kernel then checks permissions)")
	fs.BoolVar(&mf.debug, "debug", false, "print every FUSE request (foreground)")
	fs.IntVar(&mf.readyFd, "ready-fd", -1, "descriptor to report readiness on (used by the background daemon)")
	fs.MarkHidden("ready-fd")
	if err := parse(fs, args, 2); err != nil {
		return err
	}
	maxSize, err := parseSize(mf.maxSize)
	if err != nil {
		return usageError{fmt.Sprintf("--max-size %q: %v", mf.maxSize, err)}
	}
	if mf.lockTimeout <= 0 {
		return usageError{fmt.Sprintf("--lock-timeout %s: must be positive", mf.lockTimeout)}
	}
	logPath := filepath.ToSlash(filepath.Clean(mf.logPath))
	if filepath.IsAbs(mf.logPath) || strings.HasPrefix(logPath, "../") || logPath == ".." || logPath == "." {
		return usageError{fmt.Sprintf("--log %q: must be a path inside DIR", mf.logPath)}
	}

	var dir, mp string
	if fs.NArg() >= 1 {
		if dir, err = absDir(fs.Arg(0)); err != nil {
			return err
		}
	} else if dir, err = findParac(); err != nil {
		return err
	}
	mp = dir
	if fs.NArg() == 2 {
		if mp, err = absDir(fs.Arg(1)); err != nil {
			return err
		}
	}
	if mf.readyFd < 0 {
		if err := checkMount(dir, mp); err != nil {
			return err
		}
	}
	lim := revision.DefaultLimits()
	lim.MaxSize = maxSize
	cfg := backing.Config{LockTimeout: mf.lockTimeout, Limits: lim, LogPath: logPath}
	if mf.foreground || mf.readyFd >= 0 {
		return serve(dir, mp, cfg, mf)
	}
	return daemonize(dir, mp, args)
}

// checkMount fails fast, with one clear line, on what would make the mount
// fail, and cleans up a stale mount left by a killed daemon.
func checkMount(dir, mp string) error {
	for _, p := range []string{dir, mp} {
		if isStale(p) {
			if err := detach(p); err != nil {
				return fmt.Errorf("%s: a killed daemon left a stale mount that could not be cleaned up: %v", p, err)
			}
			fmt.Fprintf(os.Stderr, "paracfs: cleaned up a stale mount at %s\n", p)
		}
	}
	for _, p := range []string{dir, mp} {
		st, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s: no such directory", p)
		}
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return fmt.Errorf("%s: not a directory", p)
		}
		if m, ok := mountAt(p); ok {
			return fmt.Errorf("%s is already mounted by paracfs (backing directory %s)", p, m.Dir)
		}
	}
	ms, _ := paracfsMounts()
	for _, m := range ms {
		if m.Dir == dir && !isStale(m.Mountpoint) {
			return fmt.Errorf("%s is already mounted by paracfs, on %s", dir, m.Mountpoint)
		}
	}
	if err := unix.Access(dir, unix.R_OK|unix.W_OK|unix.X_OK); err != nil {
		return fmt.Errorf("%s: permission denied (paracfs needs read, write and search access)", dir)
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("FUSE is unavailable: %v", err)
	}
	f.Close()
	if os.Geteuid() != 0 {
		if _, err := exec.LookPath("fusermount3"); err != nil {
			return fmt.Errorf("FUSE is unavailable: fusermount3 not found (install the fuse3 package)")
		}
	}
	return nil
}

// daemonize starts the daemon in its own session and waits until it
// reports that the mount answers, or why it failed.
func daemonize(dir, mp string, args []string) error {
	if err := os.MkdirAll(filepath.Join(dir, backing.MetaDir), 0o755); err != nil {
		return err
	}
	logf, err := os.OpenFile(filepath.Join(dir, backing.MetaDir, "daemon.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// The daemon gets the same flags, plus where to report, and the
	// resolved paths (it must not look for .parac itself once mounted).
	cargs := append([]string{"mount", "--ready-fd=3"}, daemonFlags(args)...)
	cargs = append(cargs, dir, mp)
	cmd := exec.Command(self, cargs...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		w.Close()
		return err
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	line, _ := bufio.NewReader(r).ReadString('\n')
	line = strings.TrimSpace(line)
	if line == "ok" {
		fmt.Printf("paracfs: mounted %s on %s (daemon pid %d, log %s)\n", dir, mp, cmd.Process.Pid, filepath.Join(dir, backing.MetaDir, "daemon.log"))
		cmd.Process.Release()
		return nil
	}
	if line != "" {
		<-exited
		return errors.New(strings.TrimPrefix(line, "error: "))
	}
	err = <-exited
	return fmt.Errorf("the daemon exited before the mount answered (%v); see %s", err, filepath.Join(dir, backing.MetaDir, "daemon.log"))
}

// daemonFlags keeps the flags of a mount command line, dropping its
// positional arguments (passed resolved instead).
func daemonFlags(args []string) []string {
	var out []string
	takesValue := map[string]bool{"--lock-timeout": true, "--max-size": true, "--log": true}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-f" || a == "--foreground" {
			continue
		}
		out = append(out, a)
		if takesValue[a] && i+1 < len(args) {
			out = append(out, args[i+1])
			i++
		}
	}
	return out
}

// serve runs the daemon: it opens DIR before mounting over it, mounts,
// reports readiness, and serves until unmounted or signalled.
func serve(dir, mp string, cfg backing.Config, mf mountFlags) (err error) {
	var ready *os.File
	if mf.readyFd >= 0 {
		ready = os.NewFile(uintptr(mf.readyFd), "ready")
		defer func() {
			if err != nil {
				fmt.Fprintf(ready, "error: %v\n", err)
			}
			ready.Close()
		}()
		if err := checkMount(dir, mp); err != nil {
			return err
		}
	}
	d, err := backing.Open(dir, cfg)
	if err != nil {
		return err
	}
	root := pfs.NewRoot(d)
	server, err := gofs.Mount(mp, root, pfs.Options(dir, mf.allowOther, mf.debug))
	if err != nil {
		d.Close()
		return fmt.Errorf("mount %s: %v", mp, err)
	}
	state, _ := json.MarshalIndent(daemonState{
		Pid: os.Getpid(), Dir: dir, Mountpoint: mp, Started: time.Now().Format(time.RFC3339),
		Config: anyConfig{"lock_timeout": cfg.LockTimeout.String(), "max_size": cfg.Limits.MaxSize,
			"log": cfg.LogPath, "allow_other": mf.allowOther, "globs": backing.DefaultGlobs},
	}, "", "  ")
	d.WriteMeta("daemon.json", append(state, '\n'))
	fmt.Fprintf(os.Stderr, "paracfs: %s mounted on %s (pid %d)\n", dir, mp, os.Getpid())
	if ready != nil {
		fmt.Fprintln(ready, "ok")
		ready.Close()
		ready = nil
		mf.readyFd = -1
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			fmt.Fprintf(os.Stderr, "paracfs: %v: unmounting %s\n", sig, mp)
			stop(server, mp)
		case <-done:
		}
	}()
	server.Wait()
	close(done)
	root.Shutdown()
	d.RemoveMeta("daemon.json")
	if err := d.Close(); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "paracfs: %s unmounted\n", mp)
	return nil
}

// stop unmounts on a signal. Commits in flight finish first: a busy mount
// is detached lazily, and the daemon exits once the kernel lets go, or
// after a grace period.
func stop(server *fuse.Server, mp string) {
	if err := server.Unmount(); err == nil {
		return
	} else {
		fmt.Fprintf(os.Stderr, "paracfs: %s is busy (%v): detaching lazily\n", mp, err)
	}
	if err := detach(mp); err != nil {
		fmt.Fprintf(os.Stderr, "paracfs: lazy unmount of %s: %v\n", mp, err)
	}
	go func() {
		time.Sleep(5 * time.Second)
		fmt.Fprintf(os.Stderr, "paracfs: %s still has open files after 5s: exiting\n", mp)
		os.Exit(0)
	}()
}

// detach lazily unmounts p: MNT_DETACH as root, fusermount3 -u -z otherwise.
func detach(p string) error {
	if os.Geteuid() == 0 {
		return unix.Unmount(p, unix.MNT_DETACH)
	}
	out, err := exec.Command("fusermount3", "-u", "-z", p).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// parseSize reads sizes such as 4096, 512KiB, 16MiB, 1G.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive size such as 4096, 512KiB or 16MiB")
	}
	if n > (1<<40)/mult {
		return 0, errors.New("too large")
	}
	return n * mult, nil
}
