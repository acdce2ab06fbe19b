package backing

// Following the store: joining it at the start (AttachStore), and
// applying every other mount's versions to DIR as the watch brings them.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
	"github.com/paracfs/paracfs/revision"
)

// AttachStore links d to s: it brings DIR and the store level (the first
// mount of an empty prefix imports DIR; a later one brings DIR up to the
// store), then follows every other mount's commits until DetachStore.
// Call it before mounting.
func (d *Dir) AttachStore(s Store) error {
	d.shared = &storeState{s: s, modRev: map[string]int64{}, same: map[string]string{}, done: make(chan struct{}), reachedCh: make(chan struct{})}
	vs, at, err := s.Load()
	if err != nil {
		d.shared = nil
		return fmt.Errorf("store: %w", err)
	}
	inStore := map[string]bool{}
	for _, v := range vs {
		inStore[v.Path] = true
		if err := d.applyStored(v); err != nil {
			d.shared = nil
			return fmt.Errorf("store: bringing %s up to the store: %w", v.Path, err)
		}
	}
	imported := 0
	for _, rel := range d.managedFiles("") {
		if inStore[rel] {
			continue
		}
		if err := d.importFile(rel); err != nil {
			d.shared = nil
			return fmt.Errorf("store: importing %s: %w", rel, err)
		}
		imported++
	}
	d.note(changelog.OpStore, fmt.Sprintf("joined the store as %s: %d files from the store, %d imported from DIR, following from store revision %d",
		s.Name(), len(vs), imported, at))
	ctx, cancel := context.WithCancel(context.Background())
	d.shared.ctx, d.shared.cancel = ctx, cancel
	d.shared.reach(at)
	go func() {
		defer close(d.shared.done)
		s.Watch(ctx, at+1, func(v StoredVersion) {
			d.shared.reach(v.ModRev)
			d.follow(v)
		}, d.resynced)
	}()
	return nil
}

// DetachStore stops following the store.
func (d *Dir) DetachStore() {
	if d.shared == nil || d.shared.cancel == nil {
		return
	}
	d.shared.cancel()
	<-d.shared.done
	d.shared.s.Close()
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
		case <-d.shared.ctx.Done():
			return // unmounting: the next mount brings DIR up to the store
		case <-time.After(delay):
		}
	}
}

// resynced logs that the watch missed versions the store had compacted
// away, and that the whole prefix was applied again instead.
func (d *Dir) resynced(compacted, at int64) {
	d.shared.reach(at)
	d.note(changelog.OpResync, fmt.Sprintf("the store compacted its history past this mount's last revision (to %d): brought DIR up to the whole store at revision %d", compacted, at))
}

var errClosed = errors.New("the backing directory is closed")

// importFile puts rel, which the store does not have, into it as it is.
func (d *Dir) importFile(rel string) error {
	pfd, leaf, err := d.parent(rel)
	if err != nil {
		return err
	}
	defer d.closeParent(pfd)
	unlock, err := d.lock(rel, pfd, leaf, daemonCaller(), false)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := d.readCurrent(pfd, leaf, rel, revision.KindOf(rel), -1)
	if err != nil || !cur.exists {
		return err
	}
	data, err := d.readLocal(pfd, leaf, cur)
	if err != nil {
		return err
	}
	c := daemonCaller()
	sv := StoredVersion{Path: rel, Rev: cur.rev, OldRev: cur.rev, SHA256: sha256hex(data), Mode: cur.st.Mode & 0o7777,
		Uid: int(cur.st.Uid), Gid: int(cur.st.Gid), Op: changelog.OpImport, Machine: d.shared.s.Name(), Command: c.Command,
		Pid: c.Pid, By: c.Uid, Time: nowStamp(), Data: data}
	modRev, err := d.shared.s.Commit(0, sv)
	if errors.Is(err, ErrStoreConflict) {
		// Another mount imported it meanwhile: theirs is the version.
		unlock()
		v, ok, gerr := d.shared.s.Get(rel)
		if gerr != nil || !ok {
			return err
		}
		return d.applyStored(v)
	}
	if err != nil {
		return err
	}
	d.shared.set(rel, modRev)
	d.shared.sameAs(rel, sv.SHA256)
	return nil
}

// readLocal returns cur's bytes, reading them when readCurrent did not.
func (d *Dir) readLocal(pfd int, leaf string, cur current) ([]byte, error) {
	if cur.data != nil && int64(len(cur.data)) == cur.st.Size {
		return cur.data, nil
	}
	fd, err := unix.Openat(pfd, leaf, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
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
	pfd, leaf, err := d.parent(v.Path)
	if err != nil {
		return err
	}
	defer d.closeParent(pfd)
	unlock, err := d.lock(v.Path, pfd, leaf, daemonCaller(), false)
	if err != nil {
		return err
	}
	defer unlock()
	if d.seen(v) {
		return nil // checked again under the lock
	}
	kind := revision.KindOf(v.Path)
	cur, err := d.readCurrent(pfd, leaf, v.Path, kind, len(v.Data))
	if err != nil {
		return err
	}
	var local []byte
	if cur.exists {
		if local, err = d.readLocal(pfd, leaf, cur); err != nil {
			return err
		}
	}
	c := Caller{Pid: v.Pid, Uid: v.By, Command: v.Command}
	if v.Deleted {
		if cur.exists {
			d.keepLocal(v, cur, local)
			if err := unix.Unlinkat(pfd, leaf, 0); err != nil {
				return err
			}
			d.committed.drop(v.Path)
		}
		d.revs.bury(v.Path, v.Rev)
		d.shared.set(v.Path, v.ModRev)
		d.storeApplied(v.Path) // before the log line: a reader that saw it finds the new version
		how := "deleted by " + v.Machine
		if v.To != "" {
			how = "renamed to " + v.To + " on " + v.Machine
		}
		d.logStored(v, c, how, nil)
		return nil
	}
	if cur.exists && sha256hex(local) == v.SHA256 && cur.rev == v.Rev {
		d.shared.set(v.Path, v.ModRev) // the same version already (a copy of DIR, or this mount's import)
		d.shared.sameAs(v.Path, v.SHA256)
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
	var pre syncSet
	defer pre.flush()
	if err := d.recordFirst(pfd, leaf, v.Path, cur, &pre); err != nil {
		d.note("warning", fmt.Sprintf("%s: revision %d not kept in the history: %v", v.Path, cur.rev, err))
	}
	if _, err := d.replace(pfd, leaf, w, cur, v.Data, v.Rev, v.SHA256, &pre); err != nil {
		d.committed.drop(v.Path)
		return err
	}
	d.committed.drop(v.Path)
	if !cur.exists {
		d.revs.unbury(v.Path)
	}
	d.shared.set(v.Path, v.ModRev)
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

// seen reports whether the local copy has v or a later version. The old
// name of this mount's own rename counts as seen even while it is still
// there: the rename removes it itself, right after the commit.
func (d *Dir) seen(v StoredVersion) bool {
	known := d.shared.rev(v.Path)
	if v.ModRev == known && v.Deleted && v.To != "" {
		return true
	}
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
	if sum := sha256hex(local); d.committedHere(v.Path, sum) || d.shared.isSame(v.Path, sum) {
		return // a version committed through a mount, or found to be the store's: in the store's past
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
		Uid: int(cur.st.Uid), Gid: int(cur.st.Gid), Op: OpExternal, Machine: d.shared.s.Name(),
		Command: "(outside the mount)", By: cur.st.Uid, Time: nowStamp(), Data: local}
	modRev, err := d.shared.s.Commit(v.ModRev, sv)
	if err != nil {
		return err
	}
	d.shared.set(v.Path, modRev)
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
		op = changelog.OpDelete
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
	if fn := d.shared.applied.Load(); fn != nil {
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
