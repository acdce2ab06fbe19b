package fs

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/backing"
)

// Metadata set on a writing handle. A writer's fchmod, fchown, futimens
// and fsetxattr before its commit (cp -p, install -m, tar -x) belong to
// the version it commits: they are kept on the handle and handed to
// backing.Commit with the bytes (backing.Meta), and its own fstat shows
// them. Once the handle has committed, they apply to the file directly.

// addWriter and dropWriter track the staging handles open on n.
func (n *Node) addWriter(h *stagedHandle) {
	n.mu.Lock()
	if n.writers == nil {
		n.writers = map[*stagedHandle]struct{}{}
	}
	n.writers[h] = struct{}{}
	n.mu.Unlock()
}

// writing reports whether a writing handle is open on n: its writer's
// view of the file (size, times) differs from everyone else's.
func (n *Node) writing() bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.writers) > 0
}

func (n *Node) dropWriter(h *stagedHandle) {
	n.mu.Lock()
	delete(n.writers, h)
	if len(n.writers) == 0 {
		n.writers = nil // an empty map stays allocated: thousands of files once written
	}
	n.mu.Unlock()
}

// writerFor is the caller's staging handle on n that holds what it has
// not committed yet, or nil: metadata the caller sets goes there. A file
// created through the mount and not committed exists only in its handle.
func (n *Node) writerFor(ctx context.Context) *stagedHandle {
	n.mu.Lock()
	pending := n.pending
	var mine []*stagedHandle
	for h := range n.writers {
		mine = append(mine, h)
	}
	n.mu.Unlock()
	for _, h := range mine {
		if sameProcess(ctx, h.opener.Pid) && h.uncommitted() {
			return h
		}
	}
	return pending
}

// ownVersion is the caller's staging handle on n whose size and times
// are its own (see stagedHandle.Getattr), or nil.
func (n *Node) ownVersion(ctx context.Context) *stagedHandle {
	n.mu.Lock()
	var mine []*stagedHandle
	for h := range n.writers {
		mine = append(mine, h)
	}
	n.mu.Unlock()
	for _, h := range mine {
		if h.opener.Pid > 0 && sameProcess(ctx, h.opener.Pid) && h.ownsAttr() {
			return h
		}
	}
	return nil
}

// uncommitted reports whether the handle holds bytes or a truncation or
// creation that its next commit will write.
func (h *stagedHandle) uncommitted() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !h.cancelled && (h.dirty || (h.mustCommit && !h.committed))
}

// metaLocked is the handle's metadata, made on first use; h.mu is held.
func (h *stagedHandle) metaLocked() *backing.Meta {
	if h.meta == nil {
		m := backing.NewMeta()
		h.meta = &m
	}
	return h.meta
}

// wroteLocked notes a write: the file's mtime and ctime are now, and a
// time set before the write no longer stands.
func (h *stagedHandle) wroteLocked() {
	h.wtime = time.Now()
	if h.meta != nil {
		h.meta.Mtime = unix.Timespec{Nsec: unix.UTIME_OMIT}
	}
}

// setattr records a SETATTR's mode, owner and times on the handle.
func (h *stagedHandle) setattr(in *fuse.SetAttrIn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.metaLocked()
	if mode, ok := in.GetMode(); ok {
		m.Mode, m.HasMode = mode&0o7777, true
		h.mode = mode & 0o7777
	}
	if uid, ok := in.GetUID(); ok {
		m.Uid = int(uid)
	}
	if gid, ok := in.GetGID(); ok {
		m.Gid = int(gid)
	}
	if t, ok := in.GetATime(); ok {
		m.Atime = unix.NsecToTimespec(t.UnixNano())
	}
	if t, ok := in.GetMTime(); ok {
		m.Mtime = unix.NsecToTimespec(t.UnixNano())
	}
	h.ctime = time.Now()
}

// attrLocked lays the handle's own view over out: its size, the time of
// its last write, and the metadata set on it.
func (h *stagedHandle) attrLocked(out *fuse.Attr) {
	out.Size = uint64(len(h.data))
	out.Blocks = (out.Size + 511) / 512
	if !h.wtime.IsZero() {
		out.SetTimes(nil, &h.wtime, &h.wtime)
	}
	if h.ctime.After(h.wtime) {
		out.SetTimes(nil, nil, &h.ctime)
	}
	m := h.meta
	if m == nil {
		return
	}
	if m.HasMode {
		out.Mode = out.Mode&^0o7777 | m.Mode
	}
	if m.Uid >= 0 {
		out.Uid = uint32(m.Uid)
	}
	if m.Gid >= 0 {
		out.Gid = uint32(m.Gid)
	}
	if m.Atime.Nsec != unix.UTIME_OMIT {
		out.Atime, out.Atimensec = uint64(m.Atime.Sec), uint32(m.Atime.Nsec)
	}
	if m.Mtime.Nsec != unix.UTIME_OMIT {
		out.Mtime, out.Mtimensec = uint64(m.Mtime.Sec), uint32(m.Mtime.Nsec)
	}
}

// handleXattr reports whether an xattr set on a writing handle travels
// with its commit: the user's own and the access ACL. Others act on the
// file directly.
func handleXattr(name string) bool {
	return name == "system.posix_acl_access" || (strings.HasPrefix(name, "user.") && !strings.HasPrefix(name, "user.paracfs."))
}

// setXattr records an xattr set on the handle.
func (h *stagedHandle) setXattr(name string, value []byte, flags uint32, cur func(string) bool) syscall.Errno {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := h.metaLocked()
	_, has := m.Xattrs[name]
	_, removed := m.Removed[name]
	exists := has || (!removed && cur(name))
	if flags&unix.XATTR_CREATE != 0 && exists {
		return syscall.EEXIST
	}
	if flags&unix.XATTR_REPLACE != 0 && !exists {
		return syscall.ENODATA
	}
	mode := h.mode
	m.SetXattr(name, value, mode)
	if m.HasMode {
		h.mode = m.Mode
	}
	h.ctime = time.Now()
	return 0
}

// xattr answers for an xattr the handle set or removed; known is false
// when the handle says nothing of it.
func (h *stagedHandle) xattr(name string) (value []byte, removed, known bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.meta == nil {
		return nil, false, false
	}
	if v, ok := h.meta.Xattrs[name]; ok {
		return v, false, true
	}
	if _, ok := h.meta.Removed[name]; ok {
		return nil, true, true
	}
	return nil, false, false
}

// createMode is the mode a file or directory created through the mount
// gets. The kernel leaves the umask to paracfs (CAP_DONT_MASK): as on a
// plain filesystem it applies unless the directory has a default ACL,
// which then decides the permissions itself.
func (r *Root) createMode(ctx context.Context, rel string, mode uint32) uint32 {
	if r.d.HasDefaultACL(rel) {
		return mode
	}
	return mode &^ callerUmask(ctx)
}

// callerUmask reads the calling thread's umask from /proc (022 when
// unknown). The caller is inside its own open, mkdir or mknod, so /proc
// answers at once.
func callerUmask(ctx context.Context) uint32 {
	fc, ok := fuse.FromContext(ctx)
	if !ok || fc.Pid == 0 {
		return 0o022
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(fc.Pid)) + "/status")
	if err != nil {
		return 0o022
	}
	s := string(b)
	if i := strings.Index(s, "\nUmask:"); i >= 0 {
		if f := strings.Fields(s[i+7:]); len(f) > 0 {
			if v, err := strconv.ParseUint(f[0], 8, 32); err == nil {
				return uint32(v)
			}
		}
	}
	return 0o022
}

// xattrNames is names (the file's) with the handle's changes.
func (h *stagedHandle) xattrNames(names []string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.meta == nil {
		return names
	}
	var out []string
	seen := map[string]bool{}
	for _, name := range names {
		if _, gone := h.meta.Removed[name]; !gone {
			out = append(out, name)
			seen[name] = true
		}
	}
	for name := range h.meta.Xattrs {
		if !seen[name] {
			out = append(out, name)
		}
	}
	return out
}

// The history and the kept refused writes under .paracfs/ are the
// daemon's in DIR (0700 and 0711 folders): through the mount they are
// shown open (folders 0555, versions 0444) and each lookup, open and
// listing asks backing.MayReadMeta whether its caller may read the file
// they come from. Their entries are never cached, so that every lookup
// asks.

// guardedMeta reports whether rel is under .paracfs/history or
// .paracfs/rejected.
func guardedMeta(rel string) bool {
	for _, top := range []string{backing.HistoryDir, backing.RejectedDir} {
		if rel == top || strings.HasPrefix(rel, top+"/") {
			return true
		}
	}
	return false
}

// metaAttr shows a guarded folder as 0555 and a version as 0444; a kept
// refused write keeps its own owner and mode (its writer's, 0600).
func metaAttr(rel string, out *fuse.Attr) {
	if !guardedMeta(rel) {
		return
	}
	switch {
	case out.Mode&syscall.S_IFMT == syscall.S_IFDIR:
		out.Mode = syscall.S_IFDIR | 0o555
	case strings.HasPrefix(rel, backing.HistoryDir+"/") && out.Mode&syscall.S_IFMT == syscall.S_IFREG:
		out.Mode = syscall.S_IFREG | 0o444
	}
}

// metaDenied is EACCES when rel is guarded and the caller may not read it.
func (r *Root) metaDenied(ctx context.Context, rel string) syscall.Errno {
	if guardedMeta(rel) && !r.d.MayReadMeta(rel, r.caller(ctx)) {
		return syscall.EACCES
	}
	return 0
}

// metaVisible filters a guarded folder's entries to those the caller may
// read.
func (r *Root) metaVisible(ctx context.Context, rel string, out []fuse.DirEntry) []fuse.DirEntry {
	if !guardedMeta(rel) && rel != backing.MetaDir {
		return out
	}
	c := r.caller(ctx)
	shown := out[:0]
	for _, e := range out {
		if sub := join(rel, e.Name); !guardedMeta(sub) || r.d.MayReadMeta(sub, c) {
			shown = append(shown, e)
		}
	}
	return shown
}

// openIndex serves a history index to a caller who may not read every
// version it lists as backing.IndexFor shows it to them, without the
// sha256 of those versions; ok is false for any other open.
func (n *Node) openIndex(rel string, flags uint32, c backing.Caller) (fs.FileHandle, bool) {
	x, ok := strings.CutPrefix(rel, backing.HistoryDir+"/")
	if !ok || writes(flags) || !strings.HasSuffix(x, "/"+backing.HistoryIndex) {
		return nil, false
	}
	data, ok := n.r.d.IndexFor(strings.TrimSuffix(x, "/"+backing.HistoryIndex), c)
	if !ok {
		return nil, false
	}
	return &indexReader{data: data, opener: c.Pid}, true
}

// indexReader reads the index bytes openIndex made.
type indexReader struct {
	data   []byte
	opener int
}

var (
	_ = (fs.FileReader)((*indexReader)(nil))
	_ = (fs.FileFlusher)((*indexReader)(nil))
)

func (r *indexReader) openedBy() int { return r.opener }

func (r *indexReader) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if off >= int64(len(r.data)) {
		return fuse.ReadResultData(nil), 0
	}
	return fuse.ReadResultData(r.data[off:min(off+int64(len(dest)), int64(len(r.data)))]), 0
}

// Flush does nothing: a reader commits nothing.
func (r *indexReader) Flush(ctx context.Context) syscall.Errno { return 0 }
