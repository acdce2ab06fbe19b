package backing

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gofrs/flock"
	"golang.org/x/sys/unix"
)

// lockTable serialises the daemon's own commits of one path before they
// contend for the shared P.lock, so that goroutines queue on a channel
// instead of polling flock.
type lockTable struct {
	mu sync.Mutex
	m  map[string]*pathLock
}

type pathLock struct {
	ch   chan struct{}
	refs int
}

func newLockTable() *lockTable { return &lockTable{m: map[string]*pathLock{}} }

func (t *lockTable) acquire(rel string, deadline time.Time) bool {
	t.mu.Lock()
	l := t.m[rel]
	if l == nil {
		l = &pathLock{ch: make(chan struct{}, 1)}
		t.m[rel] = l
	}
	l.refs++
	t.mu.Unlock()

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case l.ch <- struct{}{}:
		return true
	case <-timer.C:
		t.drop(rel, l)
		return false
	}
}

func (t *lockTable) release(rel string) {
	t.mu.Lock()
	l := t.m[rel]
	t.mu.Unlock()
	<-l.ch
	t.drop(rel, l)
}

func (t *lockTable) drop(rel string, l *pathLock) {
	t.mu.Lock()
	l.refs--
	if l.refs == 0 {
		delete(t.m, rel)
	}
	t.mu.Unlock()
}

// errLockTimeout is returned by lock when P.lock stayed held too long.
type errLockTimeout struct {
	lockPath string
	wait     time.Duration
}

func (e *errLockTimeout) Error() string {
	return fmt.Sprintf("%s stayed locked for more than %s", e.lockPath, e.wait)
}

// errLockBusy is returned by lock inside a directory operation when P.lock
// is held through the mount by a process blocked in the kernel (see
// dirOpWait).
type errLockBusy struct {
	lockPath string
}

func (e *errLockBusy) Error() string {
	return fmt.Sprintf("%s is held through the mount by a process that waits for this directory: "+
		"waiting for it would deadlock (retry)", e.lockPath)
}

// errLockSymlink is returned by lock when P.lock is a symlink: it is never
// followed (it may point out of DIR), so P cannot be locked.
type errLockSymlink struct {
	lockPath string
}

func (e *errLockSymlink) Error() string {
	return fmt.Sprintf("%s is a symlink, which a commit never follows: remove it", e.lockPath)
}

// errLockNotFile is returned by lock when P.lock is not a regular file (a
// FIFO, a directory, a device): waiting on it could hang a commit (a FIFO
// opens only once a writer comes) or fail it forever, so P cannot be locked.
type errLockNotFile struct {
	lockPath string
	kind     string
}

func (e *errLockNotFile) Error() string {
	return fmt.Sprintf("%s is %s, not a regular file: a commit locks only a regular file; remove it", e.lockPath, e.kind)
}

// lockRefusal turns lock's errors into refusals; other errors stay as they are.
func lockRefusal(rel string, err error) (*Refusal, bool) {
	var lt *errLockTimeout
	var lb *errLockBusy
	var ls *errLockSymlink
	var ln *errLockNotFile
	switch {
	case errors.As(err, &ln):
		return &Refusal{Op: OpLockNotFile, Path: rel, Reason: err.Error()}, true
	case errors.As(err, &ls):
		return &Refusal{Op: OpLockSymlink, Path: rel, Reason: err.Error()}, true
	case errors.As(err, &lt):
		return &Refusal{Op: OpLockTimeout, Path: rel, Reason: err.Error()}, true
	case errors.As(err, &lb):
		return &Refusal{Op: OpLockBusy, Path: rel, Reason: err.Error()}, true
	}
	return nil, false
}

// dirOpWait is how long a rename onto P, a truncate of P by path, or a
// removal or rename away of P waits for P.lock before it checks whether
// waiting can end at all. The kernel keeps P's directory (or P itself)
// locked for the whole request, and a process that holds P.lock through
// the mount may need it to get to its unlock (paracle's save: lock
// x.yaml.lock, create x.yaml.tmp, os.replace onto x.yaml): if that holder
// is blocked in the kernel, waiting on is a deadlock until --lock-timeout,
// and the request is refused at once instead (EBUSY); its writer retries.
// A holder that is not blocked (flock x.yaml.lock -c 'sleep 5'), or one
// outside the mount, which never waits for the mount's directory locks,
// is waited for up to --lock-timeout as always.
const dirOpWait = 100 * time.Millisecond

// lockPoll is how often a commit retries a P.lock held by another process.
const lockPoll = 2 * time.Millisecond

// lock takes P's commit lock: flock(LOCK_EX) on P.lock beside P in the
// backing directory (paracle's convention), so processes that lock
// P.lock themselves (through the mount or directly) exclude the commit.
// pfd is P's parent directory; the lock file is named through it. dirOp
// tells a request during which the kernel holds P's directory or P
// locked (see dirOpWait).
//
// The daemon's own commits of P first queue in d.locks, so that they wait
// on a channel rather than all polling flock. A commit that finds P.lock
// held by another process leaves that queue while it waits for P.lock:
// the holder may itself commit P (paracle's save), and a caller that holds
// P.lock through the mount already takes only the queue. Its commit must
// not wait behind a commit that waits for the caller's own lock.
func (d *Dir) lock(rel string, pfd int, base string, c Caller, dirOp bool) (unlock func(), err error) {
	wait := d.Config().LockTimeout
	deadline := time.Now().Add(wait)
	lrel := lockRel(rel)
	timeout := &errLockTimeout{lrel, wait}
	if !d.locks.acquire(rel, deadline) {
		return nil, timeout
	}
	if c.holds(lrel) {
		return func() { d.locks.release(rel) }, nil
	}
	// Named through the parent's descriptor, never through the mount; the
	// last component is not followed if it is a symlink.
	if err := checkLockFile(pfd, lockName(base), lrel); err != nil {
		d.locks.release(rel)
		return nil, err
	}
	lockPath := "/proc/self/fd/" + strconv.Itoa(pfd) + "/" + lockName(base)
	fl := flock.New(lockPath,
		flock.SetFlag(os.O_CREATE|os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC),
		flock.SetPermissions(fs.FileMode(0o644)))
	ok, err := fl.TryLock()
	if err == nil && ok {
		err = lockedRegular(fl, lrel)
	}
	if err != nil {
		fl.Close()
		d.locks.release(rel)
		return nil, lockError(lrel, err)
	}
	if !ok {
		// Held by another process: wait for it outside the queue.
		d.locks.release(rel)
		err := d.waitLock(fl, lrel, dirOp, deadline, timeout)
		if err == nil {
			err = lockedRegular(fl, lrel)
		}
		if err != nil {
			fl.Close()
			return nil, err
		}
		if !d.locks.acquire(rel, deadline) {
			fl.Unlock()
			fl.Close()
			return nil, timeout
		}
	}
	return func() {
		fl.Unlock()
		fl.Close()
		d.locks.release(rel)
	}, nil
}

// waitLock polls P.lock (lrel) until it is taken, the deadline passes, or (for a
// directory operation) a holder through the mount kept it past dirOpWait.
func (d *Dir) waitLock(fl *flock.Flock, lrel string, dirOp bool, deadline time.Time, timeout error) error {
	start := time.Now()
	for i := 0; ; i++ {
		ok, err := fl.TryLock()
		switch {
		case err != nil:
			return lockError(lrel, err)
		case ok:
			return nil
		case time.Now().After(deadline):
			return timeout
		case dirOp && i%5 == 0 && time.Since(start) > dirOpWait && d.holderStuck(lrel):
			return &errLockBusy{lrel}
		}
		time.Sleep(lockPoll)
	}
}

// checkLockFile refuses a P.lock (name in pfd) that is not a regular
// file, at once: it is opened without blocking (a FIFO opens at once) and
// without following a symlink, created if missing, and fstat-ed.
func checkLockFile(pfd int, name, lrel string) error {
	fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return lockError(lrel, err)
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return lockError(lrel, err)
	}
	return lockKind(lrel, st.Mode)
}

// lockedRegular checks the file flock opened and locked: P.lock may have
// been replaced since checkLockFile looked.
func lockedRegular(fl *flock.Flock, lrel string) error {
	fi, err := fl.Stat()
	if err != nil {
		return lockError(lrel, err)
	}
	if !fi.Mode().IsRegular() {
		return &errLockNotFile{lrel, fileKind(fi.Mode())}
	}
	return nil
}

func lockKind(lrel string, mode uint32) error {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return nil
	case unix.S_IFIFO:
		return &errLockNotFile{lrel, "a FIFO"}
	case unix.S_IFDIR:
		return &errLockNotFile{lrel, "a directory"}
	case unix.S_IFSOCK:
		return &errLockNotFile{lrel, "a socket"}
	case unix.S_IFCHR, unix.S_IFBLK:
		return &errLockNotFile{lrel, "a device"}
	}
	return &errLockNotFile{lrel, "not a file"}
}

func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return "not a file"
}

// lockError names an error opening or locking P.lock (lrel).
func lockError(lrel string, err error) error {
	if errors.Is(err, syscall.ELOOP) {
		return &errLockSymlink{lrel}
	}
	if errors.Is(err, syscall.EISDIR) {
		return &errLockNotFile{lrel, "a directory"}
	}
	return fmt.Errorf("%s: %w", lrel, err)
}

// SetMountLocks tells the backing directory how to learn whether a
// process that holds a lock file through the mount is blocked in the
// kernel (see dirOpWait).
func (d *Dir) SetMountLocks(stuck func(rel string) bool) { d.mountLocks = stuck }

func (d *Dir) holderStuck(rel string) bool {
	return d.mountLocks != nil && d.mountLocks(rel)
}
