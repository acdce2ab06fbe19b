package backing

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/paracfs/paracfs/changelog"
	"github.com/paracfs/paracfs/revision"
)

// Store is where the committed state is shared with other mounts, on other
// machines (package store: etcd). A commit of P is accepted locally only
// once the store accepted it, under P's lock; the store's order is the
// order of P's versions everywhere.
type Store interface {
	// Commit makes v the version of v.Path in the store if the store's
	// version is still baseModRev (0: none), and returns the store
	// revision of the new version. A store that moved on returns an error
	// that Is ErrStoreConflict; one over its size limit a
	// *StoreLimitError; anything else means the store could not be
	// reached or did not answer in time.
	Commit(baseModRev int64, v StoredVersion) (modRev int64, err error)
	// Move is a rename between managed names: in one transaction, v
	// becomes the version of v.Path if the store's is still baseModRev,
	// and gone (the old name's version marked deleted) that of gone.Path
	// if the store's is still goneModRev. Both or neither; the errors
	// are Commit's.
	Move(baseModRev int64, v StoredVersion, goneModRev int64, gone StoredVersion) (modRev int64, err error)
	// Get returns the store's version of rel; false when it has none.
	Get(rel string) (StoredVersion, bool, error)
	// Load returns every version in the store, and the store revision
	// they were read at.
	Load() ([]StoredVersion, int64, error)
	// Watch calls apply with each version committed after store revision
	// from, in the store's order, until ctx ends. When the store no
	// longer has the versions after from (compacted), it calls apply with
	// every version it has instead, then resynced, and goes on.
	Watch(ctx context.Context, from int64, apply func(StoredVersion), resynced func(compacted, at int64))
	// Name is this machine's name, for the change log.
	Name() string
	// String names the store for paracfs status (no credentials).
	String() string
	// Ping says whether the store answers a read that needs its quorum,
	// waiting at most timeout.
	Ping(timeout time.Duration) error
	Close() error
}

// StoredVersion is one version of a managed file in the store: its bytes
// and what every mount needs to apply and log it.
type StoredVersion struct {
	Path    string `json:"path"`
	ModRev  int64  `json:"-"` // the store's revision of this version (set by the store)
	Rev     int64  `json:"revision"`
	OldRev  int64  `json:"old_revision"`
	SHA256  string `json:"sha256,omitempty"`
	Mode    uint32 `json:"mode,omitempty"`
	Uid     int    `json:"owner"`
	Gid     int    `json:"group"`
	Deleted bool   `json:"deleted,omitempty"`
	To      string `json:"renamed_to,omitempty"` // a deleted version: the name it was renamed to
	Op      string `json:"op"`
	Machine string `json:"machine"`
	Command string `json:"command,omitempty"`
	Pid     int    `json:"process_id,omitempty"`
	By      uint32 `json:"uid"`
	Time    string `json:"timestamp"`
	Data    []byte `json:"-"`
}

// ErrStoreConflict: the store has a newer version than the one the commit
// was checked against.
var ErrStoreConflict = errors.New("the store has a newer version")

// StoreLimitError: the version is over the store's request size limit.
type StoreLimitError struct {
	Size, Limit int
	What        string // the limit's name, e.g. "etcd's --max-request-bytes"
}

func (e *StoreLimitError) Error() string {
	return fmt.Sprintf("%d bytes with its metadata, over %s of %d bytes", e.Size, e.What, e.Limit)
}

// orderWait bounds how long a commit that etcd took waits for the watch to
// bring in every version before it, so that its log line follows theirs.
// The wait ends as soon as the watch has them (milliseconds); the bound
// matters only when the watch lags far behind (a machine busy applying a
// burst of other machines' commits) or is cut off.
const orderWait = 5 * time.Second

// OpStoreUnavailable is the refusal of a commit the store did not accept
// in time (unreachable, no leader): EIO, bytes kept.
const OpStoreUnavailable = changelog.OpStoreUnavailable

// storeState is a Dir's link to its store.
type storeState struct {
	s      Store
	mu     sync.Mutex
	modRev map[string]int64 // the store revision of each file's local version
	// same holds the sha256 of local files found to be the store's
	// version as they were (a copy of DIR, or an import): they carry no
	// stamp of a commit through this mount, and are no local change.
	same    map[string]string
	applied atomic.Pointer[func(rel string)]
	ctx     context.Context // ends at DetachStore

	// reached is the store revision of the version the watch handles
	// now: every version before it is applied and logged. reachedCh is
	// closed (and replaced) each time it moves.
	reached   int64
	reachedCh chan struct{}
	cancel    context.CancelFunc
	done      chan struct{}
}

func (st *storeState) rev(rel string) int64 {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.modRev[rel]
}

// reach records that the watch got to store revision r.
func (st *storeState) reach(r int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if r > st.reached {
		st.reached = r
		close(st.reachedCh)
		st.reachedCh = make(chan struct{})
	}
}

// waitReached waits, at most timeout, until the watch got to store
// revision r: then every other mount's version before r is in the log, and
// the line of the version at r goes after them, in the store's order.
func (st *storeState) waitReached(r int64, timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		st.mu.Lock()
		reached, ch := st.reached, st.reachedCh
		st.mu.Unlock()
		if reached >= r {
			return
		}
		select {
		case <-ch:
		case <-t.C:
			return // the watch is cut off: log now, in this mount's order
		}
	}
}

// sameAs records that the local copy of rel, with sha256 sum, is the
// store's version.
func (st *storeState) sameAs(rel, sum string) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.same[rel] = sum
}

// isSame reports whether sum is the store's version of rel as sameAs found it.
func (st *storeState) isSame(rel, sum string) bool {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.same[rel] == sum
}

func (st *storeState) set(rel string, r int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.modRev[rel] = r
}

// machine is the name logged with each line on a mount with a store.
func (d *Dir) machine() string {
	if d.shared == nil {
		return ""
	}
	return d.shared.s.Name()
}

// OnStoreApplied registers fn, told of each file another mount changed
// once the local copy has it, so that the kernel's caches are dropped.
func (d *Dir) OnStoreApplied(fn func(rel string)) {
	if d.shared != nil {
		d.shared.applied.Store(&fn)
	}
}

// StoreStatus adds the store, and whether it answers, to the settings
// paracfs status shows; nothing without a store.
func (d *Dir) StoreStatus(conf map[string]any) {
	if d.shared == nil {
		return
	}
	conf["store"] = d.shared.s.String()
	conf["store_name"] = d.shared.s.Name()
	conf["store_state"] = "ok"
	// Within the 3 s paracfs status gives a mount to answer, with room to spare.
	if err := d.shared.s.Ping(min(time.Second, d.Config().LockTimeout)); err != nil {
		conf["store_state"] = "degraded: commits fail with EIO, reads go on: " + err.Error()
	}
}

// storeCommit puts the version a commit is about to make into the store,
// under P's lock, before the local rename. A refusal says why the store
// did not take it; nothing is then committed locally.
func (d *Dir) storeCommit(w Write, cur current, v verdict, data []byte, sum string) *Refusal {
	st := d.shared
	if st == nil {
		return nil
	}
	uid, gid := fileOwner(w, cur)
	op := w.Op
	if op == "" {
		op = changelog.OpCommit
	}
	switch {
	case op == changelog.OpCommit && v.first:
		op = changelog.OpCreate
	case v.restores != nil:
		op = OpRestore
	}
	sv := StoredVersion{Path: w.Path, Rev: v.next, OldRev: v.current, SHA256: sum, Mode: fileMode(w, cur),
		Uid: uid, Gid: gid, Op: op, Machine: st.s.Name(), Command: w.Caller.Command, Pid: w.Caller.Pid,
		By: w.Caller.Uid, Time: nowStamp(), Data: data}
	base := st.rev(w.Path)
	var modRev int64
	var err error
	moved := op == "rename" && w.From != "" && w.From != w.Path && d.Managed(w.From)
	if moved {
		// The old name goes in the same transaction: every machine
		// removes it, and a newer version of it elsewhere refuses the
		// rename as a whole.
		oldRev, _ := d.Revision(w.From)
		gone := StoredVersion{Path: w.From, Rev: oldRev, OldRev: oldRev, Deleted: true, To: w.Path, Op: changelog.OpRename,
			Machine: sv.Machine, Command: sv.Command, Pid: sv.Pid, By: sv.By, Time: sv.Time}
		modRev, err = st.s.Move(base, sv, st.rev(w.From), gone)
	} else {
		modRev, err = st.s.Commit(base, sv)
	}
	if err == nil {
		st.set(w.Path, modRev)
		if moved {
			st.set(w.From, modRev) // removed here by the rename itself, once committed
		}
		st.waitReached(modRev, orderWait)
		return nil
	}
	var lim *StoreLimitError
	switch {
	case errors.Is(err, ErrStoreConflict) && moved:
		b := v.current
		return &Refusal{Op: OpConflict, Path: w.Path, base: &b, Reason: fmt.Sprintf(
			"another machine committed a newer version of %s or of %s that this mount has not applied yet: nothing was renamed; look again and redo the rename", w.Path, w.From)}
	case errors.Is(err, ErrStoreConflict):
		b := v.current
		return &Refusal{Op: OpConflict, Path: w.Path, base: &b, Reason: fmt.Sprintf(
			"another machine committed a newer version than revision %d (store revision %d) that this mount has not applied yet: read the file again and redo the change", v.current, base)}
	case errors.As(err, &lim):
		return &Refusal{Op: OpTooLarge, Path: w.Path, Reason: "too large for the store: " + lim.Error()}
	}
	return &Refusal{Op: OpStoreUnavailable, Path: w.Path, Reason: "the store did not accept the commit: " + err.Error()}
}

// storeAway runs remove, the removal of managed rel (at revision rev)
// from DIR, once the store took a version of rel marked deleted; under
// P's lock. A store that says no is a refusal, logged, and nothing is
// removed. A removal that then fails locally (the file was committed again
// meanwhile) puts the local version back into the store.
func (d *Dir) storeAway(rel string, rev int64, c Caller, remove func() error) error {
	st := d.shared
	if st == nil {
		return remove()
	}
	base := st.rev(rel)
	sv := StoredVersion{Path: rel, Rev: rev, OldRev: rev, Deleted: true, Op: changelog.OpDelete, Machine: st.s.Name(),
		Command: c.Command, Pid: c.Pid, By: c.Uid, Time: nowStamp()}
	modRev, err := st.s.Commit(base, sv)
	if err != nil {
		r := &Refusal{Op: OpStoreUnavailable, Path: rel, Reason: "the store did not accept the removal: " + err.Error()}
		if errors.Is(err, ErrStoreConflict) {
			b := rev
			r = &Refusal{Op: OpConflict, Path: rel, base: &b, Reason: fmt.Sprintf(
				"another machine committed a newer version than revision %d that this mount has not applied yet: nothing was removed", rev)}
		}
		return d.refuse(r, c, nil, rev)
	}
	st.set(rel, modRev)
	st.waitReached(modRev, orderWait)
	if err := remove(); err != nil {
		d.storeRestore(rel, modRev)
		return err
	}
	return nil
}

// storeRestore puts the local version of rel back into the store after a
// removal the store took did not happen locally.
func (d *Dir) storeRestore(rel string, base int64) {
	pfd, name, err := d.parent(rel)
	if err != nil {
		return
	}
	defer d.closeParent(pfd)
	cur, err := d.readCurrent(pfd, name, rel, revision.KindOf(rel), -1)
	if err != nil || !cur.exists {
		return
	}
	data, err := d.readLocal(pfd, name, cur)
	if err != nil {
		return
	}
	c := daemonCaller()
	sv := StoredVersion{Path: rel, Rev: cur.rev, OldRev: cur.rev, SHA256: sha256hex(data), Mode: cur.st.Mode & 0o7777,
		Uid: int(cur.st.Uid), Gid: int(cur.st.Gid), Op: changelog.OpCommit, Machine: d.shared.s.Name(), Command: c.Command,
		Pid: c.Pid, By: c.Uid, Time: nowStamp(), Data: data}
	if modRev, err := d.shared.s.Commit(base, sv); err == nil {
		d.shared.set(rel, modRev)
	} else {
		d.note(changelog.OpWarning, fmt.Sprintf("%s: the store holds it as removed, but it was committed again here meanwhile, and putting it back failed: %v", rel, err))
	}
}

func nowStamp() string { return time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00") }

// ValidStorePath reports whether rel, read from the store, names a file
// inside DIR: clean, relative, and not paracfs's own data.
func ValidStorePath(rel string) bool {
	if rel == "" || path.IsAbs(rel) || path.Clean(rel) != rel || rel == ".." || strings.HasPrefix(rel, "../") || IsMeta(rel) {
		return false
	}
	return !strings.ContainsRune(rel, 0)
}
