package fs

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/backing"
)

// stagedHandle is a managed file opened for writing. Its writes land in a
// private copy; commit hands that copy to backing.Commit.
type stagedHandle struct {
	n      *Node
	opener backing.Caller

	mu   sync.Mutex
	data []byte
	base int64  // revision the copy derives from; -1 unknown
	mode uint32 // permission bits for a file this handle creates
	// append: O_APPEND. The handle's writes are appends: h.data[from:]
	// is what it appended since its last commit, after the content it
	// last saw (h.data[:from]), and a commit appends those bytes to
	// whatever is current then. A truncation (rewrite) makes the next
	// commit one of the whole copy, as without O_APPEND.
	append     bool
	from       int
	rewrite    bool
	dirty      bool // written since the last commit
	mustCommit bool // truncated or created: commit at release even if never written
	committed  bool
	tooLarge   bool  // a write went past --max-size
	noRoom     error // a write found no room for its commit (ENOSPC, EROFS)
	reserved   int64 // bytes of the copy counted against the staging bound
	cancelled  bool  // created, then unlinked before it committed
	inPlace    bool  // opened by an existing name: its commits leave the directory's times (dirtimes.go)

	// dropped: a write went past tooLargeKeep too, and was neither
	// staged nor kept; droppedAt is the first such write's offset.
	dropped   bool
	droppedAt int64

	// ownView: the copy is the writer's bytes, not the committed ones
	// (see commit); ownRev is then the value its revision scalar held at
	// that commit (-1 when it had none), handed to the next commit as
	// backing.Write.Unstamped.
	ownView bool
	ownRev  int64

	// meta is what fchmod, fchown, futimens and fsetxattr set on the
	// handle before it committed (nil: nothing); wtime and ctime are the
	// times of its last write and of its last change of metadata.
	meta         *backing.Meta
	wtime, ctime time.Time

	lockMu sync.Mutex
	lfd    int // backing descriptor for locks, opened at the first lock
}

var (
	_ = (fs.FileReader)((*stagedHandle)(nil))
	_ = (fs.FileWriter)((*stagedHandle)(nil))
	_ = (fs.FileFlusher)((*stagedHandle)(nil))
	_ = (fs.FileFsyncer)((*stagedHandle)(nil))
	_ = (fs.FileAllocater)((*stagedHandle)(nil))
	_ = (fs.FileReleaser)((*stagedHandle)(nil))
	_ = (fs.FileGetattrer)((*stagedHandle)(nil))
)

func (h *stagedHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if off >= int64(len(h.data)) {
		return fuse.ReadResultData(nil), 0
	}
	n := copy(dest, h.data[off:])
	return fuse.ReadResultData(dest[:n]), 0
}

// tooLargeKeep is how far a handle whose writes went past --max-size
// (max) still stages them: twice the limit. Those writes succeed, the
// close is refused (EFBIG) and the refused bytes are kept whole in
// .paracfs/rejected/, as for any refusal. A write past this bound fails
// at once (EFBIG) and is not kept; the refusal's reason says what was.
func tooLargeKeep(max int64) int64 { return 2 * max }

func (h *stagedHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.append {
		off = int64(len(h.data))
	}
	end := off + int64(len(data))
	if max := h.n.r.d.Config().Limits.MaxSize; end > max {
		h.tooLarge = true
		if end > tooLargeKeep(max) {
			if !h.dropped {
				h.dropped, h.droppedAt = true, off
			}
			return 0, syscall.EFBIG
		}
	}
	if end > int64(len(h.data)) {
		// No room on the backing filesystem for the commit this write
		// grows: the write fails as it would on the disk itself.
		if err := h.n.r.d.Room(end); err != nil {
			h.noRoom = err
			return 0, backing.Errno(err)
		}
		if end > int64(cap(h.data)) {
			grow := max(end, 2*int64(cap(h.data)))
			if h.reserveLocked(grow) != nil {
				grow = end // the bound leaves no room to double: exactly what is written
				if err := h.reserveLocked(grow); err != nil {
					h.noRoom = err
					return 0, backing.Errno(err)
				}
			}
			grown := make([]byte, end, grow)
			copy(grown, h.data)
			h.data = grown
		} else {
			old := len(h.data)
			h.data = h.data[:end]
			clear(h.data[old:]) // bytes past the old end (a truncation left them) read as zeros
		}
	}
	copy(h.data[off:], data)
	h.dirty = true
	h.wroteLocked()
	return uint32(len(data)), 0
}

// reserveLocked counts the copy's growth to n bytes against the bound on
// the memory staged by all handles.
func (h *stagedHandle) reserveLocked(n int64) error {
	if n <= h.reserved {
		return nil
	}
	if err := h.n.r.d.ReserveStaging(n - h.reserved); err != nil {
		return err
	}
	h.reserved = n
	return nil
}

func (h *stagedHandle) truncate(size int64) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if size > h.n.r.d.Config().Limits.MaxSize {
		h.tooLarge = true
		return syscall.EFBIG
	}
	if size > int64(len(h.data)) {
		if err := h.reserveLocked(size); err != nil {
			h.noRoom = err
			return backing.Errno(err)
		}
	}
	h.rewrite = h.append
	if size <= int64(len(h.data)) {
		h.data = h.data[:size]
	} else {
		h.data = append(h.data, make([]byte, size-int64(len(h.data)))...)
	}
	h.dirty = true
	h.wroteLocked()
	return 0
}

// Allocate is fallocate(2) on the private copy. A plain allocation grows
// it with zeros, as ftruncate does; KEEP_SIZE alone changes nothing a
// reader sees; a punched hole or a zeroed range reads back as zeros, and
// is committed so. Collapsing and inserting ranges are refused, as the
// kernel refuses them on any FUSE file.
func (h *stagedHandle) Allocate(ctx context.Context, off, size uint64, mode uint32) syscall.Errno {
	const (
		keep  = unix.FALLOC_FL_KEEP_SIZE
		punch = unix.FALLOC_FL_PUNCH_HOLE | unix.FALLOC_FL_KEEP_SIZE
		zero  = unix.FALLOC_FL_ZERO_RANGE
	)
	if off > uint64(1<<62) || size > uint64(1<<62) {
		return syscall.EFBIG
	}
	end := int64(off + size)
	switch mode {
	case 0, keep, punch, zero, zero | keep:
	default:
		return syscall.EOPNOTSUPP
	}
	h.mu.Lock()
	cur := int64(len(h.data))
	h.mu.Unlock()
	if mode&keep == 0 && end > cur {
		if e := h.truncate(end); e != 0 { // the new bytes are zeros
			return e
		}
	}
	if mode == 0 || mode == keep {
		return 0
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if from, to := int64(off), min(end, int64(len(h.data))); from < to {
		clear(h.data[from:to])
		h.rewrite = h.rewrite || h.append && from < int64(h.from) // bytes it did not append: the whole copy
		h.dirty = true
		h.wroteLocked()
	}
	return 0
}

// Flush is close(2): commit what was written since the last commit, when
// the process that opened the handle closes it. A FLUSH with nothing new
// (a shell's dup2 dance, a second close of a dup) commits nothing.
//
// A FLUSH from another process (a child closing an inherited descriptor
// at its exit, or a CLOEXEC one inside its execve) commits nothing: the
// opener may still be writing (`{ echo a; /bin/echo b; echo c; } > f`),
// and a partial file must never be committed. The opener's own close
// commits; when the opener closed first and a child wrote after, the
// final RELEASE does. The flushing process is told from the opener by
// thread group, without reading the /proc files of the flushing process
// (they block while it is inside execve).
func (h *stagedHandle) Flush(ctx context.Context) syscall.Errno {
	if fc, ok := fuse.FromContext(ctx); ok && !inProcess(h.opener.Pid, int(fc.Pid)) {
		return 0
	}
	return h.commit(h.n.r.caller(ctx), h.openerDone())
}

// openerDone reports whether a creation or truncation never written to
// (touch, `: > f`, Path.touch) is closed by its opener for good: the
// opener holds no other descriptor of the file. It is then committed at
// this close, not at the kernel's RELEASE, which comes after close(2) has
// returned: the next command must find the file. A shell's redirection
// closes a duplicate first (open, dup2 to 1, close), and is done only at
// its last close, so `{ echo a; /bin/echo b; } > f` still commits once.
func (h *stagedHandle) openerDone() bool {
	h.mu.Lock()
	blank := h.mustCommit && !h.committed && !h.dirty && !h.cancelled
	h.mu.Unlock()
	return blank && !holdsFile(h.opener.Pid, h.n.rel())
}

// holdsFile reports whether process pid has a descriptor open on a path
// that ends in /rel (when unsure, that it has).
func holdsFile(pid int, rel string) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	fds, err := os.ReadDir(dir)
	if err != nil {
		return true
	}
	for _, fd := range fds {
		target, err := os.Readlink(dir + "/" + fd.Name())
		if err == nil && strings.HasSuffix(strings.TrimSuffix(target, " (deleted)"), "/"+rel) {
			return true
		}
	}
	return false
}

func (h *stagedHandle) Fsync(ctx context.Context, flags uint32) syscall.Errno {
	return h.commit(h.n.r.caller(ctx), false)
}

// Release commits a truncation or creation that was never followed by a
// write (`: > f`, touch). Its error cannot reach the tool; the log and the
// kept bytes still show it.
func (h *stagedHandle) Release(ctx context.Context) syscall.Errno {
	h.commit(h.opener, true)
	h.mu.Lock()
	h.n.r.d.ReleaseStaging(h.reserved)
	h.reserved = 0
	h.mu.Unlock()
	h.n.clearPending(h)
	h.n.dropWriter(h)
	h.lockMu.Lock()
	if h.lfd > 0 {
		unix.Close(h.lfd)
		h.lfd = 0
	}
	h.lockMu.Unlock()
	return 0
}

func (h *stagedHandle) commit(c backing.Caller, final bool) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	if c.Pid == 0 {
		c = h.opener
	}
	d := h.n.r.d
	rel := h.n.rel()
	if h.cancelled {
		return 0
	}
	if h.tooLarge {
		// Refused as a whole: the truncation or creation is not committed
		// at release either. What was written is kept (see tooLargeKeep).
		max := d.Config().Limits.MaxSize
		reason := "a write went past the --max-size limit of " + strconv.FormatInt(max, 10) + " bytes"
		if h.dropped {
			reason += "; kept: the first " + strconv.Itoa(len(h.data)) + " bytes; the write at offset " +
				strconv.FormatInt(h.droppedAt, 10) + " and those after it went past " +
				strconv.FormatInt(tooLargeKeep(max), 10) + " bytes (twice the limit) and were not kept"
		}
		h.tooLarge, h.dropped, h.dirty, h.committed = false, false, false, true
		h.n.r.invalidate(h.n.EmbeddedInode()) // the kernel took the writes' size
		return errno(d.Refuse(backing.OpTooLarge, rel, reason, c, h.data))
	}
	if h.noRoom != nil {
		// Refused as a whole, as past --max-size: the file stays as it was.
		op, reason := d.RoomReason(int64(len(h.data)), h.noRoom)
		h.noRoom, h.dirty, h.committed = nil, false, true
		h.n.r.invalidate(h.n.EmbeddedInode())
		return errno(d.Refuse(op, rel, reason, c, h.data))
	}
	if !h.dirty && !(final && h.mustCommit && !h.committed) {
		return 0
	}
	w := backing.Write{Path: rel, Data: h.data, Base: h.base, Caller: c, Mode: h.mode, Meta: h.meta}
	appending := h.append && !h.rewrite
	if appending {
		w.Data, w.Base, w.Append = h.data[min(h.from, len(h.data)):], -1, true
	} else if h.ownView && h.ownRev >= 0 {
		w.Unstamped = &h.ownRev
	}
	done := h.n.dirWrite(h.inPlace)
	res, err := d.Commit(w)
	done(err == nil)
	h.dirty = false
	h.committed = true // a refused truncation is not retried at release
	if err != nil {
		if appending {
			h.data = h.data[:min(h.from, len(h.data))] // the refused lines are not appended again
		}
		h.n.r.undoRemoveAway(rel)
		// A file this handle created does not exist once its first commit
		// is refused: not for the writer either, even before the kernel's
		// RELEASE of the handle.
		h.n.clearPending(h)
		// The kernel set the file's size from this handle's writes; the
		// committed file keeps its own.
		h.n.r.invalidate(h.n.EmbeddedInode())
		return errno(err)
	}
	h.base = res.Rev
	h.meta = nil // applied: what is set from now on applies to the file
	if h.append {
		// The copy is now the committed content, others' appends
		// included; this handle's next appends go after it.
		h.data, h.from, h.rewrite, h.ownView = bytes.Clone(res.Data), len(res.Data), false, false
	} else if len(res.Data) == len(h.data) {
		h.data, h.ownView = res.Data, false
	} else {
		// The stamp changed the length (revision 9 became 10, or a
		// stamped glob added the field). The writer goes on writing at
		// its own offsets (after an fsync), so the copy stays the
		// writer's bytes, and the next commit stamps them again.
		h.ownView, h.ownRev = true, res.Own
	}
	h.n.r.committed(rel)
	h.n.clearPending(h)
	h.n.r.invalidate(h.n.EmbeddedInode())
	return 0
}

func (h *stagedHandle) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	rel := h.n.rel()
	own := h.ownsAttr()
	if st, err := h.n.r.d.Lstat(rel); err == nil {
		fillAttr(&out.Attr, &st.Stat_t)
	} else if !h.n.pendingAttr(&out.Attr) {
		return errno(err)
	}
	if own {
		h.mu.Lock()
		h.attrLocked(&out.Attr)
		h.mu.Unlock()
	}
	out.SetTimeout(0)
	return 0
}

func (h *stagedHandle) openedBy() int { return h.opener.Pid }

// ownsAttr reports whether the writer sees its own size: while it has
// bytes not committed (or a truncation not committed yet, or its own view
// after a stamp changed the length). Once they are committed or refused,
// the file has its committed size: a stat right after close(), before the
// kernel's RELEASE of this handle, must not report refused bytes.
func (h *stagedHandle) ownsAttr() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.dirty || h.ownView || (h.mustCommit && !h.committed)
}

// inProcess reports whether thread tid belongs to process pid. It looks
// only at /proc/PID/task/TID (a lookup in pid's thread list), never at
// tid's own files, which block while tid is inside execve.
func inProcess(pid, tid int) bool {
	if pid == tid {
		return true
	}
	if pid <= 0 || tid <= 0 {
		return false
	}
	var st unix.Stat_t
	return unix.Stat("/proc/"+strconv.Itoa(pid)+"/task/"+strconv.Itoa(tid), &st) == nil
}
