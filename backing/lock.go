package backing

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

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

	select {
	case l.ch <- struct{}{}:
		return true // free: no timer
	default:
	}
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
// P.lock themselves (through the mount or directly) exclude the commit,
// and are excluded by it. pfd is P's parent directory; the lock file is
// named through it. dirOp tells a request during which the kernel holds
// P's directory or P locked (see dirOpWait).
//
// A commit never creates P.lock: paracfs adds no files of its own beside
// P. When there is none, nobody else can hold it, and the daemon's own
// queue (below) is the whole lock. The window this leaves is documented
// in docs/commit.md: a process that creates P.lock and locks it after a
// commit found none does not hold off that commit, only the later ones.
//
// The daemon's own commits of P first queue in d.locks, so that they wait
// on a channel rather than all polling flock. A commit that finds P.lock
// held by another process leaves that queue while it waits for P.lock:
// the holder may itself commit P (paracle's save), and a caller that holds
// P.lock through the mount already takes only the queue. Its commit must
// not wait behind a commit that waits for the caller's own lock.
func (d *Dir) lock(rel string, pfd int, leaf string, c Caller, dirOp bool) (unlock func(), err error) {
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
	queueOnly := func() { d.locks.release(rel) }
	name := lockName(leaf)
	for {
		// Named through the parent's descriptor, never through the
		// mount; a symlink is never followed, nor a FIFO waited on.
		fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err == unix.ENOENT {
			return queueOnly, nil
		}
		if err != nil {
			d.locks.release(rel)
			return nil, lockError(lrel, err)
		}
		// A FIFO, a directory or a device is refused at once: flock on
		// it would wait for nothing or fail forever.
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			unix.Close(fd)
			d.locks.release(rel)
			if err != nil {
				return nil, lockError(lrel, err)
			}
			return nil, lockKind(lrel, st.Mode)
		}
		ok, err := tryFlock(fd)
		if err == nil && !ok {
			// Held by another process: wait for it outside the queue.
			d.locks.release(rel)
			if err = d.waitLock(fd, lrel, dirOp, deadline, timeout); err == nil && !d.locks.acquire(rel, deadline) {
				unix.Close(fd) // drops the flock
				return nil, timeout
			}
			if err != nil {
				unix.Close(fd)
				return nil, err
			}
		} else if err != nil {
			unix.Close(fd)
			d.locks.release(rel)
			return nil, lockError(lrel, err)
		}
		// The lock is on the file that bears the name now, unless its
		// holder removed it (and someone made a new one) meanwhile.
		if sameFile(fd, pfd, name) {
			return func() {
				unix.Flock(fd, unix.LOCK_UN)
				unix.Close(fd)
				d.locks.release(rel)
			}, nil
		}
		unix.Close(fd)
		if time.Now().After(deadline) {
			d.locks.release(rel)
			return nil, timeout
		}
	}
}

// tryFlock takes flock(LOCK_EX) on fd if it is free.
func tryFlock(fd int) (bool, error) {
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		switch err {
		case nil:
			return true, nil
		case unix.EWOULDBLOCK:
			return false, nil
		case unix.EINTR:
			continue
		}
		return false, err
	}
}

// sameFile reports whether name in pfd is still the file open as fd.
func sameFile(fd, pfd int, name string) bool {
	var a, b unix.Stat_t
	if unix.Fstat(fd, &a) != nil || unix.Fstatat(pfd, name, &b, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return false
	}
	return a.Dev == b.Dev && a.Ino == b.Ino
}

// waitLock polls P.lock (lrel, open as fd) until it is taken, the deadline
// passes, or (for a directory operation) a holder through the mount kept
// it past dirOpWait.
func (d *Dir) waitLock(fd int, lrel string, dirOp bool, deadline time.Time, timeout error) error {
	start := time.Now()
	for i := 0; ; i++ {
		ok, err := tryFlock(fd)
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

// lockKind says what a P.lock that is not a regular file is.
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
