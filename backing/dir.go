// Package backing is the directory behind the mount. It is rooted at a
// directory descriptor opened before the mount, and reaches every file
// relative to it with *at() calls and openat2(RESOLVE_BENEATH|
// RESOLVE_NO_SYMLINKS), so nothing here ever re-enters the mount or
// follows a symlink out of DIR. It stages nothing itself: callers hand it
// whole new contents, and Commit turns them into a locked, validated,
// revision-checked, atomic, logged replacement. It knows nothing of FUSE.
package backing

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
	"github.com/paracfs/paracfs/revision"
)

// Config is what a mount is told on its command line and in DIR's config
// file, paracfs.yaml (see config.go).
type Config struct {
	Globs       []string        // managed names; DefaultGlobs when empty
	LockTimeout time.Duration   // how long a commit waits for P.lock
	Limits      revision.Limits // size, depth and alias limits for validation
	LogPath     string          // change log relative to DIR
	LogMaxSize  int64           // rotate the change log at this size (0: never; see rotate.go)
	// StoreMaxSize bounds DIR/.paracfs's history objects and kept
	// refusals together (0: no bound; see store.go).
	StoreMaxSize int64
	// StagingMaxSize bounds the bytes staged on all open handles (0: no
	// bound), and FdReserve is the descriptors kept for commits (see
	// budget.go).
	StagingMaxSize int64
	FdReserve      int64
	History        HistoryBounds // how many committed versions are kept, and how long
	RejectedMax    int64         // bytes of refused writes kept per writer (0: DefaultRejectedMax; <0: no bound)
	Rules          []Rule        // per-glob checks and revision stamping, from the config file
	Store          StoreSettings // where the committed state is shared (configstore.go); empty: DIR alone
	// CheckStoreURL says what is wrong with a store URL from the config
	// file (main: package store's parser); nil: any non-empty one is taken.
	CheckStoreURL func(url string) error

	// Pinned names the settings given on the command line (SetLockTimeout,
	// SetLog, ...): the config file does not change them.
	Pinned []string

	schemaFiles []string // the schema files the rules were compiled from
}

// HistoryBounds bound the history kept per managed file: at most
// MaxVersions versions (0: DefaultHistoryVersions; negative: no history
// is recorded), none older than MaxAge
// (0: DefaultHistoryAge; negative: no age bound), the newest version always
// kept. See history.go.
type HistoryBounds struct {
	MaxVersions int
	MaxAge      time.Duration
}

// Dir is an open backing directory.
type Dir struct {
	fd   int      // O_RDONLY|O_DIRECTORY on DIR, opened before the mount
	meta *metaDir // paracfs's own data, beside DIR (metadir.go)
	Root string   // DIR's absolute path, for messages only: never opened

	cfg       configState // the configuration in force, and its reloads (configstate.go)
	log       logState    // the change log, its file and its watchers (logstate.go)
	keepMu    sync.Mutex  // one refused write kept at a time, against its writer's bound
	revs      *revStore
	committed committedCache // the last version committed of recent files, parsed
	dirs      dirCache       // descriptors of recently used directories, for Lstat
	locks     *lockTable
	stats     stats

	mountLocks func(rel string) bool // whether a holder of a lock file through the mount is blocked

	hist   historyCache // what is kept of each file's history (history.go)
	store  storeUsage   // bytes of the history's objects and kept refusals (store.go)
	budget budgets      // staged bytes and read handles (budget.go)

	inflight sync.WaitGroup // commits under way, waited for by Close
	closeMu  sync.RWMutex
	closed   bool

	shared *storeState // the store shared with other mounts (shared.go); nil: DIR alone
}

// Open opens DIR, cleans what a killed daemon left behind (temp files, a
// torn log line, a commit that landed without its log line) and opens the
// change log. It must be called before DIR is
// mounted over.
func Open(root string, cfg Config) (*Dir, error) {
	return open(root, cfg, false)
}

// OpenExclusive is Open for the daemon: it first takes an exclusive lock
// on DIR itself (flock on the directory's inode, so any path to DIR, a
// symlink or a bind mount included, meets it), and fails with
// ErrAlreadyServed while another daemon holds it. The lock lasts until
// Close. Recovery (removing temp files) runs only under it, so it never
// touches a commit in flight of another daemon.
func OpenExclusive(root string, cfg Config) (*Dir, error) {
	return open(root, cfg, true)
}

// ErrAlreadyServed says another paracfs daemon serves DIR.
var ErrAlreadyServed = errors.New("already served by another paracfs daemon")

func open(root string, cfg Config, exclusive bool) (*Dir, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", root, err)
	}
	if exclusive {
		if err := lockDir(fd); err != nil {
			unix.Close(fd)
			return nil, fmt.Errorf("%s: %w", root, err)
		}
	}
	if len(cfg.Globs) == 0 {
		cfg.Globs = DefaultGlobs
	}
	if cfg.LogPath == "" {
		cfg.LogPath = DefaultLogPath
	}
	if cfg.LockTimeout <= 0 {
		cfg.LockTimeout = 10 * time.Second
	}
	cfg.History = cfg.History.withDefaults()
	if cfg.Limits.MaxSize <= 0 {
		cfg.Limits.MaxSize = revision.DefaultLimits().MaxSize // other zero limits mean revision's defaults
	}
	d := &Dir{fd: fd, Root: root, cfg: configState{cmdline: cfg}, locks: newLockTable()}
	d.cfg.Store(&cfg)
	moved, err := d.openMeta()
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := d.prepareMeta(); err != nil {
		d.meta.close()
		unix.Close(fd)
		return nil, err
	}
	fallback, warns, err := d.loadConfig()
	if err != nil {
		d.meta.close()
		unix.Close(fd)
		return nil, err
	}
	d.finishRotation()
	if err := d.openLog(false); err != nil {
		d.meta.close()
		unix.Close(fd)
		return nil, err
	}
	d.logMigration(moved)
	if fallback != "" {
		d.cfg.fallback = fallback
		d.configNote(changelog.OpConfigError, fallback)
	}
	for _, w := range warns {
		d.configNote(changelog.OpConfig, w)
	}
	d.revs = newRevStore(d)
	var managed []string
	removed, err := d.removeTemps(".", &managed)
	if err != nil {
		d.Close()
		return nil, err
	}
	if n, err := d.removeTemps(MetaDir, new([]string)); err == nil {
		removed += n
	}
	if removed > 0 {
		d.note(changelog.OpRecover, fmt.Sprintf("removed %d temp file(s) left by an interrupted commit", removed))
	}
	d.logUnlogged(managed)
	d.collectObjects()
	d.measureStore()
	return d, nil
}

// Fd is the directory descriptor, for callers that must name a backing file
// by path (as /proc/self/fd/N/rel).
func (d *Dir) Fd() int { return d.fd }

// Close waits for commits in flight, then closes the log and DIR.
func (d *Dir) Close() error {
	d.closeMu.Lock()
	d.closed = true
	d.closeMu.Unlock()
	d.inflight.Wait()
	d.dirs.flush()
	d.flushAllPending()
	if d.log.nHeld.Load() > 0 {
		if w, err := d.logWriter(); err == nil {
			d.appendHeld(w, nil) // a last try: what stays held, the next start recovers
		}
	}
	d.markLogSynced()
	var errs []error
	d.log.mu.Lock()
	if d.log.f != nil {
		errs = append(errs, d.log.f.Close())
	}
	for _, f := range d.log.retired {
		errs = append(errs, f.Close())
	}
	d.log.mu.Unlock()
	d.meta.close()
	errs = append(errs, unix.Close(d.fd))
	return errors.Join(errs...)
}

// begin registers a commit in flight; it fails once Close has started.
func (d *Dir) begin() error {
	d.closeMu.RLock()
	defer d.closeMu.RUnlock()
	if d.closed {
		return unix.ESHUTDOWN
	}
	d.inflight.Add(1)
	return nil
}

const resolveFlags = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// openat opens rel beneath DIR without following any symlink on the way.
// A rel longer than the kernel takes in one path (PATH_MAX) is walked in
// chunks, each from the directory the previous one opened: the kernel
// resolves each path the mount is asked for relative to a directory, so
// only a name (255 bytes) is bounded, not the depth below DIR.
func (d *Dir) openat(rel string, flags int, mode uint32) (int, error) {
	if rel == "" {
		rel = "."
	}
	if flags&(unix.O_CREAT|unix.O_TMPFILE) == 0 {
		mode = 0 // openat2 refuses a mode it would not use
	}
	dfd, rel, err := d.resolve(rel) // paracfs's data: beside DIR
	if err != nil {
		return -1, err
	}
	for len(rel) > maxPathChunk {
		i := strings.LastIndexByte(rel[:maxPathChunk+1], '/')
		if i <= 0 {
			closeWalk(d, dfd)
			return -1, unix.ENAMETOOLONG
		}
		fd, err := openat2(dfd, rel[:i], unix.O_PATH|unix.O_DIRECTORY, 0)
		closeWalk(d, dfd)
		if err != nil {
			return -1, err
		}
		dfd, rel = fd, rel[i+1:]
	}
	fd, err := openat2(dfd, rel, flags, mode)
	closeWalk(d, dfd)
	return fd, err
}

// maxPathChunk is the longest path handed to one openat2: PATH_MAX less
// its terminating NUL.
const maxPathChunk = unix.PathMax - 1

func closeWalk(d *Dir, fd int) {
	if !d.ownFd(fd) {
		unix.Close(fd)
	}
}

// openat2 opens rel beneath dfd, following no symlink.
func openat2(dfd int, rel string, flags int, mode uint32) (int, error) {
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC), Mode: uint64(mode), Resolve: resolveFlags}
	for {
		fd, err := unix.Openat2(dfd, rel, how)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue // a concurrent rename raced the resolution: try again
		}
		return fd, err
	}
}

// parent opens rel's parent directory (O_PATH) and returns it with rel's
// last element (leaf). The caller closes pfd unless it is d.fd (use closeParent).
// paracfs's data folder (MetaDir) is in DIR's parent, under its own name.
func (d *Dir) parent(rel string) (pfd int, leaf string, err error) {
	dir, leaf := split(rel)
	if dir == "." && leaf == MetaDir {
		if d.meta == nil {
			return -1, "", unix.ENOENT
		}
		return d.meta.up, d.meta.name, nil
	}
	if dir == "." {
		return d.fd, leaf, nil
	}
	if dir == MetaDir && d.meta != nil {
		return d.meta.fd, leaf, nil
	}
	pfd, err = d.openat(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	return pfd, leaf, err
}

func (d *Dir) closeParent(pfd int) {
	if !d.ownFd(pfd) {
		unix.Close(pfd)
	}
}

// prepareMeta fills paracfs's data folder (opened by openMeta, beside
// DIR) with its folders, the control file, and a .gitignore that keeps it
// out of git (it sits in the project's folder).
func (d *Dir) prepareMeta() error {
	where := d.meta.path
	mfd := d.meta.fd
	for _, sub := range []string{"rejected", "history", "objects"} {
		if err := unix.Mkdirat(mfd, sub, 0o755); err != nil && err != unix.EEXIST {
			return fmt.Errorf("%s/%s: %w", where, sub, err)
		}
		if sfd, err := d.openat(MetaDir+"/"+sub, unix.O_PATH|unix.O_DIRECTORY, 0); err != nil {
			return fmt.Errorf("%s/%s is not a directory (a symlink?): paracfs follows no link in its data; move it away", where, sub)
		} else {
			err := CheckDataFolder(sfd, where+"/"+sub)
			unix.Close(sfd)
			if err != nil {
				return err
			}
		}
	}
	// The daemon's own (docs/security.md): through the mount, the daemon
	// checks each caller against the file a version or kept write is of.
	for sub, perm := range map[string]uint32{ObjectsDir: 0o700, HistoryDir: 0o700, RejectedDir: 0o711} {
		if sfd, err := d.openat(sub, unix.O_PATH|unix.O_DIRECTORY, 0); err == nil {
			unix.Fchmodat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(sfd), perm, 0)
			unix.Close(sfd)
		}
	}
	// Files an older paracfs left readable by all (writeMetaFile).
	for _, f := range []string{stampsFile, tombstonesFile, goodConfig} {
		if fd, err := d.openat(f, unix.O_PATH, 0); err == nil {
			var st unix.Stat_t
			if unix.Fstat(fd, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Mode&0o077 != 0 {
				unix.Fchmodat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), 0o600, 0)
			}
			unix.Close(fd)
		}
	}
	if fd, err := d.openat(ControlFile, unix.O_RDONLY|unix.O_CREAT|unix.O_NONBLOCK, 0o600); err != nil {
		return fmt.Errorf("%s/control: %w", where, err)
	} else {
		// The mount shows it as 0666 (fs/control.go); behind it it is the
		// daemon's alone, so nobody appends to it while DIR is unmounted.
		// A file made 0666 by an older version is narrowed and emptied.
		unix.Fchmod(fd, 0o600)
		if wfd, err := d.openat(ControlFile, unix.O_WRONLY|unix.O_TRUNC|unix.O_NONBLOCK, 0); err == nil {
			unix.Close(wfd)
		}
		unix.Close(fd)
	}
	fd, err := d.openat(MetaDir+"/.gitignore", unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644)
	if err == nil {
		_, err = unix.Write(fd, []byte("# paracfs metadata: refused writes, history, daemon log\n*\n"))
		unix.Close(fd)
	}
	if err != nil && err != unix.EEXIST {
		return fmt.Errorf("%s/.gitignore: %w", where, err)
	}
	return nil
}

// openLog opens the change log for appending and repairs a torn last line,
// keeping the cut bytes. With create, it creates the log and its folders;
// without, a missing log is left to be created by its first line, so that
// mounting a directory adds nothing to it until something happens.
func (d *Dir) openLog(create bool) error {
	torn, err := d.openLogLocked(create)
	if err != nil || len(torn) == 0 {
		return err
	}
	kept, _ := d.keep(d.Config().LogPath, "torn", Caller{Pid: os.Getpid(), Command: "paracfs"}, torn)
	d.note(changelog.OpRecover, fmt.Sprintf("repaired a torn last line of %d bytes (kept in %s)", len(torn), kept))
	return nil
}

// openLogLocked opens the log unless it is open already, under log.mu, and
// returns the torn tail it cut off; openLog reports it once unlocked.
func (d *Dir) openLogLocked(create bool) ([]byte, error) {
	d.log.mu.Lock()
	defer d.log.mu.Unlock()
	if d.log.w != nil {
		return nil, nil
	}
	logPath := d.Config().LogPath
	flags := unix.O_RDWR | unix.O_APPEND
	if create {
		dir, _ := split(logPath)
		if err := d.mkdirAll(dir); err != nil {
			return nil, fmt.Errorf("change log %s: %w", logPath, err)
		}
		flags |= unix.O_CREAT
	}
	fd, err := d.openat(logPath, flags, 0o644)
	if err == unix.ENOENT && !create {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("change log %s: %w", logPath, err)
	}
	f := os.NewFile(uintptr(fd), logPath)
	w, torn, err := changelog.NewWriter(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("change log %s: %w", logPath, err)
	}
	d.log.w, d.log.f = w, f
	return torn, nil
}

// mkdirAll creates rel and its parents beneath DIR.
func (d *Dir) mkdirAll(rel string) error {
	if rel == "." || rel == "" {
		return nil
	}
	fd, err := d.openat(rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err == nil {
		unix.Close(fd)
		return nil
	}
	parent, _ := split(rel)
	if err := d.mkdirAll(parent); err != nil {
		return err
	}
	pfd, leaf, err := d.parent(rel)
	if err != nil {
		return err
	}
	defer d.closeParent(pfd)
	if err := unix.Mkdirat(pfd, leaf, 0o755); err != nil && err != unix.EEXIST {
		return err
	}
	return fsyncDir(pfd) // what is kept in it must not lose its way
}
