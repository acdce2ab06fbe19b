package backing

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/gofrs/flock"
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

// lock takes P's commit lock: flock(LOCK_EX) on P.lock beside P in the
// backing directory (paracle's convention), so processes that lock
// P.lock themselves (through the mount or directly) exclude the commit.
// pfd is P's parent directory; the lock file is named through it.
//
// When the caller holds P.lock through the mount already, only the
// daemon's own queue is taken.
func (d *Dir) lock(rel string, pfd int, base string, c Caller) (unlock func(), err error) {
	return d.lockWithin(rel, pfd, base, c, d.cfg.LockTimeout)
}

// lockWithin is lock with its own wait.
func (d *Dir) lockWithin(rel string, pfd int, base string, c Caller, wait time.Duration) (unlock func(), err error) {
	deadline := time.Now().Add(wait)
	if !d.locks.acquire(rel, deadline) {
		return nil, &errLockTimeout{rel + ".lock", wait}
	}
	if c.holds(rel + ".lock") {
		return func() { d.locks.release(rel) }, nil
	}
	// Named through the parent's descriptor, never through the mount; the
	// last component is not followed if it is a symlink.
	lockPath := "/proc/self/fd/" + strconv.Itoa(pfd) + "/" + base + ".lock"
	fl := flock.New(lockPath,
		flock.SetFlag(os.O_CREATE|os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC),
		flock.SetPermissions(fs.FileMode(0o644)))
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	ok, err := fl.TryLockContext(ctx, 2*time.Millisecond)
	if !ok {
		fl.Close()
		d.locks.release(rel)
		if err == nil || err == context.DeadlineExceeded {
			return nil, &errLockTimeout{rel + ".lock", wait}
		}
		return nil, fmt.Errorf("%s.lock: %w", rel, err)
	}
	return func() {
		fl.Unlock()
		fl.Close()
		d.locks.release(rel)
	}, nil
}
