package backing

import (
	"fmt"
	"os"
	"path"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
	"github.com/paracfs/paracfs/revision"
)

// Caller is the process on whose behalf an operation runs.
type Caller struct {
	Pid      int
	Uid, Gid uint32
	Command  string // process name (comm)

	// HoldsLock reports whether the caller (or its parent) already holds
	// the lock file rel through the mount. A commit then does not take
	// P.lock itself: it runs inside the caller's own critical section
	// (paracle's save locks x.yaml.lock around os.replace onto x.yaml).
	HoldsLock func(rel string) bool

	// Reads is what the caller's process read through the mount; nil when
	// unknown. A commit with no other base takes the revision the caller
	// last read as its base.
	Reads ReadTracker

	// Kept, when set, is where the bytes of this write are kept already
	// (a refused write submitted again): a refusal keeps no second copy.
	Kept string
}

// ReadTracker remembers the revision of each file a process last read.
type ReadTracker interface {
	LastRead(rel string) (rev int64, ok bool)
	Wrote(rel string, rev int64)
}

func (c Caller) holds(rel string) bool { return c.HoldsLock != nil && c.HoldsLock(rel) }

// The kinds of refusal, named in the change log's list of ops (changelog).
// Each maps to exactly one errno, in Errno.
const (
	OpConflict    = changelog.OpConflict    // derived from an older revision
	OpInvalid     = changelog.OpInvalid     // failed validation
	OpTooLarge    = changelog.OpTooLarge    // over --max-size
	OpLockTimeout = changelog.OpLockTimeout // P.lock held past --lock-timeout
	OpLockBusy    = changelog.OpLockBusy    // P.lock held through the mount by a process waiting for a rename's directory
	OpLockSymlink = changelog.OpLockSymlink // P.lock is a symlink, never followed
	OpLockNotFile = changelog.OpLockNotFile // P.lock is a FIFO, a directory or a device
	OpAppendOnly  = changelog.OpAppendOnly  // rewrite of the change log
	OpReadOnly    = changelog.OpReadOnly    // write inside .paracfs/
)

// Refusal is a write paracfs refused. The backing file is untouched and the
// refused bytes, if any, were kept at Kept (relative to DIR).
type Refusal struct {
	Op     string
	Path   string
	Reason string
	Kept   string

	base *int64 // for a conflict: the revision the write was derived from
}

func (r *Refusal) Error() string {
	s := fmt.Sprintf("%s: %s refused: %s", r.Path, strings.ReplaceAll(r.Op, "_", " "), r.Reason)
	if r.Kept != "" {
		s += " (bytes kept in " + r.Kept + ")"
	}
	return s
}

// Is makes errors.Is(r, errno) true for the errno the refusal maps to.
func (r *Refusal) Is(target error) bool {
	e, ok := target.(syscall.Errno)
	return ok && e == r.Errno()
}

// Errno is the one place where a refusal becomes the errno a tool sees.
func (r *Refusal) Errno() syscall.Errno {
	switch r.Op {
	case OpConflict, OpLockBusy:
		return syscall.EBUSY
	case OpInvalid:
		return syscall.EBADMSG
	case OpTooLarge:
		return syscall.EFBIG
	case OpLockTimeout:
		return syscall.ETIMEDOUT
	case OpLockSymlink:
		return syscall.ELOOP
	case OpLockNotFile:
		return syscall.ENOLCK
	case OpAppendOnly, OpReadOnly:
		return syscall.EPERM
	case OpNoSpace:
		return syscall.ENOSPC
	case OpReadOnlyFS:
		return syscall.EROFS
	case OpIsDir:
		return syscall.EISDIR
	}
	return syscall.EIO
}

// ErrnoName is the symbolic name of an errno, for log lines.
func ErrnoName(e syscall.Errno) string {
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

// refusalFrom classifies a validation or revision-check error.
func refusalFrom(rel string, err error) *Refusal {
	switch e := err.(type) {
	case *revision.ConflictError:
		base := e.Base
		return &Refusal{Op: OpConflict, Path: rel, Reason: e.Error(), base: &base}
	case *revision.TooLargeError:
		return &Refusal{Op: OpTooLarge, Path: rel, Reason: e.Error()}
	case *revision.InvalidError:
		return &Refusal{Op: OpInvalid, Path: rel, Reason: e.Error()}
	}
	return &Refusal{Op: OpInvalid, Path: rel, Reason: err.Error()}
}

// DefaultRejectedMax is how many bytes of refused writes are kept per
// writer when the configuration leaves it 0 (--rejected-max).
const DefaultRejectedMax = 64 << 20

// errOverCap says that a writer's kept refused writes reached its bound.
type errOverCap struct {
	uid        uint32
	kept, size int64
	max        int64
}

func (e *errOverCap) Error() string {
	return fmt.Sprintf("uid %d already keeps %d bytes of refused writes in %s, and these %d would pass its bound of %d (--rejected-max): "+
		"drop some with paracfs rejected drop", e.uid, e.kept, RejectedDir, e.size, e.max)
}

// keep stores refused bytes where a person finds them:
// .paracfs/rejected/<path>.<time>.pid<pid>.<reason>, mirroring DIR's tree.
// It returns that path relative to DIR. The kept file is its writer's
// (mode 0600) and counts against the writer's bound; the folders are the
// daemon's, 0711, so that a writer reaches its own and lists nobody's
// (through the mount, a listing shows each user its own).
func (d *Dir) keep(rel, reason string, c Caller, data []byte) (string, error) {
	now := time.Now().UTC()
	suffix := fmt.Sprintf(".%s.%06d.pid%d.%s", now.Format("20060102-150405"), now.Nanosecond()/1000, c.Pid, reason)
	name := fitName(path.Base(rel), len(suffix)) + suffix
	dir, _ := split(rel)
	keptDir := RejectedDir
	if dir != "." {
		keptDir += "/" + dir
	}
	d.keepMu.Lock()
	defer d.keepMu.Unlock()
	if max := d.rejectedMax(); max > 0 {
		if used := d.keptBy(c.Uid); used+int64(len(data)) > max {
			return "", &errOverCap{uid: c.Uid, kept: used, size: int64(len(data)), max: max}
		}
	}
	if err := d.roomToKeep(int64(len(data))); err != nil {
		return "", err
	}
	if err := d.mkdirGuarded(RejectedDir, keptDir, 0o711); err != nil {
		return "", err
	}
	kept := keptDir + "/" + name
	fd, err := d.openat(kept, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	if os.Geteuid() == 0 && (c.Uid != 0 || c.Gid != 0) {
		if err := unix.Fchown(fd, int(c.Uid), int(c.Gid)); err != nil {
			d.removeKept(kept)
			return "", err
		}
	}
	err = writeAll(fd, data)
	if err == nil {
		err = d.atParent(kept, func(pfd int, _ string) error { return sealKept(fd, pfd, data) })
	}
	if err != nil {
		d.removeKept(kept) // no husk: a cut copy would pass for the bytes
		return "", err
	}
	d.store.add(int64(len(data)))
	return kept, nil
}

func (d *Dir) rejectedMax() int64 {
	if m := d.Config().RejectedMax; m != 0 {
		return m
	}
	return DefaultRejectedMax
}

// keptBy is how many bytes of refused writes uid keeps: the sizes of the
// files it owns under .paracfs/rejected/.
func (d *Dir) keptBy(uid uint32) int64 {
	var total int64
	var walk func(rel string, depth int)
	walk = func(rel string, depth int) {
		ents, err := d.ReadDir(rel, true)
		if err != nil || depth > 256 {
			return
		}
		for _, e := range ents {
			sub := rel + "/" + e.Name
			st, err := d.Lstat(sub)
			if err != nil {
				continue
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFDIR:
				walk(sub, depth+1)
			case unix.S_IFREG:
				if st.Uid == uid {
					total += st.Size
				}
			}
		}
	}
	walk(RejectedDir, 0)
	return total
}

// refuse keeps the refused bytes, logs the refusal and returns it.
func (d *Dir) refuse(r *Refusal, c Caller, data []byte, current int64) *Refusal {
	if c.Kept != "" {
		r.Kept = c.Kept
	} else if data != nil {
		if kept, err := d.keep(r.Path, r.Op, c, data); err == nil {
			r.Kept = kept
		} else {
			r.Reason += fmt.Sprintf("; the refused bytes could not be kept: %v", err)
		}
	}
	e := d.entry(r.Op, r.Path, c)
	e.Description = r.Error()
	e.Reason = r.Reason
	shown := d.ValuesShown(r.Path)
	if !shown {
		// The reason may quote the content (a schema error quotes the
		// value, a bad revision is quoted back): not for everyone.
		h := *r
		h.Reason = HiddenReason(r.Path)
		e.Description, e.Reason = h.Error(), h.Reason
	}
	e.Errno = ErrnoName(r.Errno())
	e.Kept = r.Kept
	e.Revision, e.OldRevision = &current, r.base
	if data != nil {
		size := int64(len(data))
		e.Size = &size
		e.SHA256 = sha256hex(data)
	}
	d.appendLog(e)
	var was *Stat
	if st, err := d.Lstat(r.Path); err == nil {
		was = &st
	}
	d.stats.refusal(r, c, !shown, was)
	return r
}

// HiddenReason stands for a refusal's reason where not everyone who may
// read it may read the file: the log and status show it.
func HiddenReason(rel string) string {
	return "hidden: " + rel + " is not readable by everyone; paracfs status shows the reason to its writer and to those who may read the file"
}

func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
