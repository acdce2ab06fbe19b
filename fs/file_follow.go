package fs

import (
	"bytes"
	"sync"

	"golang.org/x/sys/unix"
)

// follower lets a reader of a managed file see what was appended to it
// after its open. Each commit replaces the backing file, so the reader's
// descriptor keeps the version it opened; a later version that extends
// that one byte for byte (an append, as to a JSONL log) is the same file
// grown, and a reader at its end (`tail -f`, `tail -F`) moves on to it.
// A version that changed any byte the reader may have read is never
// mixed in: the reader keeps its own, as after a rename on any filesystem.
type follower struct {
	rel string

	mu sync.Mutex
	fd int // the version read now; -1: the handle's own descriptor
}

func newFollower(rel string) *follower { return &follower{rel: rel, fd: -1} }

// readFd is the descriptor a read at off reads: the version the reader
// has, or, when off is at or past its end (or for a stat), the newest
// version that extends it.
func (f *follower) readFd(h *fdHandle, off int64, stat bool) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd := f.fd
	if fd < 0 {
		fd = h.fd
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || (!stat && off < st.Size) {
		return fd
	}
	d := h.n.r.d
	if cur, err := d.Lstat(f.rel); err != nil || (cur.Ino == st.Ino && cur.Dev == st.Dev) || cur.Size < st.Size {
		return fd
	}
	nfd, _, err := d.OpenRead(f.rel, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return fd
	}
	if !extends(fd, nfd, st.Size) {
		unix.Close(nfd)
		return fd
	}
	if f.fd >= 0 {
		unix.Close(f.fd)
	}
	f.fd = nfd
	return nfd
}

// close releases the version followed to (the handle's own descriptor
// stays: its locks belong to it).
func (f *follower) close() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fd >= 0 {
		unix.Close(f.fd)
		f.fd = -1
	}
}

// extends reports whether the file open as nfd begins with the first n
// bytes of the file open as fd.
func extends(fd, nfd int, n int64) bool {
	var st unix.Stat_t
	if unix.Fstat(nfd, &st) != nil || st.Size < n {
		return false
	}
	a, b := make([]byte, 64<<10), make([]byte, 64<<10)
	for off := int64(0); off < n; {
		want := int(min(int64(len(a)), n-off))
		if !preadFull(fd, a[:want], off) || !preadFull(nfd, b[:want], off) || !bytes.Equal(a[:want], b[:want]) {
			return false
		}
		off += int64(want)
	}
	return true
}

func preadFull(fd int, p []byte, off int64) bool {
	for len(p) > 0 {
		n, err := unix.Pread(fd, p, off)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n == 0 {
			return false
		}
		p, off = p[n:], off+int64(n)
	}
	return true
}
