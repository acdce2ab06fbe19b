package fs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/backing"
)

const accMode = syscall.O_ACCMODE

func writes(flags uint32) bool { return flags&accMode != syscall.O_RDONLY }

func (n *Node) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	return n.openAs(ctx, n.rel(), flags)
}

// openAs opens n, found at rel. Create opens a node it found in the
// backing directory before go-fuse links that node into the tree, when
// it has no path of its own yet.
func (n *Node) openAs(ctx context.Context, rel string, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	d := n.r.d
	if rel == backing.ControlFile {
		return n.openControl(ctx)
	}
	if e := n.r.metaDenied(ctx, rel); e != 0 {
		return nil, 0, e
	}
	c := n.r.caller(ctx)
	if fh, ok := n.openIndex(rel, flags, c); ok {
		return fh, fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH, 0
	}
	if writes(flags) && d.Managed(rel) {
		if d.IsLog(rel) {
			return n.openLog(rel, flags, c)
		}
		return n.openStaged(rel, flags, c)
	}
	if writes(flags) && n.isPending() {
		return nil, 0, syscall.EBUSY
	}
	if fh, ok := n.openPending(ctx, flags); ok {
		return fh, fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH, 0
	}
	oflags := int(flags) &^ (syscall.O_CREAT | syscall.O_EXCL | syscall.O_NOCTTY)
	if d.Managed(rel) && !writes(flags) {
		// A writer's O_TRUNC open makes the kernel set the shared inode's
		// size to 0 until its commit; a page-cache read racing with that
		// would read nothing. Direct reads ask the daemon, which reads the
		// committed file.
		return n.openRead(rel, oflags, c)
	}
	fd, err := d.OpenFile(rel, oflags, 0, c)
	if err == unix.ENOENT && !writes(flags) {
		if from := n.awayFrom.Load(); from != nil {
			// Renamed away from a managed name, then removed: the
			// reader resolved that name before the rename.
			return n.openRead(*from, oflags, c)
		}
	}
	if err != nil {
		return nil, 0, errno(err)
	}
	h, e := n.countedHandle(fd, c, nil)
	if !writes(flags) {
		return h, fuse.FOPEN_NOFLUSH, e
	}
	return h, 0, e
}

// A handle opened read-only has nothing to do at close(2): its locks are
// open-file-description locks on its backing descriptor, held until
// RELEASE whatever FLUSH does, and it has no bytes to commit. Such opens
// are FOPEN_NOFLUSH, so that close(2) does not wait for a FLUSH round trip
// to the daemon (RELEASE, at the last close, is asynchronous).

// countedHandle wraps a descriptor opened for a handle, counted against
// the handles' budget of descriptors (backing.AcquireRead): past it the
// open fails with EMFILE, so that commits keep descriptors of their own.
func (n *Node) countedHandle(fd int, c backing.Caller, follow *follower) (fs.FileHandle, syscall.Errno) {
	if err := n.r.d.AcquireRead(); err != nil {
		unix.Close(fd)
		return nil, errno(err)
	}
	return &fdHandle{n: n, fd: fd, owner: c.Pid, follow: follow, counted: true}, 0
}

// openRead opens managed rel for reading, directly: a read is answered
// from the committed file, and counts as the caller's read of its revision.
func (n *Node) openRead(rel string, oflags int, c backing.Caller) (fs.FileHandle, uint32, syscall.Errno) {
	fd, rev, err := n.r.d.OpenRead(rel, oflags)
	if err != nil {
		return nil, 0, errno(err)
	}
	sawRead(c, rel, rev)
	h, e := n.countedHandle(fd, c, newFollower(rel))
	return h, fuse.FOPEN_DIRECT_IO | fuse.FOPEN_NOFLUSH, e
}

// openStaged opens a managed file for writing: a private copy of its
// committed bytes (none with O_TRUNC), whose base is the revision at open.
func (n *Node) openStaged(rel string, flags uint32, c backing.Caller) (fs.FileHandle, uint32, syscall.Errno) {
	h := &stagedHandle{n: n, opener: c, base: -1, append: flags&syscall.O_APPEND != 0}
	if flags&syscall.O_TRUNC != 0 {
		h.mustCommit, h.rewrite = true, h.append
	} else {
		data, rev, err := n.r.d.ReadFile(rel)
		switch {
		case err == unix.ENOENT:
			h.mustCommit = true
		case err != nil:
			return nil, 0, errno(err)
		default:
			h.data, h.base, h.from = data, rev, len(data)
			sawRead(c, rel, rev)
		}
	}
	if st, err := n.r.d.Lstat(rel); err == nil {
		h.mode = st.Mode & 0o7777
		h.inPlace = true
	} else {
		h.mode = 0o644
	}
	n.addWriter(h)
	return h, fuse.FOPEN_DIRECT_IO, 0
}

// openLog opens the change log for appending. Truncating it is refused.
func (n *Node) openLog(rel string, flags uint32, c backing.Caller) (fs.FileHandle, uint32, syscall.Errno) {
	d := n.r.d
	if flags&syscall.O_TRUNC != 0 {
		return nil, 0, errno(d.AppendOnly(backing.LogTruncate, rel, 0, -1, c))
	}
	// Its descriptor counts against the handles' budget, as a read
	// handle's does (countedHandle); Release gives it back.
	if err := d.AcquireRead(); err != nil {
		return nil, 0, errno(err)
	}
	fd, err := d.OpenFile(rel, syscall.O_RDONLY, 0, c)
	if err != nil {
		d.ReleaseRead()
		return nil, 0, errno(err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		d.ReleaseRead()
		return nil, 0, errno(err)
	}
	return &logHandle{r: n.r, fd: fd, opener: c, start: st.Size, append: flags&syscall.O_APPEND != 0}, fuse.FOPEN_DIRECT_IO, 0
}

func (n *Node) Create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	if backing.IsTemp(name) {
		return nil, nil, 0, syscall.EPERM
	}
	done := n.createChange(ctx, name)
	ch, fh, ff, e := n.create(ctx, name, flags, mode, out)
	done(e == 0)
	return ch, fh, ff, e
}

func (n *Node) create(ctx context.Context, name string, flags, mode uint32, out *fuse.EntryOut) (*fs.Inode, fs.FileHandle, uint32, syscall.Errno) {
	d := n.r.d
	rel := join(n.rel(), name)
	c := n.r.caller(ctx)
	if d.IsLog(rel) {
		if err := d.CreateLog(); err != nil {
			return nil, nil, 0, errno(err)
		}
	}
	if d.Managed(rel) {
		if st, err := d.Lstat(rel); err == nil && st.Uid != c.Uid && n.r.hidden(ctx, rel) {
			// The caller removed another user's file and makes the name
			// again: a new file, the caller's, as on any filesystem, not
			// that user's with its mode and ACL (who could then read it).
			n.r.freeFor(ctx, rel)
		}
		if st, err := d.Lstat(rel); err == nil && !n.r.hidden(ctx, rel) {
			// Known to the backing directory but not to the kernel's cache.
			if flags&syscall.O_EXCL != 0 {
				return nil, nil, 0, syscall.EEXIST
			}
			ch := n.child(ctx, name, rel, &st, out)
			fh, ff, e := ch.Operations().(*Node).openAs(ctx, rel, flags)
			return ch, fh, ff, e
		}
		// A new managed file exists only in its handle until it commits.
		// Another process's uncommitted file is invisible, but O_EXCL
		// still finds the name taken.
		if flags&syscall.O_EXCL != 0 && n.pendingChild(name) {
			return nil, nil, 0, syscall.EEXIST
		}
		cn := &Node{r: n.r}
		ch := n.NewInode(ctx, cn, fs.StableAttr{Mode: syscall.S_IFREG})
		h := &stagedHandle{n: cn, opener: c, base: -1, mustCommit: true, mode: n.r.createMode(ctx, rel, mode&0o7777), append: flags&syscall.O_APPEND != 0}
		h.rewrite = h.append && flags&syscall.O_TRUNC != 0
		cn.setPending(h)
		cn.pendingAttr(&out.Attr)
		out.SetEntryTimeout(0)
		out.SetAttrTimeout(0)
		return ch, h, fuse.FOPEN_DIRECT_IO, 0
	}
	// Counted against the handles' budget of descriptors before the file
	// is made: past it, EMFILE and no file, as open(2) does.
	if err := d.AcquireRead(); err != nil {
		return nil, nil, 0, errno(err)
	}
	fd, err := d.OpenFile(rel, int(flags)|syscall.O_CREAT, n.r.createMode(ctx, rel, mode&0o7777), c)
	if err != nil {
		d.ReleaseRead()
		return nil, nil, 0, errno(err)
	}
	st, err := d.Lstat(rel)
	if err != nil {
		unix.Close(fd)
		d.ReleaseRead()
		return nil, nil, 0, errno(err)
	}
	ch := n.child(ctx, name, rel, &st, out)
	return ch, &fdHandle{n: ch.Operations().(*Node), fd: fd, owner: c.Pid, counted: true}, 0, 0
}
