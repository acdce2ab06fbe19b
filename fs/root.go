// Package fs is the FUSE front end of paracfs. It maps kernel requests to
// operations of package backing and holds the per-handle staging copies of
// managed files; it has no disk logic of its own.
//
// Writes to a managed file go to a private, in-memory staging copy owned by
// the handle. The copy is committed (backing.Commit) at the opener's first
// FLUSH after a write (close), at fsync, or when a rename lands a file on a
// managed name; a handle that truncated or created the file and never
// wrote, or that children wrote through after its opener closed it,
// commits at RELEASE. Staging handles use direct I/O so that uncommitted
// bytes never enter the kernel's page cache, where other readers would see
// them. Everything else (scratch files, reads) passes straight through.
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

// Timeouts of the kernel's caches: names and attributes are cached for a
// second, as by a plain loopback mount. Every commit through the mount
// drops the file's cached attributes before the request that committed
// returns (invalidate), and the kernel drops them itself when a process
// writes or truncates through the mount, so a stat or open right after
// another process's commit fetches the new size. What only one process
// may see (its uncommitted staging copy, its open handle's file) is
// answered with no caching. Regular files' attributes are cached only
// when the mount covers DIR itself (see NewRoot).
const (
	entryTimeout = time.Second
	dirTimeout   = time.Second
	fileTimeout  = time.Second
)

// Root is the shared state of one mount.
type Root struct {
	d       *backing.Dir
	root    *Node
	inval   chan func()
	holders lockHolders
	readers readers
	away    awayNames
	retired retiredInos

	fileTimeout time.Duration // attributes of regular files: fileTimeout, or 0 when DIR is open to direct writers
}

// NewRoot returns the root node serving d. inPlace tells that the mount
// covers DIR itself: nothing can then change DIR's files behind the
// kernel's back but processes that were inside it before the mount, and
// the attributes of regular files are cached like everything else.
// Mounted elsewhere, DIR stays open to direct writers, and a stat through
// the mount must show their changes at once: files' attributes are then
// not cached.
func NewRoot(d *backing.Dir, inPlace bool) *Node {
	r := &Root{d: d, inval: make(chan func(), 1024)}
	if inPlace {
		r.fileTimeout = fileTimeout
	}
	r.root = &Node{r: r}
	d.SetMountLocks(r.holders.stuck)
	d.OnLogAppended(r.logAppended)
	go r.invalidator()
	return r.root
}

// Options are the go-fuse options paracfs mounts with. Timeouts are left
// nil on purpose: every reply sets its own.
func Options(dir string, allowOther, debug bool) *fs.Options {
	o := &fs.Options{NullPermissions: true}
	o.FsName = dir
	// The root shows DIR's own inode number, as the plain directory does
	// (go-fuse's default is 0, which ls -i shows as "?").
	var st unix.Stat_t
	if unix.Stat(dir, &st) == nil {
		o.RootStableAttr = &fs.StableAttr{Ino: st.Ino}
	}
	o.Name = "paracfs"
	o.EnableLocks = true
	// CAP_DONT_MASK: the kernel leaves the umask to us (createMode), so
	// that a directory's default ACL can apply instead.
	o.ExtraCapabilities = fuse.CAP_ATOMIC_O_TRUNC | fuse.CAP_DIRECT_IO_ALLOW_MMAP | fuse.CAP_DONT_MASK
	o.DisabledCapabilities = fuse.CAP_PASSTHROUGH
	o.Debug = debug
	o.MaxBackground = 64
	if allowOther {
		o.AllowOther = true
		o.Options = append(o.Options, "default_permissions")
		// The kernel's permission checks then read the files' ACLs, as
		// ext4 does: an ACL entry grants, or denies, what the mode
		// bits alone would not (FUSE_POSIX_ACL).
		o.EnableAcl = true
	}
	if os.Geteuid() == 0 {
		o.DirectMount = true
		o.DirectMountStrict = true
		o.Options = append(o.Options, backingFlags(dir)...)
	}
	return o
}

// backingFlags mirrors the backing filesystem's dev, suid and exec flags,
// so that device nodes, setuid programs and executables in DIR behave
// through the mount as they do in DIR itself: a FUSE mount is nodev and
// nosuid by default. Only root mounts directly and can set them.
func backingFlags(dir string) []string {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return nil // the mount's defaults: the narrower choice
	}
	pick := func(flag int64, off, on string) string {
		if st.Flags&flag != 0 {
			return off
		}
		return on
	}
	return []string{pick(unix.ST_NODEV, "nodev", "dev"), pick(unix.ST_NOSUID, "nosuid", "suid"), pick(unix.ST_NOEXEC, "noexec", "exec")}
}

// invalidator sends queued cache invalidations to the kernel. They are
// never sent from inside a request handler: the kernel may hold locks that
// the invalidation needs until the handler replies.
func (r *Root) invalidator() {
	for f := range r.inval {
		f()
	}
}

// invalidate drops the kernel's cached attributes of n at once, and
// queues dropping its cached data. Dropping attributes only (a negative
// offset) takes no lock that the kernel may hold while it waits for the
// current request (it bumps the inode's attribute version and marks its
// attributes stale), so it is safe from inside a handler, and the commit's
// close, fsync or rename returns only once no stale size can be served.
// Dropping pages may wait on page locks: that stays queued.
func (r *Root) invalidate(n *fs.Inode) {
	n.NotifyContent(-1, 0)
	select {
	case r.inval <- func() { n.NotifyContent(0, 0) }:
	default: // queue full: managed files are read with direct I/O anyway
	}
}

// rel is n's path relative to DIR ("" for the top). A node cut off from
// the tree keeps the last path it had: a commit by rename replaces the
// target's node in go-fuse's tree before the kernel moves its own entry,
// and a reader opening the name in between must find the file there.
func (n *Node) rel() string {
	if p, ok := n.path(); ok {
		if last := n.lastRel.Load(); last == nil || *last != p {
			n.lastRel.Store(&p)
		}
		return p
	}
	if last := n.lastRel.Load(); last != nil {
		return *last
	}
	return orphanPath
}

const orphanPath = backing.MetaDir + "/orphaned"

// path walks up to the root; ok is false for a node cut off from it.
func (n *Node) path() (string, bool) {
	root := n.r.root.EmbeddedInode()
	var segs []string
	for p := n.EmbeddedInode(); p != root; {
		name, parent := p.Parent()
		if parent == nil {
			return "", false
		}
		segs = append(segs, name)
		p = parent
	}
	for i, j := 0, len(segs)-1; i < j; i, j = i+1, j-1 {
		segs[i], segs[j] = segs[j], segs[i]
	}
	return strings.Join(segs, "/"), true
}

func join(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}

// caller identifies the process behind a request, and answers for it
// whether it holds a lock file through the mount. FUSE names the calling
// thread; the caller is its process (the id paracle logs, os.getpid()),
// and its command is the process's name.
func (r *Root) caller(ctx context.Context) backing.Caller {
	c := backing.Caller{}
	if fc, ok := fuse.FromContext(ctx); ok {
		tid := int(fc.Pid)
		c.Pid, c.Uid, c.Gid = tid, fc.Uid, fc.Gid
		p, comm, ok := procs.lookup(tid)
		if ok {
			c.Pid = p.tgid
		}
		c.Command = comm
		c.HoldsLock = func(rel string) bool { return r.holders.heldBy(rel, tid) }
		pr := &procReads{r: &r.readers, tid: tid}
		pr.once.Do(func() { pr.p, pr.ok = p, ok })
		c.Reads = pr
	}
	return c
}

// sawRead records a caller's read of revision rev of rel.
func sawRead(c backing.Caller, rel string, rev int64) {
	if pr, ok := c.Reads.(*procReads); ok {
		pr.Read(rel, rev)
	}
}

func errno(err error) syscall.Errno { return backing.Errno(err) }

// sameProcess reports whether the request comes from the process of thread
// tid. FUSE names the calling thread, not its process.
func sameProcess(ctx context.Context, tid int) bool {
	fc, ok := fuse.FromContext(ctx)
	if !ok || tid <= 0 {
		return false
	}
	if int(fc.Pid) == tid {
		return true
	}
	t := tgid(tid)
	return t > 0 && t == tgid(int(fc.Pid))
}

// tgid is a thread's process id (-1 when gone).
func tgid(tid int) int {
	if p, _, ok := procs.lookup(tid); ok {
		return p.tgid
	}
	return readTgid(tid)
}

// readTgid reads a thread's process id from /proc (-1 when gone).
func readTgid(tid int) int {
	if tid <= 0 {
		return -1
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil {
		return -1
	}
	s := string(b)
	if i := strings.Index(s, "\nTgid:"); i >= 0 {
		f := strings.Fields(s[i+7:])
		if len(f) > 0 {
			if v, err := strconv.Atoi(f[0]); err == nil {
				return v
			}
		}
	}
	return -1
}

// fillAttr copies a backing stat into a FUSE attribute and sets its timeout.
func fillAttr(out *fuse.Attr, st *unix.Stat_t) {
	out.Ino = st.Ino
	out.Size = uint64(st.Size)
	out.Blocks = uint64(st.Blocks)
	out.Atime, out.Atimensec = uint64(st.Atim.Sec), uint32(st.Atim.Nsec)
	out.Mtime, out.Mtimensec = uint64(st.Mtim.Sec), uint32(st.Mtim.Nsec)
	out.Ctime, out.Ctimensec = uint64(st.Ctim.Sec), uint32(st.Ctim.Nsec)
	out.Mode = st.Mode
	out.Nlink = uint32(st.Nlink)
	out.Uid, out.Gid = st.Uid, st.Gid
	out.Rdev = uint32(st.Rdev)
	out.Blksize = uint32(st.Blksize)
}

// attrTimeout is how long the kernel may cache attributes of this mode,
// as found in the backing directory (committed, for a managed file).
func (r *Root) attrTimeout(mode uint32) time.Duration {
	if mode&syscall.S_IFMT == syscall.S_IFREG {
		return r.fileTimeout
	}
	return dirTimeout
}
