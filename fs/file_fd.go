package fs

import (
	"context"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// fdHandle passes reads and writes straight to a backing file: scratch
// files, and managed files opened read-only (a consistent snapshot of the
// version that was committed at open).
type fdHandle struct {
	n     *Node
	mu    sync.Mutex
	fd    int
	owner int // the process that opened it
	// follow, for a managed file opened for reading, moves reads at its
	// end on to later versions that extend it (appends).
	follow  *follower
	counted bool // counted against the handles' descriptors (countedHandle)
}

func (h *fdHandle) openedBy() int { return h.owner }

var (
	_ = (fs.FileReader)((*fdHandle)(nil))
	_ = (fs.FileWriter)((*fdHandle)(nil))
	_ = (fs.FileFlusher)((*fdHandle)(nil))
	_ = (fs.FileFsyncer)((*fdHandle)(nil))
	_ = (fs.FileReleaser)((*fdHandle)(nil))
	_ = (fs.FileGetattrer)((*fdHandle)(nil))
	_ = (fs.FileAllocater)((*fdHandle)(nil))
	_ = (fs.FileLseeker)((*fdHandle)(nil))
)

func (h *fdHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if h.follow != nil {
		n, rev, err := h.follow.read(h, dest, off)
		if err != nil {
			return nil, errno(err)
		}
		if rev >= 0 {
			// Bytes appended after the open: the reader has read the
			// version that holds them, the base of its next write.
			sawRead(h.n.r.caller(ctx), h.follow.rel, rev)
		}
		return fuse.ReadResultVector([][]byte{dest[:n]}), 0
	}
	return preadResult(h.fd, dest, off)
}

// preadResult reads a backing descriptor for a FUSE READ. The result is a
// vector, which go-fuse writes to the device with one writev: plain data
// (ReadResultData) would first be tried as a splice and fail, after a
// round trip of the reply's header through a pipe. (Splicing the backing
// file itself, fuse.ReadResultFd, measured no better than this for 1 MiB
// reads, and worse for small ones.)
func preadResult(fd int, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n, err := unix.Pread(fd, dest, off)
	if err != nil {
		return nil, errno(err)
	}
	return fuse.ReadResultVector([][]byte{dest[:n]}), 0
}

func (h *fdHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	n, err := unix.Pwrite(h.fd, data, off)
	if err != nil {
		return 0, errno(err)
	}
	return uint32(n), 0
}

// Flush emulates close(2) on the backing file, so that POSIX locks the
// closing process held are dropped as they would be.
func (h *fdHandle) Flush(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	nfd, err := unix.Dup(h.fd)
	if err != nil {
		return errno(err)
	}
	return errno(unix.Close(nfd))
}

func (h *fdHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return errno(unix.Fsync(h.fd))
}

func (h *fdHandle) Release(ctx context.Context) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.fd < 0 {
		return syscall.EBADF
	}
	err := unix.Close(h.fd)
	h.fd = -1
	if h.counted {
		h.n.r.d.ReleaseRead()
	}
	if h.follow != nil {
		h.follow.close()
	}
	h.n.r.holders.drop("", h)
	return errno(err)
}

func (h *fdHandle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	var st unix.Stat_t
	var err error
	if h.follow != nil {
		err = h.follow.fstat(h, &st)
	} else {
		err = unix.Fstat(h.fd, &st)
	}
	if err != nil {
		return errno(err)
	}
	fillAttr(&out.Attr, &st)
	out.SetTimeout(0) // this handle's file (a reader's version, a deleted scratch file): its opener's view only
	return 0
}

func (h *fdHandle) truncate(size int64) syscall.Errno {
	return errno(unix.Ftruncate(h.fd, size))
}

func (h *fdHandle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	return errno(unix.Fallocate(h.fd, mode, int64(off), int64(size)))
}

func (h *fdHandle) Lseek(ctx context.Context, off uint64, whence uint32) (uint64, syscall.Errno) {
	n, err := unix.Seek(h.fd, int64(off), int(whence))
	if err != nil {
		return 0, errno(err)
	}
	return uint64(n), 0
}
