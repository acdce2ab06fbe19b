package fs

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/backing"
)

// Node is a file, directory or symlink of the mount. Whether a regular file
// is managed is decided by its current name, so a node renamed onto a
// managed name (sed -i's temp file) becomes managed.
type Node struct {
	fs.Inode
	r *Root

	mu      sync.Mutex
	pending *stagedHandle // created through the mount, not committed yet
	writers map[*stagedHandle]struct{}

	lastRel atomic.Pointer[string] // the path it had when last in the tree
	// awayFrom is the managed name this file was renamed away from (an
	// editor's backup): a reader that resolved that name just before the
	// rename reaches this node, and must open the name it asked for.
	awayFrom atomic.Pointer[string]
	// dt is a directory's record of the times it shows (dirtimes.go).
	dt atomic.Pointer[dirTimes]
}

var (
	_ = (fs.NodeLookuper)((*Node)(nil))
	_ = (fs.NodeGetattrer)((*Node)(nil))
	_ = (fs.NodeSetattrer)((*Node)(nil))
	_ = (fs.NodeReaddirer)((*Node)(nil))
	_ = (fs.NodeMkdirer)((*Node)(nil))
	_ = (fs.NodeRmdirer)((*Node)(nil))
	_ = (fs.NodeUnlinker)((*Node)(nil))
	_ = (fs.NodeRenamer)((*Node)(nil))
	_ = (fs.NodeSymlinker)((*Node)(nil))
	_ = (fs.NodeMknoder)((*Node)(nil))
	_ = (fs.NodeReadlinker)((*Node)(nil))
	_ = (fs.NodeLinker)((*Node)(nil))
	_ = (fs.NodeStatfser)((*Node)(nil))
	_ = (fs.NodeOpener)((*Node)(nil))
	_ = (fs.NodeCreater)((*Node)(nil))
	_ = (fs.NodeOnForgetter)((*Node)(nil))
)

// child returns the inode for a name that exists in the backing directory.
// A managed regular file keeps one inode for its name across commits (each
// commit replaces the backing inode), with an inode number of its own;
// everything else shows its backing inode number, as on the backing
// filesystem, and is identified by it and its birth time, so hard links
// between scratch names show as one file, and a new file that reuses the
// number of a deleted one (sed's next temp file, say) is never mistaken
// for the node that file became.
func (n *Node) child(ctx context.Context, name, rel string, st *backing.Stat, out *fuse.EntryOut) *fs.Inode {
	fillAttr(&out.Attr, &st.Stat_t)
	controlAttr(rel, &out.Attr)
	out.SetEntryTimeout(entryTimeout)
	out.SetAttrTimeout(n.r.attrTimeout(st.Mode))
	if guardedMeta(rel) {
		metaAttr(rel, &out.Attr)
		out.SetEntryTimeout(0)
		out.SetAttrTimeout(0)
	}
	isReg := st.Mode&syscall.S_IFMT == syscall.S_IFREG
	if isReg && n.r.d.Managed(rel) {
		if ch := n.GetChild(name); ch != nil && ch.StableAttr().Mode == syscall.S_IFREG {
			out.Attr.Ino = ch.StableAttr().Ino
			if cn, ok := ch.Operations().(*Node); ok && cn.writing() {
				out.SetAttrTimeout(0)
			}
			return ch
		}
		// The number of the backing inode it is found with, as readdir
		// shows it (d_ino), kept while the kernel knows the node: the
		// next commit retires that backing inode.
		ch := n.NewInode(ctx, &Node{r: n.r}, fs.StableAttr{Mode: syscall.S_IFREG, Ino: n.r.retired.managedIno(st), Gen: st.Birth})
		out.Attr.Ino = ch.StableAttr().Ino
		n.r.retired.retire(ch)
		return ch
	}
	mode := st.Mode & syscall.S_IFMT
	if ch := n.GetChild(name); ch != nil {
		if a := ch.StableAttr(); a.Mode == mode && (a.Gen == st.Birth && (a.Ino == st.Ino || a.Ino == mixedIno(st)) || n.r.awayTo(rel)) {
			if cn, ok := ch.Operations().(*Node); ok {
				cn.showDirTimes(&out.Attr)
			}
			return ch // the node it has, whatever number it was given
		}
	}
	return n.NewInode(ctx, &Node{r: n.r}, fs.StableAttr{Mode: mode, Ino: n.r.retired.ino(st), Gen: st.Birth})
}

// mixedIno is a backing file's inode number mixed with its birth time: the
// number the mount shows for a file whose own number is still shown by
// another node (see retiredInos).
func mixedIno(st *backing.Stat) uint64 {
	if st.Birth == 0 {
		return st.Ino
	}
	h := st.Birth * 0x9e3779b97f4a7c15 // Fibonacci hashing spreads nearby times
	return 1<<62 | (h>>42)<<40 | st.Ino&(1<<40-1)
}

// retiredInos are the inode numbers of nodes that outlive the backing
// inode they were found with: a scratch file renamed onto a managed name
// becomes that name's node, and its commit replaces the backing inode. The
// number then stays the managed file's while the kernel knows the node; a
// new file that reuses it on the backing filesystem is shown with its
// number mixed with its birth time instead, or mv would call the two "the
// same file".
type retiredInos struct {
	mu sync.Mutex
	m  map[uint64]*fs.Inode
}

// retire records that n's number no longer names its backing file.
func (t *retiredInos) retire(n *fs.Inode) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = map[uint64]*fs.Inode{}
	}
	t.m[n.StableAttr().Ino] = n
}

// forget drops n once the kernel has forgotten it.
func (t *retiredInos) forget(n *fs.Inode) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ino := n.StableAttr().Ino; t.m[ino] == n {
		delete(t.m, ino)
	}
}

// ino is the number the mount shows for a file, a directory or a symlink
// found with backing inode st: its backing number, unless a retired node
// shows that number.
func (t *retiredInos) ino(st *backing.Stat) uint64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	o := t.m[st.Ino]
	if o == nil || (o.StableAttr().Gen == st.Birth && st.Birth != 0) {
		return st.Ino // free, or the very file (a commit that kept its inode)
	}
	return mixedIno(st)
}

// managedIno is the number a managed file's new node shows: its backing
// number, unless another node shows that number (a managed node whose
// backing inode is now another name's: a name renamed away, still shown
// to other processes, is the very inode its new name has), then that
// number mixed with its birth time, or a number of go-fuse's (0).
func (t *retiredInos) managedIno(st *backing.Stat) uint64 {
	if !t.shows(st.Ino) {
		return st.Ino
	}
	if m := mixedIno(st); m != st.Ino && !t.shows(m) {
		return m
	}
	return 0
}

// shows reports whether a retired node shows number ino.
func (t *retiredInos) shows(ino uint64) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[ino] != nil
}

// OnForget is called once the kernel holds no reference to the node.
func (n *Node) OnForget() { n.r.retired.forget(n.EmbeddedInode()) }

func (n *Node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	if backing.IsTemp(name) {
		return nil, syscall.ENOENT
	}
	rel := join(n.rel(), name)
	if e := n.r.metaDenied(ctx, rel); e != 0 {
		return nil, e
	}
	st, err := n.r.d.Lstat(rel)
	if err == nil && n.r.hidden(ctx, rel) {
		err = syscall.ENOENT // this process renamed it away
	}
	if err != nil {
		// A file created through the mount and not committed yet exists
		// for the process that creates it only.
		if ch := n.GetChild(name); ch != nil {
			if cn, ok := ch.Operations().(*Node); ok && cn.pendingFor(ctx) != nil && cn.pendingAttr(&out.Attr) {
				out.SetEntryTimeout(0)
				out.SetAttrTimeout(0)
				return ch, 0
			}
		}
		return nil, errno(err)
	}
	ch := n.child(ctx, name, rel, &st, out)
	if n.r.away.get(rel) != nil {
		out.SetEntryTimeout(0) // visible to some processes only
	}
	return ch, 0
}

// pendingAttr describes a file created through the mount that has not
// committed yet; it exists only for the process that created it (see
// pendingFor).
func (n *Node) pendingAttr(out *fuse.Attr) bool {
	h := n.pendingHandle()
	if h == nil {
		return false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	now := time.Now()
	out.Mode = syscall.S_IFREG | h.mode
	out.Nlink = 1
	out.Uid, out.Gid = h.opener.Uid, h.opener.Gid
	out.SetTimes(&now, &now, &now)
	h.attrLocked(out)
	return true
}

func (n *Node) setPending(h *stagedHandle) {
	n.mu.Lock()
	n.pending = h
	n.mu.Unlock()
	n.addWriter(h)
}

func (n *Node) clearPending(h *stagedHandle) {
	n.mu.Lock()
	if n.pending == h {
		n.pending = nil
	}
	n.mu.Unlock()
}

// Getattr answers from the file's committed state, except for the process
// that opened the handle: it sees its own uncommitted size (staging) or its
// open file (fstat of a deleted scratch file). go-fuse hands us some open
// handle even when the kernel sent none, so the handle alone says nothing
// about who is asking.
//
// The caller's handle that holds a version of its own comes first: the
// handle go-fuse picks is the oldest open one, which may be the same
// process's reader, or a writer whose bytes are committed already.
func (n *Node) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	if w := n.ownVersion(ctx); w != nil {
		return w.Getattr(ctx, out) // the caller's own uncommitted version (fstat)
	}
	if o, ok := f.(interface{ openedBy() int }); ok && sameProcess(ctx, o.openedBy()) {
		if h, ok := f.(fs.FileGetattrer); ok {
			return h.Getattr(ctx, out)
		}
	}
	st, err := n.r.d.Lstat(n.rel())
	if err != nil {
		if n.pendingAttr(&out.Attr) {
			return 0
		}
		return errno(err)
	}
	fillAttr(&out.Attr, &st.Stat_t)
	controlAttr(n.rel(), &out.Attr)
	n.showDirTimes(&out.Attr)
	out.SetTimeout(n.r.attrTimeout(st.Mode))
	if n.writing() {
		// The kernel keeps one set of attributes per inode: cached, the
		// committed size given to a reader would answer the writer's own
		// fstat (git records it in its index and then sees a change).
		out.SetTimeout(0)
	}
	if guardedMeta(n.rel()) {
		metaAttr(n.rel(), &out.Attr)
		out.SetTimeout(0)
	}
	return 0
}

// attrReply answers a request that changed attributes (chmod, chown,
// utimes, truncate) with the file's attributes, under the node's own
// inode number: the kernel takes the number from this reply as from a
// GETATTR, and the backing file's number would show until the next one.
func (n *Node) attrReply(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	e := n.Getattr(ctx, f, out)
	out.Ino = n.StableAttr().Ino
	return e
}

func (n *Node) Setattr(ctx context.Context, f fs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	rel := n.rel()
	d := n.r.d
	if n.IsDir() {
		defer n.dirChanging()()
	}
	if sz, ok := in.GetSize(); ok {
		if e := n.truncate(ctx, f, rel, int64(sz)); e != 0 {
			return e
		}
	}
	if w := n.writerFor(ctx); w != nil {
		// Set on a handle that has not committed: part of its commit.
		w.setattr(in)
		return n.Getattr(ctx, f, out)
	}
	if mode, ok := in.GetMode(); ok {
		if err := d.Chmod(rel, mode&0o7777); err != nil {
			return errno(err)
		}
	}
	uid, uok := in.GetUID()
	gid, gok := in.GetGID()
	if uok || gok {
		u, g := -1, -1
		if uok {
			u = int(uid)
		}
		if gok {
			g = int(gid)
		}
		if err := d.Chown(rel, u, g); err != nil {
			return errno(err)
		}
	}
	atime, aok := in.GetATime()
	mtime, mok := in.GetMTime()
	if aok || mok {
		ts := [2]unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if aok {
			ts[0] = unix.NsecToTimespec(atime.UnixNano())
		}
		if mok {
			ts[1] = unix.NsecToTimespec(mtime.UnixNano())
		}
		if err := d.Utimes(rel, ts); err != nil {
			return errno(err)
		}
	}
	return n.attrReply(ctx, f, out)
}

// pendingHandle is the handle that created this file and has not
// committed it yet, or nil.
func (n *Node) pendingHandle() *stagedHandle {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.pending
}

func (n *Node) isPending() bool { return n.pendingHandle() != nil }

// truncate changes a file's size. For a managed file without a writing
// handle (truncate(1), a handle-less SETATTR) that is a commit of its own.
func (n *Node) truncate(ctx context.Context, f fs.FileHandle, rel string, size int64) syscall.Errno {
	switch h := f.(type) {
	case *stagedHandle:
		return h.truncate(size)
	case *logHandle:
		return h.truncate(ctx, size)
	case *fdHandle:
		return h.truncate(size)
	}
	if p := n.pendingHandle(); p != nil {
		return p.truncate(size)
	}
	d := n.r.d
	if !d.Managed(rel) {
		return errno(d.Truncate(rel, size))
	}
	c := n.r.caller(ctx)
	if d.IsLog(rel) {
		return errno(d.AppendOnly(backing.LogTruncate, rel, size, -1, c))
	}
	data, _, err := d.ReadFile(rel)
	if err != nil {
		return errno(err)
	}
	if size > d.Config().Limits.MaxSize {
		return errno(d.Refuse(backing.OpTooLarge, rel, "truncate beyond --max-size", c, nil))
	}
	if int64(len(data)) > size {
		data = data[:size]
	} else {
		data = append(data, make([]byte, size-int64(len(data)))...)
	}
	done := n.dirWrite(true)
	_, err = d.Commit(backing.Write{Path: rel, Data: data, Base: -1, Op: backing.OpTruncate, Caller: c})
	done(err == nil)
	if err == nil {
		n.r.invalidate(n.EmbeddedInode())
	}
	return errno(err)
}

// isRegular reports whether the backing name is a regular file.
func (n *Node) isRegular(name string) bool {
	st, err := n.r.d.Lstat(join(n.rel(), name))
	return err == nil && st.Mode&syscall.S_IFMT == syscall.S_IFREG
}

func (n *Node) Readdir(ctx context.Context) (fs.DirStream, syscall.Errno) {
	rel := n.rel()
	if e := n.r.metaDenied(ctx, rel); e != 0 {
		return nil, e
	}
	entries, err := n.r.d.ReadDir(rel, false)
	if err != nil {
		return nil, errno(err)
	}
	checkAway := n.r.away.any()
	out := make([]fuse.DirEntry, 0, len(entries))
	for _, e := range entries {
		if checkAway && n.r.hidden(ctx, join(rel, e.Name)) {
			continue
		}
		out = append(out, fuse.DirEntry{Name: e.Name, Ino: n.direntIno(rel, e.Name, e.Ino), Mode: uint32(e.Type) << 12})
	}
	out = n.r.metaVisible(ctx, rel, out)
	return fs.NewListDirStream(append(n.dots(), out...)), 0
}

// dots are the "." and ".." entries a plain directory lists first (ls -a,
// getdents): this node's number, and its parent's (DIR's real parent for
// the root).
func (n *Node) dots() []fuse.DirEntry {
	up := n.StableAttr().Ino
	if _, p := n.Parent(); p != nil {
		up = p.StableAttr().Ino
	} else if st, err := n.r.d.Lstat(".."); err == nil {
		up = st.Ino
	}
	return []fuse.DirEntry{
		{Name: ".", Ino: n.StableAttr().Ino, Mode: syscall.S_IFDIR},
		{Name: "..", Ino: up, Mode: syscall.S_IFDIR},
	}
}

// direntIno is the number readdir shows for a name (d_ino): the number
// its node shows to stat, when the kernel knows one (a managed file keeps
// its number across commits, a retired number is mixed); else the number
// a lookup would give it now.
func (n *Node) direntIno(rel, name string, backingIno uint64) uint64 {
	if ch := n.GetChild(name); ch != nil {
		return ch.StableAttr().Ino
	}
	if !n.r.retired.shows(backingIno) {
		return backingIno
	}
	st, err := n.r.d.Lstat(join(rel, name))
	if err != nil || st.Ino != backingIno {
		return backingIno
	}
	if st.Mode&syscall.S_IFMT == syscall.S_IFREG && n.r.d.Managed(join(rel, name)) {
		return n.r.retired.managedIno(&st)
	}
	return n.r.retired.ino(&st)
}

func (n *Node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	rel := join(n.rel(), name)
	defer n.dirChanging()()
	n.r.freeFor(ctx, rel)
	if err := n.r.d.Mkdir(rel, n.r.createMode(ctx, rel, mode), n.r.caller(ctx)); err != nil {
		return nil, errno(err)
	}
	return n.lookupNew(ctx, name, rel, out)
}

func (n *Node) lookupNew(ctx context.Context, name, rel string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	st, err := n.r.d.Lstat(rel)
	if err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, name, rel, &st, out), 0
}

func (n *Node) Rmdir(ctx context.Context, name string) syscall.Errno {
	rel := join(n.rel(), name)
	defer n.dirChanging()()
	n.r.finishAwayUnder(rel) // names removed from it may still be away names
	return errno(n.r.d.Rmdir(rel, n.r.caller(ctx)))
}

// Unlink removes a name. A managed file stays visible to other processes
// for a while (see renameAway), because tools such as git replace a file
// by unlinking it and creating it again.
func (n *Node) Unlink(ctx context.Context, name string) syscall.Errno {
	done := n.dirReplacing() // a managed file leaves the backing directory later
	e := n.unlink(ctx, name)
	done(e == 0)
	return e
}

func (n *Node) unlink(ctx context.Context, name string) syscall.Errno {
	rel := join(n.rel(), name)
	d, c := n.r.d, n.r.caller(ctx)
	var err error
	if d.Managed(rel) && !d.IsLog(rel) && n.isRegular(name) {
		err = n.r.removeAway(rel, c)
	} else {
		err = d.Remove(rel, c)
	}
	if err == unix.ENOENT {
		if ch := n.GetChild(name); ch != nil {
			if cn, ok := ch.Operations().(*Node); ok && cn.cancelPending() {
				return 0
			}
		}
	}
	return errno(err)
}

// cancelPending drops a file created through the mount and removed before
// it ever committed.
func (n *Node) cancelPending() bool {
	n.mu.Lock()
	h := n.pending
	n.pending = nil
	n.mu.Unlock()
	if h == nil {
		return false
	}
	h.mu.Lock()
	h.cancelled = true
	h.mu.Unlock()
	return true
}

func (n *Node) Rename(ctx context.Context, name string, newParent fs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*Node)
	if !ok {
		return syscall.EXDEV
	}
	oldRel, newRel := join(n.rel(), name), join(np.rel(), newName)
	d, c := n.r.d, n.r.caller(ctx)
	defer n.dirChanging()()
	if np != n {
		defer np.dirChanging()()
	}
	defer n.renamedDirs(name, np, newName) // a directory moved changes its own ctime
	var err error
	n.r.finishAwayUnder(oldRel) // a directory moving away takes its away names along
	if n.r.undoRenameAway(ctx, oldRel, newRel) {
		return 0
	}
	if n.r.away.any() {
		// A name the caller removed is free for it, and so is a directory
		// that holds only such names (as for Rmdir).
		src, serr := d.Lstat(oldRel)
		dst, derr := d.Lstat(newRel)
		switch {
		case serr != nil:
		case src.Mode&syscall.S_IFMT == syscall.S_IFREG:
			if flags&unix.RENAME_NOREPLACE != 0 && n.r.hidden(ctx, newRel) {
				flags &^= unix.RENAME_NOREPLACE // a commit replaces the away file
			}
		case derr == nil && dst.Mode&syscall.S_IFMT == syscall.S_IFDIR:
			if src.Mode&syscall.S_IFMT == syscall.S_IFDIR && flags&unix.RENAME_EXCHANGE == 0 {
				n.r.finishAwayUnder(newRel)
			}
		default:
			n.r.freeFor(ctx, newRel)
		}
	}
	if d.Managed(oldRel) && !d.Managed(newRel) && flags&^unix.RENAME_NOREPLACE == 0 && n.isRegular(name) {
		if _, e := d.Lstat(newRel); e == nil && flags&unix.RENAME_NOREPLACE != 0 {
			return syscall.EEXIST
		}
		err = n.r.renameAway(ctx, oldRel, newRel, c)
		if ch := n.GetChild(name); ch != nil && err == nil {
			if cn, ok := ch.Operations().(*Node); ok {
				cn.awayFrom.Store(&oldRel)
			}
		}
	} else {
		err = d.Rename(oldRel, newRel, flags, c)
	}
	if err != nil {
		return errno(err)
	}
	if d.Managed(newRel) {
		n.r.committed(newRel)
		if ch := n.GetChild(name); ch != nil && ch.StableAttr().Gen != 0 && ch.StableAttr().Mode == syscall.S_IFREG {
			n.r.retired.retire(ch) // a scratch file became a managed one
		}
	}
	// go-fuse moves the nodes once this returns. A node replaced before
	// anyone asks its path again (the next rename onto the name) keeps the
	// last path it had: it must be the new name, not the temp name it was
	// renamed from, or a reader that resolved the name just before gets
	// ENOENT.
	if ch := n.GetChild(name); ch != nil {
		if cn, ok := ch.Operations().(*Node); ok {
			cn.lastRel.Store(&newRel)
		}
		n.r.invalidate(ch)
	}
	if flags&unix.RENAME_EXCHANGE != 0 {
		if ch := np.GetChild(newName); ch != nil {
			if cn, ok := ch.Operations().(*Node); ok {
				cn.lastRel.Store(&oldRel)
			}
		}
	}
	return 0
}

func (n *Node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	rel := join(n.rel(), name)
	defer n.dirChanging()()
	n.r.freeFor(ctx, rel)
	if err := n.r.d.Symlink(target, rel, n.r.caller(ctx)); err != nil {
		return nil, errno(err)
	}
	return n.lookupNew(ctx, name, rel, out)
}

// Mknod makes a named pipe, a socket or a device node. A device node is
// made only for a caller that could make it itself: one with CAP_MKNOD,
// or anyone for a whiteout (character device 0:0). mknod of a regular
// file under a managed name is a commit of an empty file, like creating it.
func (n *Node) Mknod(ctx context.Context, name string, mode, dev uint32, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	rel := join(n.rel(), name)
	d := n.r.d
	defer n.dirChanging()()
	if t := mode & syscall.S_IFMT; (t == syscall.S_IFCHR && dev != 0) || t == syscall.S_IFBLK {
		if !mayMknod(ctx) {
			return nil, syscall.EPERM
		}
	}
	mode = mode&syscall.S_IFMT | n.r.createMode(ctx, rel, mode&0o7777)
	isReg := mode&syscall.S_IFMT == syscall.S_IFREG || mode&syscall.S_IFMT == 0
	if isReg && d.Managed(rel) {
		if _, err := d.Lstat(rel); err == nil && !n.r.hidden(ctx, rel) {
			return nil, syscall.EEXIST
		}
		w := backing.Write{Path: rel, Base: -1, Caller: n.r.caller(ctx), Mode: mode & 0o7777}
		if _, err := d.Commit(w); err != nil {
			n.r.undoRemoveAway(rel)
			return nil, errno(err)
		}
		n.r.committed(rel)
		return n.lookupNew(ctx, name, rel, out)
	}
	n.r.freeFor(ctx, rel)
	if err := d.Mknod(rel, mode, dev, n.r.caller(ctx)); err != nil {
		return nil, errno(err)
	}
	return n.lookupNew(ctx, name, rel, out)
}

func (n *Node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	t, err := n.r.d.Readlink(n.rel())
	if err != nil {
		return nil, errno(err)
	}
	return []byte(t), 0
}

func (n *Node) Link(ctx context.Context, target fs.InodeEmbedder, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	tn, ok := target.(*Node)
	if !ok {
		return nil, syscall.EXDEV
	}
	rel := join(n.rel(), name)
	defer n.dirChanging()()
	if err := n.r.d.Link(tn.rel(), rel); err != nil {
		return nil, errno(err)
	}
	return n.lookupNew(ctx, name, rel, out)
}

// Fsync is fsync(2). A file's goes to its handle; a directory's (which
// has none) syncs the backing directory, as on a plain filesystem.
func (n *Node) Fsync(ctx context.Context, f fs.FileHandle, flags uint32) syscall.Errno {
	if n.IsDir() {
		return errno(n.r.d.SyncDir(n.rel()))
	}
	if s, ok := f.(fs.FileFsyncer); ok {
		return s.Fsync(ctx, flags)
	}
	return syscall.ENOTSUP
}

func (n *Node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	st, err := n.r.d.Statfs()
	if err != nil {
		return errno(err)
	}
	out.Blocks, out.Bfree, out.Bavail = st.Blocks, st.Bfree, st.Bavail
	out.Files, out.Ffree = st.Files, st.Ffree
	out.Bsize, out.Frsize = uint32(st.Bsize), uint32(st.Frsize)
	out.NameLen = uint32(st.Namelen)
	return 0
}
