package main

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/paracfs/paracfs/backing"
	"github.com/paracfs/paracfs/revision"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

// mountFlags says how DIR is served: the flags of mount, most of them
// shared with exec and the mount.fuse.paracfs helper.
type mountFlags struct {
	foreground     bool
	lockTimeout    time.Duration
	maxSize        string
	logPath        string
	logMaxSize     string
	rejectedMax    string
	storeMaxSize   string
	stagingMaxSize string
	fdReserve      int64
	histVers       int
	histDays       float64
	allowOther     bool
	debug          bool
	logLevel       logLevel
	readyFd        int
	store          storeFlags // --store and its TLS and auth flags (cmd_mount_store.go)
}

// addServeFlags defines the flags that say how DIR is served.
func addServeFlags(flags *pflag.FlagSet, mf *mountFlags) {
	flags.DurationVar(&mf.lockTimeout, "lock-timeout", 10*time.Second, "how long a commit waits for P.lock")
	flags.StringVar(&mf.maxSize, "max-size", "16MiB", "largest managed file a write may produce (e.g. 512KiB, 16MiB)")
	flags.StringVar(&mf.logPath, "log", backing.DefaultLogPath, "change log, relative to DIR")
	flags.SetAnnotation("log", annotFiles, []string{"jsonl"})
	flags.StringVar(&mf.rejectedMax, "rejected-max", "64MiB", "bytes of refused writes kept per writer in .paracfs/rejected, beside DIR (0: no bound)")
	flags.StringVar(&mf.logMaxSize, "log-max-size", "64MiB", "rotate the change log to LOG.1 when it reaches this size (0: never)")
	flags.StringVar(&mf.stagingMaxSize, "staging-max-size", "256MiB", "bound on the memory that writes staged on all open handles take: a write past it fails with ENOSPC (0: no bound)")
	flags.Int64Var(&mf.fdReserve, "fd-reserve", backing.DefaultFdReserve, "descriptors kept for commits: opens of read handles, change-log appenders and new scratch files beyond the descriptor limit less these fail with EMFILE")
	flags.StringVar(&mf.storeMaxSize, "store-max-size", "256MiB", "bound on paracfs's history and kept refused writes (.paracfs, beside DIR): the oldest versions are pruned past it (0: no bound)")
	flags.IntVar(&mf.histVers, "history-versions", backing.DefaultHistoryVersions, "versions kept per managed file in .paracfs/history, beside DIR (0: keep none)")
	flags.Float64Var(&mf.histDays, "history-days", backing.DefaultHistoryAge.Hours()/24, "days a version is kept (0: no age limit; the newest is always kept)")
	flags.BoolVar(&mf.allowOther, "allow-other", false, "let other users in (the kernel then checks permissions: mode bits and ACLs)")
	flags.Var(&mf.logLevel, "log-level", "the daemon's own messages at this level and above: "+strings.Join(logLevelNames, ", "))
	flags.SetAnnotation("log-level", annotValues, logLevelNames)
	flags.BoolVar(&mf.debug, "debug", false, "print every FUSE request")
	addStoreFlags(flags, &mf.store)
}

func mountFlagSet(mf *mountFlags) *pflag.FlagSet {
	flags := flagSet("mount", "[flags] [DIR [MOUNTPOINT]]",
		"Mounts DIR (default: the nearest .parac at or above the current directory) on MOUNTPOINT\n"+
			"(default: DIR itself, in place). Returns once the mount answers; the daemon runs on\n"+
			"in the background, logging to daemon.log in its data folder beside DIR\n"+
			"(.parac.paracfs/ for .parac), unless --foreground.\n"+
			"Settings also come from DIR/paracfs.yaml (see docs/config.md); flags given here take\n"+
			"precedence over it.")
	flags.BoolVarP(&mf.foreground, "foreground", "f", false, "stay attached: serve until unmounted or signalled, logging to stderr")
	addServeFlags(flags, mf)
	flags.IntVar(&mf.readyFd, "ready-fd", -1, "descriptor to report readiness on (used by the background daemon)")
	flags.MarkHidden("ready-fd")
	return flags
}

// config checks the serving flags and turns them into the backing
// directory's configuration.
func (mf *mountFlags) config() (backing.Config, error) {
	maxSize, err := parseSize(mf.maxSize)
	if err != nil {
		return backing.Config{}, usageError{fmt.Sprintf("--max-size %q: %v", mf.maxSize, err)}
	}
	if mf.lockTimeout <= 0 {
		return backing.Config{}, usageError{fmt.Sprintf("--lock-timeout %s: must be positive", mf.lockTimeout)}
	}
	var logMax int64
	if s := strings.TrimSpace(mf.logMaxSize); s != "0" && s != "" {
		if logMax, err = parseSize(s); err != nil {
			return backing.Config{}, usageError{fmt.Sprintf("--log-max-size %q: %v, or 0 for no rotation", mf.logMaxSize, err)}
		}
		if logMax < 4096 {
			return backing.Config{}, usageError{fmt.Sprintf("--log-max-size %q: want at least 4KiB, or 0 for no rotation", mf.logMaxSize)}
		}
	}
	rejMax := int64(-1)
	if s := strings.TrimSpace(mf.rejectedMax); s != "0" && s != "" {
		if rejMax, err = parseSize(s); err != nil {
			return backing.Config{}, usageError{fmt.Sprintf("--rejected-max %q: %v, or 0 for no bound", mf.rejectedMax, err)}
		}
	}
	var storeMax int64
	if s := strings.TrimSpace(mf.storeMaxSize); s != "0" && s != "" {
		if storeMax, err = parseSize(s); err != nil || storeMax < 4096 {
			return backing.Config{}, usageError{fmt.Sprintf("--store-max-size %q: want a size of at least 4KiB, or 0 for no bound", mf.storeMaxSize)}
		}
	}
	var stagingMax int64
	if s := strings.TrimSpace(mf.stagingMaxSize); s != "0" && s != "" {
		if stagingMax, err = parseSize(s); err != nil || stagingMax < 4096 {
			return backing.Config{}, usageError{fmt.Sprintf("--staging-max-size %q: want a size of at least 4KiB, or 0 for no bound", mf.stagingMaxSize)}
		}
	}
	if mf.fdReserve < 0 {
		return backing.Config{}, usageError{fmt.Sprintf("--fd-reserve %d: want a number of descriptors", mf.fdReserve)}
	}
	logPath := filepath.ToSlash(filepath.Clean(mf.logPath))
	if filepath.IsAbs(mf.logPath) || strings.HasPrefix(logPath, "../") || logPath == ".." || logPath == "." {
		return backing.Config{}, usageError{fmt.Sprintf("--log %q: must be a path inside DIR", mf.logPath)}
	}
	if mf.histVers < 0 {
		return backing.Config{}, usageError{fmt.Sprintf("--history-versions %d: want a number of versions, or 0 to keep none", mf.histVers)}
	}
	if mf.histDays < 0 || mf.histDays > 1e6 {
		return backing.Config{}, usageError{fmt.Sprintf("--history-days %g: want 0 (no age limit) or a number of days", mf.histDays)}
	}
	hist := backing.HistoryBounds{MaxVersions: mf.histVers, MaxAge: time.Duration(mf.histDays * float64(24*time.Hour))}
	if mf.histDays == 0 {
		hist.MaxAge = -1 // no age bound
	}
	if mf.histVers == 0 {
		hist.MaxVersions = -1 // no history
	}
	if err := mf.store.check(); err != nil {
		return backing.Config{}, err
	}
	lim := revision.DefaultLimits()
	lim.MaxSize = maxSize
	return backing.Config{LockTimeout: mf.lockTimeout, Limits: lim, LogPath: logPath, LogMaxSize: logMax, StoreMaxSize: storeMax,
		StagingMaxSize: stagingMax, FdReserve: mf.fdReserve, History: hist, RejectedMax: rejMax,
		Store: mf.store.settings(), CheckStoreURL: checkStoreURL}, nil
}

// pinnedSettings names the config file's settings given on the command
// line: the command line takes precedence over DIR's paracfs.yaml.
func pinnedSettings(flags *pflag.FlagSet) []string {
	var out []string
	for flag, key := range map[string]string{"lock-timeout": backing.SetLockTimeout, "log": backing.SetLog,
		"history-versions": backing.SetHistoryVersions, "history-days": backing.SetHistoryAge,
		"log-max-size": backing.SetLogMaxSize, "store-max-size": backing.SetStoreMaxSize,
		"staging-max-size": backing.SetStagingMaxSize, "fd-reserve": backing.SetFdReserve,
		"store": backing.SetStore, "etcd-ca": backing.SetEtcdCA, "etcd-cert": backing.SetEtcdCert, "etcd-key": backing.SetEtcdKey,
		"etcd-user": backing.SetEtcdUser, "etcd-password-file": backing.SetEtcdPasswordFile} {
		if flags.Changed(flag) {
			out = append(out, key)
		}
	}
	return out
}

func runMount(args []string) error {
	mf := mountFlags{logLevel: logLevel{slog.LevelInfo}}
	flags := mountFlagSet(&mf)
	if err := parse(flags, args, 2); err != nil {
		return err
	}
	cfg, err := mf.config()
	if err != nil {
		return err
	}
	cfg.Pinned = pinnedSettings(flags)
	daemon := mf.foreground || mf.readyFd >= 0
	if mf.debug && !mf.foreground {
		// In the background every request would be logged into
		// .paracfs/daemon.log, inside the mount: reading that log through
		// the mount would log each read, which feeds itself.
		return usageError{"--debug needs --foreground (it prints every FUSE request to stderr)"}
	}
	setupLog(os.Stderr, mf.logLevel.level, daemon)

	dir, err := dirOperand(flags.Args(), 0)
	if err != nil {
		return err
	}
	mp := dir
	if flags.NArg() == 2 {
		if mp, err = absDir(flags.Arg(1)); err != nil {
			return err
		}
	}
	if mf.readyFd < 0 {
		if err := checkMount(dir, mp, mf.allowOther); err != nil {
			return err
		}
		if err := checkStoreConfig(dir, cfg, mf.store); err != nil {
			return err
		}
	}
	if daemon {
		return serve(dir, mp, cfg, mf)
	}
	return daemonize(dir, mp, daemonArgs(flags))
}

// checkMount fails fast, with one clear line, on what would make the mount
// fail, and cleans up a stale mount left by a killed daemon.
func checkMount(dir, mp string, allowOther bool) error {
	for _, p := range []string{dir, mp} {
		if isStale(p) {
			if err := detach(p); err != nil {
				return fmt.Errorf("%s: a killed daemon left a stale mount that could not be cleaned up: %v", p, err)
			}
			slog.Info("cleaned up a stale mount", "mountpoint", p)
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
		hint := ""
		switch {
		case errors.Is(err, os.ErrNotExist):
			hint = " (in a container, pass the device: --device /dev/fuse)"
		case errors.Is(err, os.ErrPermission):
			hint = " (it must be readable and writable by you: Debian's fuse3 makes it mode 0666)"
		}
		return fmt.Errorf("FUSE is unavailable: %v%s", err, hint)
	}
	f.Close()
	if os.Geteuid() == 0 {
		if !hasCapSysAdmin() {
			return errors.New("FUSE is unavailable: mounting as root needs CAP_SYS_ADMIN (in a container, add it: --cap-add SYS_ADMIN)")
		}
		return nil
	}
	if _, err := exec.LookPath("fusermount3"); err != nil {
		return errors.New("FUSE is unavailable: fusermount3 not found (install the fuse3 package)")
	}
	if allowOther && !userAllowOther() {
		return errors.New("--allow-other needs the line user_allow_other in /etc/fuse.conf when not mounting as root")
	}
	return nil
}

// hasCapSysAdmin reports whether this process may call mount(2).
func hasCapSysAdmin() bool {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return true // cannot tell: let mount(2) say
	}
	for _, line := range strings.Split(string(b), "\n") {
		if hex, ok := strings.CutPrefix(line, "CapEff:"); ok {
			caps, err := strconv.ParseUint(strings.TrimSpace(hex), 16, 64)
			return err != nil || caps&(1<<unix.CAP_SYS_ADMIN) != 0
		}
	}
	return true
}

// userAllowOther reports whether /etc/fuse.conf lets users mount with
// allow_other.
func userAllowOther() bool {
	f, err := os.Open("/etc/fuse.conf")
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if strings.TrimSpace(sc.Text()) == "user_allow_other" {
			return true
		}
	}
	return false
}

// announce makes mount say what it mounted (mount(8)'s helper is silent
// unless -v).
var announce = true

// maxDaemonLog is the size past which daemon.log is moved to daemon.log.1
// when the next daemon starts.
const maxDaemonLog = 1 << 20

// ownedBySelfOrRoot says whether st is root's or this process's user's:
// anyone else could change it under a root daemon.
func ownedBySelfOrRoot(st *unix.Stat_t) bool {
	return st.Uid == 0 || st.Uid == uint32(os.Geteuid())
}

// daemonize starts the daemon in its own session and waits until it
// reports that the mount answers, or why it failed. The daemon's stderr,
// and so its log, is daemon.log in paracfs's data folder beside DIR
// (metaBeneath).
func daemonize(dir, mp string, flags []string) error {
	// Never through a symlink: DIR may be writable by others, and this
	// may run as root.
	mbase, mname := metaBeneath(dir)
	if st, err := os.Lstat(filepath.Join(mbase, mname)); err == nil && st.Mode()&os.ModeSymlink != 0 {
		return fmt.Errorf("%s is a symlink: paracfs keeps its data there and follows no link; move it away", filepath.Join(mbase, mname))
	}
	if err := mkdirBeneath(mbase, mname, 0o755); err != nil {
		return fmt.Errorf("cannot make %s, where paracfs keeps its data beside DIR (it needs to write in %s): %w", filepath.Join(mbase, mname), mbase, err)
	}
	meta, err := openBeneath(mbase, mname, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	if err := backing.CheckDataFolder(int(meta.Fd()), filepath.Join(mbase, mname)); err != nil {
		meta.Close()
		return err
	}
	var st unix.Stat_t
	if unix.Fstatat(int(meta.Fd()), "daemon.log", &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Size > maxDaemonLog {
		unix.Renameat(int(meta.Fd()), "daemon.log", int(meta.Fd()), "daemon.log.1")
	}
	meta.Close()
	// O_NONBLOCK: a FIFO planted there must not hang the mount. A hard
	// link (to a file elsewhere) is refused like a symlink.
	logf, err := openBeneath(mbase, mname+"/daemon.log", unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_NONBLOCK, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	logName := logf.Name()
	if err := unix.Fstat(int(logf.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG || st.Nlink != 1 || !ownedBySelfOrRoot(&st) {
		return fmt.Errorf("%s/%s/daemon.log is not a regular file of the daemon's (a FIFO, a device, another link to a file elsewhere?): move it away", mbase, mname)
	}
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
	cargs := append([]string{"mount", "--ready-fd=3"}, flags...)
	cargs = append(cargs, "--", dir, mp)
	cmd := exec.Command(self, cargs...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.ExtraFiles = []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	// Readiness is reported here, on the pipe; a service manager that
	// waits for it runs `mount --foreground`, which notifies it.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		w.Close()
		return err
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	br := bufio.NewReader(r)
	line, _ := br.ReadString('\n')
	line = strings.TrimSpace(line)
	for strings.HasPrefix(line, "warning: ") {
		// Said before "ok": what the user must know at once (a broken
		// paracfs.yaml replaced by the last good one).
		fmt.Fprintf(os.Stderr, "paracfs: %s\n", strings.TrimPrefix(line, "warning: "))
		line, _ = br.ReadString('\n')
		line = strings.TrimSpace(line)
	}
	if line == "ok" {
		if announce {
			fmt.Printf("paracfs: mounted %s on %s (daemon pid %d, log %s)\n", dir, mp, cmd.Process.Pid, logName)
		}
		cmd.Process.Release()
		return nil
	}
	if line != "" {
		<-exited
		return errors.New(strings.TrimPrefix(line, "error: "))
	}
	err = <-exited
	return fmt.Errorf("the daemon exited before the mount answered (%v); see %s", err, logName)
}

// daemonArgs turns the flags set on a mount command line back into
// arguments for the background daemon.
func daemonArgs(flags *pflag.FlagSet) []string {
	var out []string
	flags.Visit(func(f *pflag.Flag) {
		if f.Name != "foreground" && f.Name != "ready-fd" {
			out = append(out, "--"+f.Name+"="+f.Value.String())
		}
	})
	return out
}
