package backing

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
)

// RejectedDir holds the bytes of refused writes (see keep), mirroring DIR's
// tree: .paracfs/rejected/<dir>/<base>.<time>.<µs>.pid<pid>.<reason>.
const RejectedDir = MetaDir + "/rejected"

// KeptName is what the name of a kept refused write says.
type KeptName struct {
	Kept   string    // the kept file, relative to DIR
	Path   string    // the file the write was for, relative to DIR
	Time   time.Time // when it was refused (UTC, microseconds)
	Pid    int       // the writer's process
	Reason string    // the refusal's op: conflict, invalid, ...
}

var keptRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^(.+)\.(\d{8}-\d{6})\.(\d{6})\.pid(\d+)\.([a-z_]+)$`)
})

// ParseKept reads a kept file's name (relative to DIR). ok is false for a
// name that is not one of keep's.
func ParseKept(kept string) (k KeptName, ok bool) {
	if !strings.HasPrefix(kept, RejectedDir+"/") || path.Clean(kept) != kept {
		return k, false
	}
	rel := strings.TrimPrefix(kept, RejectedDir+"/")
	dir, leaf := path.Split(rel)
	m := keptRE().FindStringSubmatch(leaf)
	if m == nil {
		return k, false
	}
	t, err := time.ParseInLocation("20060102-150405", m[2], time.UTC)
	if err != nil {
		return k, false
	}
	us, _ := strconv.Atoi(m[3])
	pid, _ := strconv.Atoi(m[4])
	return KeptName{Kept: kept, Path: dir + m[1], Time: t.Add(time.Duration(us) * time.Microsecond), Pid: pid, Reason: m[5]}, true
}

// ErrNotKept says that a name is not a kept refused write.
var ErrNotKept = errors.New("not a refused write kept under " + RejectedDir)

func (d *Dir) checkKept(kept string) (KeptName, error) {
	k, ok := ParseKept(kept)
	if !ok || strings.Contains(kept, "/../") {
		return k, fmt.Errorf("%s: %w", kept, ErrNotKept)
	}
	return k, nil
}

// ErrNotYours says that a caller may not act on a kept refused write.
var ErrNotYours = errors.New("permission denied")

// keptOwner is the uid that owns a kept file: its writer.
func (d *Dir) keptOwner(kept string) (uint32, error) {
	st, err := d.Lstat(kept)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", kept, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, fmt.Errorf("%s: %w", kept, ErrNotKept)
	}
	return st.Uid, nil
}

// ApplyKept submits a kept refused write again, as a new write of its path
// by c with op "apply": the usual checks run (a stale revision field is
// refused again as a conflict). On success the kept file is removed, since
// its bytes are now the committed version; on a refusal it stays where it
// is, and the new refusal's log line names it. It acts as c: c must be the
// bytes' writer (or root, or the daemon's user) and may write the file.
func (d *Dir) ApplyKept(kept string, c Caller) (KeptName, Result, error) {
	k, err := d.checkKept(kept)
	if err != nil {
		return k, Result{}, err
	}
	owner, err := d.keptOwner(kept)
	if err != nil {
		return k, Result{}, err
	}
	if !privileged(c) && owner != c.Uid {
		return k, Result{}, fmt.Errorf("%s: %w: uid %d did not write these bytes (uid %d did)", kept, ErrNotYours, c.Uid, owner)
	}
	if !d.MayWrite(k.Path, c) {
		return k, Result{}, fmt.Errorf("%s: %w: uid %d may not write %s", kept, ErrNotYours, c.Uid, k.Path)
	}
	data, err := d.readSmall(kept)
	if err == nil {
		err = d.verifyKept(kept, data)
	}
	if err != nil {
		return k, Result{}, fmt.Errorf("%s: %w", kept, err)
	}
	if !d.Managed(k.Path) {
		return k, Result{}, fmt.Errorf("%s: not a managed file: a refused write of it cannot be applied", k.Path)
	}
	c.Kept, c.Reads, c.HoldsLock = kept, nil, nil
	res, err := d.Commit(Write{Path: k.Path, Data: data, Base: -1, Op: changelog.OpApply, Caller: c})
	if err != nil {
		return k, res, err
	}
	d.removeKept(kept)
	return k, res, nil
}

// DropKept removes a kept refused write, and logs it (op "drop"). It is
// for the bytes' writer, the file's owner, root and the daemon's user.
func (d *Dir) DropKept(kept string, c Caller) (KeptName, error) {
	k, err := d.checkKept(kept)
	if err != nil {
		return k, err
	}
	owner, err := d.keptOwner(kept)
	if err != nil {
		return k, err
	}
	if !privileged(c) && owner != c.Uid {
		if st, err := d.Lstat(k.Path); err != nil || st.Uid != c.Uid {
			return k, fmt.Errorf("%s: %w: only its writer (uid %d), the owner of %s and root may drop it", kept, ErrNotYours, owner, k.Path)
		}
	}
	if err := d.removeKept(kept); err != nil {
		return k, fmt.Errorf("%s: %w", kept, err)
	}
	e := d.entry(changelog.OpDrop, k.Path, c)
	e.Kept = kept
	e.Description = fmt.Sprintf("%s: dropped the refused write kept in %s", k.Path, kept)
	d.appendLog(e)
	return k, nil
}

func (d *Dir) removeKept(kept string) error {
	pfd, leaf, err := d.parent(kept)
	if err != nil {
		return err
	}
	defer d.closeParent(pfd)
	var st unix.Stat_t
	unix.Fstatat(pfd, leaf, &st, unix.AT_SYMLINK_NOFOLLOW)
	if err := unix.Unlinkat(pfd, leaf, 0); err != nil {
		return err
	}
	d.store.add(-st.Size)
	return nil
}
