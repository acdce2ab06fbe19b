package backing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

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
const orderWait = time.Second

// OpStoreUnavailable is the refusal of a commit the store did not accept
// in time (unreachable, no leader): EIO, bytes kept.
const OpStoreUnavailable = "store_unavailable"

// storeState is a Dir's link to its store.
type storeState struct {
	s       Store
	mu      sync.Mutex
	modRev  map[string]int64 // the store revision of each file's local version
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

func (st *storeState) set(rel string, r int64) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.modRev[rel] = r
}

// machine is the name logged with each line on a mount with a store.
func (d *Dir) machine() string {
	if d.store == nil {
		return ""
	}
	return d.store.s.Name()
}

// OnStoreApplied registers fn, told of each file another mount changed
// once the local copy has it, so that the kernel's caches are dropped.
func (d *Dir) OnStoreApplied(fn func(rel string)) {
	if d.store != nil {
		d.store.applied.Store(&fn)
	}
}

// StoreStatus adds the store, and whether it answers, to the settings
// paracfs status shows; nothing without a store.
func (d *Dir) StoreStatus(conf map[string]any) {
	if d.store == nil {
		return
	}
	conf["store"] = d.store.s.String()
	conf["store_name"] = d.store.s.Name()
	conf["store_state"] = "ok"
	if err := d.store.s.Ping(min(2*time.Second, d.Config().LockTimeout)); err != nil {
		conf["store_state"] = "degraded: commits fail with EIO, reads go on: " + err.Error()
	}
}

// storeCommit puts the version a commit is about to make into the store,
// under P's lock, before the local rename. A refusal says why the store
// did not take it; nothing is then committed locally.
func (d *Dir) storeCommit(w Write, cur current, v verdict, data []byte, sum string) *Refusal {
	st := d.store
	if st == nil {
		return nil
	}
	uid, gid := fileOwner(w, cur)
	op := w.Op
	if op == "" {
		op = "commit"
	}
	switch {
	case op == "commit" && v.first:
		op = "create"
	case v.restores != nil:
		op = OpRestore
	}
	sv := StoredVersion{Path: w.Path, Rev: v.next, OldRev: v.current, SHA256: sum, Mode: fileMode(w, cur),
		Uid: uid, Gid: gid, Op: op, Machine: st.s.Name(), Command: w.Caller.Command, Pid: w.Caller.Pid,
		By: w.Caller.Uid, Time: nowStamp(), Data: data}
	base := st.rev(w.Path)
	modRev, err := st.s.Commit(base, sv)
	if err == nil {
		st.set(w.Path, modRev)
		st.waitReached(modRev, orderWait)
		return nil
	}
	var lim *StoreLimitError
	switch {
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
	st := d.store
	if st == nil {
		return remove()
	}
	base := st.rev(rel)
	sv := StoredVersion{Path: rel, Rev: rev, OldRev: rev, Deleted: true, Op: "delete", Machine: st.s.Name(),
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
		Uid: int(cur.st.Uid), Gid: int(cur.st.Gid), Op: "commit", Machine: d.store.s.Name(), Command: c.Command,
		Pid: c.Pid, By: c.Uid, Time: nowStamp(), Data: data}
	if modRev, err := d.store.s.Commit(base, sv); err == nil {
		d.store.set(rel, modRev)
	} else {
		d.note("warning", fmt.Sprintf("%s: the store holds it as removed, but it was committed again here meanwhile, and putting it back failed: %v", rel, err))
	}
}

// AttachStore links d to s: it brings DIR and the store level (the first
// mount of an empty prefix imports DIR; a later one brings DIR up to the
// store), then follows every other mount's commits until DetachStore.
// Call it before mounting.
func (d *Dir) AttachStore(s Store) error {
	d.store = &storeState{s: s, modRev: map[string]int64{}, done: make(chan struct{}), reachedCh: make(chan struct{})}
	vs, at, err := s.Load()
	if err != nil {
		d.store = nil
		return fmt.Errorf("store: %w", err)
	}
	inStore := map[string]bool{}
	for _, v := range vs {
		inStore[v.Path] = true
		if err := d.applyStored(v); err != nil {
			d.store = nil
			return fmt.Errorf("store: bringing %s up to the store: %w", v.Path, err)
		}
	}
	imported := 0
	for _, rel := range d.managedFiles("") {
		if inStore[rel] {
			continue
		}
		if err := d.importFile(rel); err != nil {
			d.store = nil
			return fmt.Errorf("store: importing %s: %w", rel, err)
		}
		imported++
	}
	d.note("store", fmt.Sprintf("joined the store as %s: %d files from the store, %d imported from DIR, following from store revision %d",
		s.Name(), len(vs), imported, at))
	ctx, cancel := context.WithCancel(context.Background())
	d.store.ctx, d.store.cancel = ctx, cancel
	d.store.reach(at)
	go func() {
		defer close(d.store.done)
		s.Watch(ctx, at+1, func(v StoredVersion) {
			d.store.reach(v.ModRev)
			d.follow(v)
		}, d.resynced)
	}()
	return nil
}

// DetachStore stops following the store.
func (d *Dir) DetachStore() {
	if d.store == nil || d.store.cancel == nil {
		return
	}
	d.store.cancel()
	<-d.store.done
	d.store.s.Close()
}

// follow applies one version from the watch, retrying while P's lock or
// the disk says no: the watch goes on in the store's order.
func (d *Dir) follow(v StoredVersion) {
	for delay := 10 * time.Millisecond; ; delay = min(2*delay, time.Second) {
		err := d.applyStored(v)
		if err == nil || errors.Is(err, errClosed) {
			return
		}
		slog.Warn("cannot apply another machine's commit yet", "path", v.Path, "store_revision", v.ModRev, "err", err)
		select {
		case <-d.store.ctx.Done():
			return // unmounting: the next mount brings DIR up to the store
		case <-time.After(delay):
		}
	}
}

// resynced logs that the watch missed versions the store had compacted
// away, and that the whole prefix was applied again instead.
func (d *Dir) resynced(compacted, at int64) {
	d.store.reach(at)
	d.note("resync", fmt.Sprintf("the store compacted its history past this mount's last revision (to %d): brought DIR up to the whole store at revision %d", compacted, at))
}

var errClosed = errors.New("the backing directory is closed")

// importFile puts rel, which the store does not have, into it as it is.
func (d *Dir) importFile(rel string) error {
	pfd, base, err := d.parent(rel)
	if err != nil {
		return err
	}
	defer d.closeParent(pfd)
	unlock, err := d.lock(rel, pfd, base, daemonCaller(), false)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := d.readCurrent(pfd, base, rel, revision.KindOf(rel), -1)
	if err != nil || !cur.exists {
		return err
	}
	data, err := d.readLocal(pfd, base, cur)
	if err != nil {
		return err
	}
	c := daemonCaller()
	sv := StoredVersion{Path: rel, Rev: cur.rev, OldRev: cur.rev, SHA256: sha256hex(data), Mode: cur.st.Mode & 0o7777,
		Uid: int(cur.st.Uid), Gid: int(cur.st.Gid), Op: "import", Machine: d.store.s.Name(), Command: c.Command,
		Pid: c.Pid, By: c.Uid, Time: nowStamp(), Data: data}
	modRev, err := d.store.s.Commit(0, sv)
	if errors.Is(err, ErrStoreConflict) {
		// Another mount imported it meanwhile: theirs is the version.
		unlock()
		v, ok, gerr := d.store.s.Get(rel)
		if gerr != nil || !ok {
			return err
		}
		return d.applyStored(v)
	}
	if err != nil {
		return err
	}
	d.store.set(rel, modRev)
	return nil
}

// readLocal returns cur's bytes, reading them when readCurrent did not.
func (d *Dir) readLocal(pfd int, base string, cur current) ([]byte, error) {
	if cur.data != nil && int64(len(cur.data)) == cur.st.Size {
		return cur.data, nil
	}
	fd, err := unix.Openat(pfd, base, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readAllFd(fd, cur.st.Size, d.Config().Limits.MaxSize)
}

// applyStored makes the local copy of v.Path the store's version v (a
// commit or delete of another mount), atomically and under P's lock, and
// logs it as its machine made it. A version the local copy already has
// (this mount's own commits, seen again by the watch) changes nothing.
// Local bytes that were changed behind the mount's back are kept as a
// conflict before they are replaced.
func (d *Dir) applyStored(v StoredVersion) error {
	if d.begin() != nil {
		return errClosed
	}
	defer d.inflight.Done()
	if !ValidStorePath(v.Path) || !d.Managed(v.Path) || d.IsLog(v.Path) {
		slog.Warn("ignoring a store version that names no managed file of DIR", "path", v.Path)
		return nil
	}
	if d.seen(v) {
		return nil // this mount's own commit, or an older version: no lock needed to know
	}
	if err := d.mkdirAll(parentOf(v.Path)); err != nil {
		return err
	}
	pfd, base, err := d.parent(v.Path)
	if err != nil {
		return err
	}
	defer d.closeParent(pfd)
	unlock, err := d.lock(v.Path, pfd, base, daemonCaller(), false)
	if err != nil {
		return err
	}
	defer unlock()
	if d.seen(v) {
		return nil // checked again under the lock
	}
	kind := revision.KindOf(v.Path)
	cur, err := d.readCurrent(pfd, base, v.Path, kind, len(v.Data))
	if err != nil {
		return err
	}
	var local []byte
	if cur.exists {
		if local, err = d.readLocal(pfd, base, cur); err != nil {
			return err
		}
	}
	c := Caller{Pid: v.Pid, Uid: v.By, Command: v.Command}
	if v.Deleted {
		if cur.exists {
			d.keepLocal(v, cur, local)
			if err := unix.Unlinkat(pfd, base, 0); err != nil {
				return err
			}
			d.committed.drop(v.Path)
		}
		d.revs.bury(v.Path, v.Rev)
		d.store.set(v.Path, v.ModRev)
		d.storeApplied(v.Path) // before the log line: a reader that saw it finds the new version
		d.logStored(v, c, "deleted by "+v.Machine, nil)
		return nil
	}
	if cur.exists && sha256hex(local) == v.SHA256 && cur.rev == v.Rev {
		d.store.set(v.Path, v.ModRev) // the same version already (a copy of DIR, or this mount's import)
		return nil
	}
	if cur.exists && sha256hex(local) != v.SHA256 {
		if s, ok := d.fileStamp(v.Path); ok && s.sha == v.SHA256 && s.rev == v.Rev {
			// Changed in DIR behind the mount's back (while unmounted),
			// from the very version the store has: a commit of its own.
			if err := d.storeExternal(v, cur, local); !errors.Is(err, ErrStoreConflict) {
				return err
			}
		}
	}
	d.keepLocal(v, cur, local)
	m := NewMeta()
	// The mode and the numeric owner as on the machine that committed;
	// never setuid or setgid from the store.
	m.Mode, m.HasMode, m.Uid, m.Gid = v.Mode&^(unix.S_ISUID|unix.S_ISGID), v.Mode != 0, v.Uid, v.Gid
	w := Write{Path: v.Path, Data: v.Data, Caller: c, Mode: m.Mode, Meta: &m}
	d.recordFirst(pfd, base, v.Path, cur)
	if _, err := d.replace(pfd, base, w, cur, v.Data, v.Rev, v.SHA256); err != nil {
		d.committed.drop(v.Path)
		return err
	}
	d.committed.drop(v.Path)
	if !cur.exists {
		d.revs.unbury(v.Path)
	}
	d.store.set(v.Path, v.ModRev)
	d.recordCommit(v.Path, v.Rev, v.Op, c, v.Data, v.SHA256)
	var doc *revision.Doc
	if hasFields(kind) {
		doc, _ = revision.Parse(kind, v.Data, d.Config().Limits)
	}
	d.storeApplied(v.Path) // before the log line: a reader that saw it finds the new version
	d.logStored(v, c, "committed on "+v.Machine, func(e *changelog.Entry) {
		d.describeChanges(e, cur.doc, doc, v.Mode)
	})
	d.configTouched(v.Path)
	return nil
}

// seen reports whether the local copy has v or a later version.
func (d *Dir) seen(v StoredVersion) bool {
	known := d.store.rev(v.Path)
	return v.ModRev < known || v.ModRev == known && d.hasVersion(v)
}

// hasVersion reports whether the local copy of v.Path is v: its stamp
// says so (a commit that etcd took but whose rename failed, or that a
// kill -9 cut short, is not).
func (d *Dir) hasVersion(v StoredVersion) bool {
	if v.Deleted {
		_, err := d.Lstat(v.Path)
		return err != nil
	}
	fd, err := d.openat(v.Path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	s, ok := d.revs.stored(fd, v.Path)
	return ok && s.rev == v.Rev && (s.sha == "" || s.sha == v.SHA256)
}

// keepLocal keeps the local bytes of v.Path before the store's version
// replaces them, when they are not a version the store had: a change made
// in DIR while it was not mounted, which the store moved past.
func (d *Dir) keepLocal(v StoredVersion, cur current, local []byte) {
	if !cur.exists || d.IsLog(v.Path) {
		return
	}
	if d.committedHere(v.Path, sha256hex(local)) {
		return // a version committed through a mount: in the store's past
	}
	c := Caller{Pid: 0, Uid: cur.st.Uid, Gid: cur.st.Gid, Command: "(outside the mount)"}
	base := cur.rev
	d.refuse(&Refusal{Op: OpConflict, Path: v.Path, base: &base, Reason: fmt.Sprintf(
		"changed in DIR while it was not mounted, but %s committed revision %d meanwhile: the store's version replaces it", v.Machine, v.Rev)},
		c, local, cur.rev)
}

// storeExternal puts the local bytes of v.Path, changed behind the
// mount's back from the store's version v, into the store as the next
// version (op "external"), leaving the local file as it is.
func (d *Dir) storeExternal(v StoredVersion, cur current, local []byte) error {
	sv := StoredVersion{Path: v.Path, Rev: cur.rev, OldRev: v.Rev, SHA256: sha256hex(local), Mode: cur.st.Mode & 0o7777,
		Uid: int(cur.st.Uid), Gid: int(cur.st.Gid), Op: OpExternal, Machine: d.store.s.Name(),
		Command: "(outside the mount)", By: cur.st.Uid, Time: nowStamp(), Data: local}
	modRev, err := d.store.s.Commit(v.ModRev, sv)
	if err != nil {
		return err
	}
	d.store.set(v.Path, modRev)
	return nil
}

// fileStamp is the stamp on the backing file rel itself: the version the
// last commit through a mount wrote.
func (d *Dir) fileStamp(rel string) (stamp, bool) {
	fd, err := d.openat(rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return stamp{}, false
	}
	defer unix.Close(fd)
	buf := make([]byte, 160)
	n, err := unix.Fgetxattr(fd, revXattr, buf)
	if err != nil {
		return stamp{}, false
	}
	return parseStamp(string(buf[:n]))
}

// committedHere reports whether content sum of rel is the version the last
// commit through a mount wrote: the stamp on the file says so. (A change
// behind the mount's back is in the history too, but not in the store.)
func (d *Dir) committedHere(rel, sum string) bool {
	s, ok := d.fileStamp(rel)
	return ok && s.sha == sum
}

// logStored logs a version another mount committed, as it made it.
func (d *Dir) logStored(v StoredVersion, c Caller, how string, more func(e *changelog.Entry)) {
	op := v.Op
	if v.Deleted {
		op = "delete"
	}
	e := d.entry(op, v.Path, c)
	e.Timestamp, e.Machine = v.Time, v.Machine
	rev, old := v.Rev, v.OldRev
	e.Revision, e.OldRevision = &rev, &old
	if !v.Deleted {
		size := int64(len(v.Data))
		e.Size, e.SHA256 = &size, v.SHA256
	}
	e.Description = fmt.Sprintf("%s: revision %d %s (%s[%d])", v.Path, v.Rev, how, v.Command, v.Pid)
	if more != nil {
		more(e)
	}
	d.appendLog(e)
}

// storeApplied tells the front end that rel changed behind the kernel's back.
func (d *Dir) storeApplied(rel string) {
	if fn := d.store.applied.Load(); fn != nil {
		(*fn)(rel)
	}
}

// managedFiles lists the managed regular files at or below rel, without
// paracfs's own data and the change log.
func (d *Dir) managedFiles(rel string) []string {
	var out []string
	ents, err := d.ReadDir(rel, true)
	if err != nil {
		return nil
	}
	for _, e := range ents {
		sub := e.Name
		if rel != "" {
			sub = rel + "/" + e.Name
		}
		if IsMeta(sub) || d.IsLog(sub) {
			continue
		}
		st, err := d.Lstat(sub)
		if err != nil {
			continue
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFDIR:
			out = append(out, d.managedFiles(sub)...)
		case unix.S_IFREG:
			if d.Managed(sub) {
				out = append(out, sub)
			}
		}
	}
	return out
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
