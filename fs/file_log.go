package fs

import (
	"context"
	"strings"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/backing"
)

// logHandle is the change log opened for writing. Through the mount the
// log is append-only: writes must continue at its end, and the appended
// bytes are checked to be complete JSON lines before they are appended.
type logHandle struct {
	r      *Root
	fd     int // read-only, for reads through this handle
	opener backing.Caller

	mu     sync.Mutex
	start  int64 // the log's size at open
	append bool  // O_APPEND: every write goes to the end
	buf    []byte
}

var (
	_ = (fs.FileReader)((*logHandle)(nil))
	_ = (fs.FileWriter)((*logHandle)(nil))
	_ = (fs.FileFlusher)((*logHandle)(nil))
	_ = (fs.FileFsyncer)((*logHandle)(nil))
	_ = (fs.FileReleaser)((*logHandle)(nil))
)

func (h *logHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return preadResult(h.fd, dest, off)
}

func (h *logHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	end := h.start + int64(len(h.buf))
	at := off
	if h.append {
		at = end // O_APPEND: the write goes to the end, whatever its offset
	}
	if err := h.r.d.AppendOnly(backing.LogWrite, "", at, end, h.r.caller(ctx)); err != nil {
		return 0, errno(err)
	}
	h.buf = append(h.buf, data...)
	return uint32(len(data)), 0
}

func (h *logHandle) truncate(ctx context.Context, size int64) syscall.Errno {
	end := int64(-1) // unknown: refused
	var st unix.Stat_t
	if err := unix.Fstat(h.fd, &st); err == nil {
		end = st.Size
	}
	return errno(h.r.d.AppendOnly(backing.LogTruncate, "", size, end, h.r.caller(ctx)))
}

func (h *logHandle) flush(c backing.Caller) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.buf) == 0 {
		return 0
	}
	if c.Pid == 0 {
		c = h.opener
	}
	err := h.r.d.AppendLog(h.buf, c)
	h.start += int64(len(h.buf))
	h.buf = nil
	return errno(err)
}

// Flush appends the lines written so far when the process that opened the
// handle closes it; a child's close (its exit, or its exec closing a
// CLOEXEC descriptor) appends nothing, since the opener may be in the
// middle of a line. Release appends what is left.
func (h *logHandle) Flush(ctx context.Context) syscall.Errno {
	if fc, ok := fuse.FromContext(ctx); ok && !inProcess(h.opener.Pid, int(fc.Pid)) {
		return 0
	}
	return h.flush(h.r.caller(ctx))
}

func (h *logHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return h.flush(h.r.caller(ctx))
}

func (h *logHandle) Release(ctx context.Context) syscall.Errno {
	h.flush(h.opener)
	err := unix.Close(h.fd)
	h.r.d.ReleaseRead() // counted at open (openLog)
	return errno(err)
}

func (h *logHandle) openedBy() int { return h.opener.Pid }

// logAppended drops the kernel's cached attributes of the change log
// after the daemon appended to it: `tail -n1` and `paracfs log -n 1`
// through the mount, right after a commit, must find the new size.
func (r *Root) logAppended(rel string) {
	parent := r.nodeAt(rel)
	if parent == nil {
		return
	}
	if ch := parent.GetChild(rel[strings.LastIndexByte(rel, '/')+1:]); ch != nil {
		r.invalidate(ch)
	}
}
