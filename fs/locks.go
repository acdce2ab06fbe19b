package fs

import (
	"context"
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
	return setlk(h.fd, lk, flags, false)
}

func (h *fdHandle) Setlkw(ctx context.Context, owner uint64, lk *fuse.FileLock, flags uint32) syscall.Errno {
	return setlk(h.fd, lk, flags, true)
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
	h.mu.Lock()
	rel := h.target()
	h.mu.Unlock()
	fd, err := h.n.r.d.OpenFile(rel, unix.O_RDONLY|unix.O_NONBLOCK, 0, h.opener)
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
