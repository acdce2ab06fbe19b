package fs

import (
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// Locks taken through the mount are real locks on the backing files:
// flock() becomes flock on the backing descriptor, fcntl() record locks
// become open-file-description locks on it. So a process that locks
// x.yaml.lock through the mount excludes the daemon's commit of x.yaml,
// and processes using the backing directory directly exclude and are
// excluded by both.

func getlk(fd int, lk *fuse.FileLock, out *fuse.FileLock) syscall.Errno {
	var flk syscall.Flock_t
	lk.ToFlockT(&flk)
	err := syscall.FcntlFlock(uintptr(fd), unix.F_OFD_GETLK, &flk)
	out.FromFlockT(&flk)
	return errno(err)
}

func setlk(fd int, lk *fuse.FileLock, flags uint32, wait bool) syscall.Errno {
	if flags&fuse.FUSE_LK_FLOCK != 0 {
		var op int
		switch lk.Typ {
		case syscall.F_RDLCK:
			op = unix.LOCK_SH
		case syscall.F_WRLCK:
			op = unix.LOCK_EX
		case syscall.F_UNLCK:
			op = unix.LOCK_UN
		default:
			return syscall.EINVAL
		}
		if !wait {
			op |= unix.LOCK_NB
		}
		for {
			err := unix.Flock(fd, op)
			if err != unix.EINTR {
				return errno(err)
			}
		}
	}
	var flk syscall.Flock_t
	lk.ToFlockT(&flk)
	cmd := unix.F_OFD_SETLK
	if wait {
		cmd = unix.F_OFD_SETLKW
	}
	for {
		err := syscall.FcntlFlock(uintptr(fd), cmd, &flk)
		if err != unix.EINTR {
			return errno(err)
		}
	}
}

var (
	_ = (fs.FileGetlker)((*fdHandle)(nil))
	_ = (fs.FileSetlker)((*fdHandle)(nil))
	_ = (fs.FileSetlkwer)((*fdHandle)(nil))
	_ = (fs.FileGetlker)((*stagedHandle)(nil))
	_ = (fs.FileSetlker)((*stagedHandle)(nil))
	_ = (fs.FileSetlkwer)((*stagedHandle)(nil))
	_ = (fs.FileGetlker)((*logHandle)(nil))
	_ = (fs.FileSetlker)((*logHandle)(nil))
	_ = (fs.FileSetlkwer)((*logHandle)(nil))
)

func (h *fdHandle) Getlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32, out *fuse.FileLock) syscall.Errno {
	return getlk(h.fd, lk, out)
}

func (h *fdHandle) Setlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	e := setlk(h.fd, lk, flags, false)
	h.n.r.track(ctx, h.n.rel(), h, lk, e)
	return e
}

func (h *fdHandle) Setlkw(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	e := setlk(h.fd, lk, flags, true)
	h.n.r.track(ctx, h.n.rel(), h, lk, e)
	return e
}

func (h *logHandle) Getlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32, out *fuse.FileLock) syscall.Errno {
	return getlk(h.fd, lk, out)
}

func (h *logHandle) Setlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return setlk(h.fd, lk, flags, false)
}

func (h *logHandle) Setlkw(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return setlk(h.fd, lk, flags, true)
}

// A staging handle has no backing descriptor of its own: the first lock
// opens the committed file read-only and locks that.
func (h *stagedHandle) lockFd() (int, syscall.Errno) {
	h.lockMu.Lock()
	defer h.lockMu.Unlock()
	if h.lfd > 0 {
		return h.lfd, 0
	}
	// Read-write, so that write locks (F_WRLCK) can be taken on it; it is
	// never written through.
	fd, err := h.n.r.d.OpenFile(h.n.rel(), unix.O_RDWR|unix.O_NONBLOCK, 0, h.opener)
	if err != nil {
		fd, err = h.n.r.d.OpenFile(h.n.rel(), unix.O_RDONLY|unix.O_NONBLOCK, 0, h.opener)
	}
	if err != nil {
		return -1, syscall.ENOLCK
	}
	h.lfd = fd
	return fd, 0
}

func (h *stagedHandle) Getlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32, out *fuse.FileLock) syscall.Errno {
	fd, e := h.lockFd()
	if e != 0 {
		return e
	}
	return getlk(fd, lk, out)
}

func (h *stagedHandle) Setlk(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	fd, e := h.lockFd()
	if e != 0 {
		return e
	}
	return setlk(fd, lk, flags, false)
}

func (h *stagedHandle) Setlkw(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	fd, e := h.lockFd()
	if e != 0 {
		return e
	}
	return setlk(fd, lk, flags, true)
}

// lockHolders remembers which processes hold locks taken through the
// mount, by file. A commit of P on behalf of a process that holds P.lock
// through the mount (paracle's save: lock x.yaml.lock, write x.yaml.tmp,
// os.replace onto x.yaml), or whose parent does (flock x.yaml.lock -c
// 'sed -i ...'), must not wait for that lock: it would wait for itself.
type lockHolders struct {
	mu sync.Mutex
	m  map[string]map[holder]struct{} // rel → holders
}

type holder struct {
	pid int // the process (thread group) that took the lock
	h   any // the handle through which the lock was taken
}

func (l *lockHolders) add(rel string, pid int, h any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.m == nil {
		l.m = map[string]map[holder]struct{}{}
	}
	if l.m[rel] == nil {
		l.m[rel] = map[holder]struct{}{}
	}
	l.m[rel][holder{pid, h}] = struct{}{}
}

// drop forgets the locks taken through handle h (all of them when rel is "").
func (l *lockHolders) drop(rel string, h any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for r, hs := range l.m {
		if rel != "" && r != rel {
			continue
		}
		for k := range hs {
			if k.h == h {
				delete(hs, k)
			}
		}
		if len(hs) == 0 {
			delete(l.m, r)
		}
	}
}

// stuck reports whether a process that holds a lock on rel taken through
// the mount has a thread in uninterruptible sleep ("D"): blocked in the
// kernel, most likely on a directory lock that the request asking holds.
func (l *lockHolders) stuck(rel string) bool {
	l.mu.Lock()
	pids := map[int]bool{}
	for k := range l.m[rel] {
		pids[k.pid] = true
	}
	l.mu.Unlock()
	for pid := range pids {
		task := "/proc/" + strconv.Itoa(pid) + "/task"
		tids, err := os.ReadDir(task)
		if err != nil {
			continue
		}
		for _, tid := range tids {
			b, err := os.ReadFile(task + "/" + tid.Name() + "/stat")
			if err != nil {
				continue
			}
			s := string(b)
			if i := strings.LastIndexByte(s, ')'); i >= 0 && strings.HasPrefix(s[i+1:], " D") {
				return true
			}
		}
	}
	return false
}

// heldBy reports whether the process of thread tid, or one of its
// ancestors, holds a lock on rel taken through the mount.
func (l *lockHolders) heldBy(rel string, tid int) bool {
	l.mu.Lock()
	pids := map[int]bool{}
	for k := range l.m[rel] {
		pids[k.pid] = true
	}
	l.mu.Unlock()
	if len(pids) == 0 {
		return false
	}
	pid := tgid(tid)
	for i := 0; i < 64 && pid > 1; i++ {
		if pids[pid] {
			return true
		}
		pid = parentPid(pid)
	}
	return false
}

// track records the outcome of a lock request through handle h on rel.
func (r *Root) track(ctx context.Context, rel string, h any, lk *fuse.FileLock, e syscall.Errno) {
	if e != 0 {
		return
	}
	if lk.Typ == syscall.F_UNLCK {
		r.holders.drop(rel, h)
		return
	}
	if fc, ok := fuse.FromContext(ctx); ok {
		r.holders.add(rel, tgid(int(fc.Pid)), h)
	}
}
