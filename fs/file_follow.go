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

	mu  sync.Mutex
	fd  int   // the version read now; -1: the handle's own descriptor
	rev int64 // fd's revision
	own int64 // the size of the handle's own version, once it followed another
}

func newFollower(rel string) *follower { return &follower{rel: rel, fd: -1} }

// read answers a READ at off from the version the reader has, or, when off
// is at or past its end, from the newest version that extends it. The read
// is made under the follower's lock, so that a concurrent READ moving on
// to a later version never closes the descriptor it reads. rev is the
// revision whose bytes past the end of the handle's own version it
// returned, or -1: a reader that got those bytes has read that version.
func (f *follower) read(h *fdHandle, dest []byte, off int64) (n int, rev int64, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fd := f.fdLocked(h, off, false)
	n, err = unix.Pread(fd, dest, off)
	if err == nil && n > 0 && fd == f.fd && off+int64(n) > f.own {
		return n, f.rev, nil
	}
	return n, -1, err
}

// fstat describes the version a stat of the handle shows: the newest one
// that extends the reader's.
func (f *follower) fstat(h *fdHandle, st *unix.Stat_t) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return unix.Fstat(f.fdLocked(h, 0, true), st)
}

// fdLocked is the descriptor a read at off reads: the version the reader
// has, or, when off is at or past its end (or for a stat), the newest
// version that extends it.
func (f *follower) fdLocked(h *fdHandle, off int64, stat bool) int {
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
	nfd, rev, err := d.OpenRead(f.rel, unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return fd
	}
	if !extends(fd, nfd, st.Size) {
		unix.Close(nfd)
		return fd
	}
	if f.fd >= 0 {
		unix.Close(f.fd)
	} else {
		f.own = st.Size
	}
	f.fd, f.rev = nfd, rev
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
