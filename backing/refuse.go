package backing

import (
	"fmt"
	"path"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

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

// The kinds of refusal. Each maps to exactly one errno, in Errno.
const (
	OpConflict    = "conflict"     // derived from an older revision
	OpInvalid     = "invalid"      // failed validation
	OpTooLarge    = "too_large"    // over --max-size
	OpLockTimeout = "lock_timeout" // P.lock held past --lock-timeout
	OpLockBusy    = "lock_busy"    // P.lock held through the mount by a process waiting for a rename's directory
	OpLockSymlink = "lock_symlink" // P.lock is a symlink, never followed
	OpAppendOnly  = "append_only"  // rewrite of the change log
	OpReadOnly    = "read_only"    // write inside .paracfs/
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

// keep stores refused bytes where a person finds them:
// .paracfs/rejected/<path>.<time>.pid<pid>.<reason>, mirroring DIR's tree.
// It returns that path relative to DIR.
func (d *Dir) keep(rel, reason string, c Caller, data []byte) (string, error) {
	now := time.Now().UTC()
	suffix := fmt.Sprintf(".%s.%06d.pid%d.%s", now.Format("20060102-150405"), now.Nanosecond()/1000, c.Pid, reason)
	name := fitName(path.Base(rel), len(suffix)) + suffix
	dir, _ := split(rel)
	keptDir := MetaDir + "/rejected"
	if dir != "." {
		keptDir += "/" + dir
	}
	if err := d.roomToKeep(int64(len(data))); err != nil {
		return "", err
	}
	if err := d.mkdirAll(keptDir); err != nil {
		return "", err
	}
	kept := keptDir + "/" + name
	fd, err := d.openat(kept, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
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
	e.Errno = ErrnoName(r.Errno())
	e.Kept = r.Kept
	e.Revision, e.OldRevision = &current, r.base
	if data != nil {
		size := int64(len(data))
		e.Size = &size
		e.SHA256 = sha256hex(data)
	}
	d.appendLog(e)
	d.stats.refusal(r, c)
	return r
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
