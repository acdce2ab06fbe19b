package main

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/paracfs/paracfs/backing"
	pfs "github.com/paracfs/paracfs/fs"
	"golang.org/x/sys/unix"
)

// daemon is a paracfs mount served by this process.
type daemon struct {
	dir, mp string
	back    *backing.Dir
	root    *pfs.Node
	server  *fuse.Server
	served  chan struct{} // closed once the kernel has let go of the mount
	notify  bool          // tell the service manager (mount --foreground)
	once    sync.Once     // STOPPING=1 is sent once
}

// serve runs the daemon of `mount --foreground` (or of the background
// daemon, which reports on --ready-fd): it opens DIR before mounting over
// it, mounts, reports readiness (to the parent, and to systemd through
// $NOTIFY_SOCKET), and serves until unmounted or signalled.
func serve(dir, mp string, cfg backing.Config, mf mountFlags) (err error) {
	var ready *os.File
	if mf.readyFd >= 0 {
		ready = os.NewFile(uintptr(mf.readyFd), "ready")
		defer func() {
			if ready != nil {
				if err != nil {
					fmt.Fprintf(ready, "error: %v\n", err)
				}
				ready.Close()
			}
		}()
		if err := checkMount(dir, mp, mf.allowOther); err != nil {
			return err
		}
	}
	// A signal that comes while mounting stops the daemon right after.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	stopProfile := startCPUProfile()
	defer stopProfile()
	defer limitMemory()()
	d, err := startDaemon(dir, mp, cfg, mf)
	if err != nil {
		return err
	}
	if ready != nil {
		if w := d.back.ConfigFallback(); w != "" {
			fmt.Fprintf(ready, "warning: %s\n", w)
		}
		fmt.Fprintln(ready, "ok")
		ready.Close()
		ready = nil
	}
	d.notify = true
	if err := sdNotify(fmt.Sprintf("READY=1\nMAINPID=%d\nSTATUS=serving %s on %s", os.Getpid(), dir, mp)); err != nil {
		slog.Warn("cannot tell the service manager that the mount is ready", "err", err)
	} else if os.Getenv("NOTIFY_SOCKET") != "" {
		slog.Debug("told the service manager that the mount is ready", "socket", os.Getenv("NOTIFY_SOCKET"))
	}
	select {
	case sig := <-sigs:
		slog.Info("unmounting on a signal", "signal", sig.String(), "mountpoint", mp)
		d.stop(0)
	case <-d.served:
	}
	writeHeapProfile()
	return d.finish()
}

// startDaemon opens DIR, mounts it on MP and returns once the mount
// answers.
func startDaemon(dir, mp string, cfg backing.Config, mf mountFlags) (*daemon, error) {
	slog.Debug("opening the backing directory", "dir", dir, "lock_timeout", cfg.LockTimeout.String(),
		"max_size", cfg.Limits.MaxSize, "log", cfg.LogPath, "globs", strings.Join(backing.DefaultGlobs, " "))
	backing.RaiseFdLimit() // and keep a reserve of descriptors for commits (--fd-reserve)
	b, err := backing.OpenExclusive(dir, cfg)
	if err != nil {
		return nil, err
	}
	// Files created through the mount get the mode the caller's own umask
	// (or the directory's default ACL) gives, worked out by fs
	// (CAP_DONT_MASK); the daemon's umask must not mask them a second
	// time. Everything the daemon makes for itself names its mode.
	unix.Umask(0)
	cfg = b.Config() // with DIR's paracfs.yaml over the command line
	root := pfs.NewRoot(b, sameDir(dir, mp))
	if err := attachStore(b, mf.store, cfg); err != nil { // before the mount: DIR level with the store
		b.Close()
		return nil, err
	}
	opts := pfs.Options(dir, mf.allowOther, mf.debug)
	how := "fusermount3"
	if opts.DirectMount {
		how = "mount(2)"
	}
	// daemon.json before the mount: whoever sees the mount (paracfs
	// status, unmount, a test watching /proc/mounts) finds the daemon.
	started := time.Now().Format(time.RFC3339)
	writeState := func(cfg backing.Config) {
		state, _ := json.MarshalIndent(daemonState{
			Pid: os.Getpid(), Dir: dir, Mountpoint: mp, Started: started,
			Config: anyConfig{"lock_timeout": cfg.LockTimeout.String(), "max_size": cfg.Limits.MaxSize,
				"log": cfg.LogPath, "log_max_size": cfg.LogMaxSize, "store_max_size": cfg.StoreMaxSize,
				"staging_max_size": cfg.StagingMaxSize, "fd_reserve": cfg.FdReserve, "history_versions": max(cfg.History.MaxVersions, 0),
				"history_days": historyDays(cfg.History), "allow_other": mf.allowOther, "globs": cfg.Globs},
		}, "", "  ")
		b.WriteMeta(backing.StateFile, append(state, '\n'))
	}
	writeState(cfg)
	slog.Debug("mounting", "mountpoint", mp, "with", how, "allow_other", mf.allowOther)
	server, err := gofs.Mount(mp, root, opts)
	if err != nil {
		b.RemoveMeta(backing.StateFile)
		b.DetachStore()
		b.Close()
		return nil, fmt.Errorf("mount %s: %v", mp, strings.TrimSpace(err.Error()))
	}
	fuseCloseOnExec()
	b.OnStoreApplied(root.Changed) // another mount's commit applied: drop the kernel's caches
	b.OnConfig(writeState)         // paracfs.yaml changed: clients find the log where it is now
	b.OnLogReplaced(root.LogReplaced)
	slog.Info("mounted", "dir", dir, "mountpoint", mp, "pid", os.Getpid())
	d := &daemon{dir: dir, mp: mp, back: b, root: root, server: server, served: make(chan struct{})}
	go func() {
		server.Wait()
		close(d.served)
	}()
	return d, nil
}

// stop unmounts. Commits in flight finish first: a busy mount is detached
// lazily, and the process exits with exitCode once the kernel lets go, or
// after a grace period.
func (d *daemon) stop(exitCode int) {
	d.stopping()
	err := d.server.Unmount()
	if err == nil {
		return
	}
	select {
	case <-d.served:
		return // unmounted meanwhile
	default:
	}
	slog.Warn("the mount is busy: detaching it lazily", "mountpoint", d.mp, "err", strings.TrimSpace(err.Error()))
	if err := detach(d.mp); err != nil {
		slog.Error("lazy unmount failed", "mountpoint", d.mp, "err", err)
	}
	go func() {
		time.Sleep(5 * time.Second)
		slog.Warn("files are still open on the detached mount after 5s: exiting", "mountpoint", d.mp)
		os.Exit(exitCode)
	}()
}

// stopping tells the service manager, once, that the daemon is stopping.
func (d *daemon) stopping() {
	if d.notify {
		d.once.Do(func() { sdNotify("STOPPING=1") })
	}
}

// finish waits until the kernel has let go of the mount, finishes what is
// in flight and closes the backing directory.
func (d *daemon) finish() error {
	<-d.served
	d.stopping()
	d.root.Shutdown()
	d.back.RemoveMeta(backing.StateFile)
	d.back.DetachStore()
	if err := d.back.Close(); err != nil {
		slog.Error("closing the backing directory", "dir", d.dir, "err", err)
		return err
	}
	slog.Info("unmounted", "mountpoint", d.mp)
	return nil
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

// historyDays is the age bound of the history in days, 0 for none.
func historyDays(h backing.HistoryBounds) float64 {
	if h.MaxAge < 0 {
		return 0
	}
	return h.MaxAge.Hours() / 24
}

// sameDir reports whether a and b are one directory (before mounting: the
// mountpoint is DIR itself when mounting in place).
func sameDir(a, b string) bool {
	sa, err := os.Stat(a)
	if err != nil {
		return false
	}
	sb, err := os.Stat(b)
	return err == nil && os.SameFile(sa, sb)
}

// fuseCloseOnExec marks the daemon's /dev/fuse descriptor close-on-exec.
// go-fuse opens it without O_CLOEXEC when it mounts with mount(2) itself
// (as root), so every program the daemon started would inherit it:
// paracfs exec's CMD and whatever CMD leaves running. A descriptor held
// there keeps the FUSE connection alive after the daemon has gone, and
// every access to the detached mount then waits forever for an answer;
// the holder could also read the kernel's requests and answer them.
func fuseCloseOnExec() {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if t, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && t == "/dev/fuse" {
			unix.CloseOnExec(fd)
		}
	}
}
