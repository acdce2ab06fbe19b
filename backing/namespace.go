package backing

import (
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
	"github.com/paracfs/paracfs/revision"
)

// Remove unlinks rel. Removing a managed file is allowed (git and vim do
// it) and logged; the name keeps its revision, so a file re-created under
// it continues the count. The change log cannot be removed.
func (d *Dir) Remove(rel string, c Caller) error {
	if IsMeta(rel) {
		return unix.EPERM
	}
	if d.IsLog(rel) {
		return d.AppendOnly(LogRemove, rel, 0, -1, c)
	}
	if !d.Managed(rel) {
		return d.atParent(rel, func(pfd int, leaf string) error { return unix.Unlinkat(pfd, leaf, 0) })
	}
	return d.away(rel, c, changelog.OpDelete, "deleted", func(pfd int, leaf string) error {
		return unix.Unlinkat(pfd, leaf, 0)
	})
}

// away runs fn (an unlink or a rename to a scratch name) on managed rel
// under its lock, buries its revision and logs it.
func (d *Dir) away(rel string, c Caller, op, what string, fn func(pfd int, leaf string) error) error {
	return d.underLockAway(rel, c, fn, func(pfd int, leaf string) error {
		rev, err := d.keepCurrent(pfd, leaf, rel, c, false)
		if err != nil {
			return err
		}
		if err := d.storeAway(rel, rev, c, func() error { return fn(pfd, leaf) }); err != nil {
			return err
		}
		fsyncDir(pfd) // an acknowledged delete stays done after a power cut
		d.revs.bury(rel, rev)
		e := d.entry(op, rel, c)
		e.Revision, e.OldRevision = &rev, &rev
		e.Description = fmt.Sprintf("%s: %s at revision %d by %s[%d]", rel, what, rev, c.Command, c.Pid)
		d.appendLog(e)
		d.configTouched(rel)
		return nil
	})
}

// KeepCurrent makes sure, under P's lock, that the history holds managed
// rel's current version on disk: the front end calls it before it
// answers an unlink that it finishes later, so that a version that
// cannot be kept refuses the unlink itself.
func (d *Dir) KeepCurrent(rel string, c Caller) error {
	nothing := func(int, string) error { return nil } // not a file: the removal says what is wrong
	return d.underLockAway(rel, c, nothing, func(pfd int, leaf string) error {
		_, err := d.keepCurrent(pfd, leaf, rel, c, true)
		return err
	})
}

// underLockAway runs fn on managed rel (its directory and name) under
// rel's lock, taken as for a delete; other, with no lock, when rel is not
// a regular file (a directory or symlink under a managed-looking name).
func (d *Dir) underLockAway(rel string, c Caller, other, fn func(pfd int, leaf string) error) error {
	if err := d.begin(); err != nil {
		return err
	}
	defer d.inflight.Done()
	pfd, leaf, err := d.parent(rel)
	if err != nil {
		return err
	}
	defer d.closeParent(pfd)
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, leaf, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return other(pfd, leaf)
	}
	unlock, err := d.lockAway(rel, pfd, leaf, c)
	if err != nil {
		if r, ok := lockRefusal(rel, err); ok {
			return d.refuse(r, c, nil, d.peekRevision(rel))
		}
		return err
	}
	defer unlock()
	return fn(pfd, leaf)
}

// keepCurrent returns managed rel's revision once the history holds its
// current version: its pending records, and the version itself when the
// history lacks it (written before the mount or behind its back), so
// that restore can bring back what a removal takes. It runs under P's
// lock; a version that cannot be kept is a refusal. With later, the
// removal itself comes later (the front end's grace period): the record
// is fsynced in the background, and that removal's own keepCurrent waits
// for it; else it is on disk when keepCurrent returns.
func (d *Dir) keepCurrent(pfd int, leaf, rel string, c Caller, later bool) (int64, error) {
	cur, err := d.readCurrent(pfd, leaf, rel, revision.KindOf(rel), -1)
	if err != nil {
		// Unreadable as a managed file (larger than --max-size): it
		// goes, as on a plain directory, without a copy in the history.
		rev, err := d.Revision(rel)
		if !later {
			d.flushPending(rel)
		}
		return rev, err
	}
	var pre syncSet
	if !later {
		pre.add(d.takePending(rel))
	}
	if err := d.recordFirst(pfd, leaf, rel, cur, &pre); err != nil {
		pre.flush()
		r, ok := diskRefusal(rel, err)
		if !ok {
			r = &Refusal{Op: OpIOError, Path: rel}
		}
		r.Reason = fmt.Sprintf("revision %d, which this removal would lose, could not be kept in the history: %v", cur.rev, err)
		return 0, d.refuse(r, c, nil, cur.rev)
	}
	if later && len(pre.fds) > 0 {
		p := &pendingSync{fds: pre.fds}
		d.hist.setPending(rel, p).flush()
		go func() {
			p.flush()
			d.hist.donePending(rel, p)
		}()
		return cur.rev, nil
	}
	pre.flush()
	return cur.rev, nil
}

// lockAway takes P's lock for a delete. A missing P.lock is not created:
// nobody holds a lock file that does not exist (the daemon's own commits
// are kept out by its queue), and a delete must not leave a new lock file
// in a directory that is being emptied (rm -r, rmdir, a directory renamed
// over it).
func (d *Dir) lockAway(rel string, pfd int, leaf string, c Caller) (unlock func(), err error) {
	var st unix.Stat_t
	if unix.Fstatat(pfd, lockName(leaf), &st, unix.AT_SYMLINK_NOFOLLOW) != unix.ENOENT {
		return d.lock(rel, pfd, leaf, c, true)
	}
	if !d.locks.acquire(rel, time.Now().Add(d.Config().LockTimeout)) {
		return nil, &errLockTimeout{lockRel(rel), d.Config().LockTimeout}
	}
	return func() { d.locks.release(rel) }, nil
}

// Rename moves oldRel to newRel. A rename onto a managed name is a commit
// of that name with the source's bytes (sed -i, editors' safe-save, rsync,
// paracle's x.yaml.tmp → x.yaml): validated, revision-checked, logged once
// under the managed name; the source is removed only once it committed. A
// managed file renamed to a scratch name is logged like a delete. A
// directory takes the revisions of the managed files inside along
// (moveDir).
func (d *Dir) Rename(oldRel, newRel string, flags uint32, c Caller) error {
	if IsMeta(oldRel) || IsMeta(newRel) {
		return unix.EPERM
	}
	if d.IsLog(oldRel) || d.IsLog(newRel) {
		return d.AppendOnly(LogRename, d.Config().LogPath, 0, -1, c)
	}
	if d.HoldsLog(oldRel) || d.HoldsLog(newRel) {
		return d.AppendOnly(LogRename, dirOf(oldRel, newRel, d.HoldsLog), 0, -1, c)
	}
	srcManaged, dstManaged := d.Managed(oldRel), d.Managed(newRel)
	if (srcManaged || dstManaged) && flags&unix.RENAME_EXCHANGE != 0 {
		return unix.EINVAL // no atomic exchange of managed files
	}
	if st, err := d.Lstat(oldRel); err == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return d.moveDir(oldRel, newRel, flags, c)
	}
	plain := func() error { return d.renameat(oldRel, newRel, flags) }
	if !srcManaged && !dstManaged {
		return plain()
	}
	if !dstManaged {
		return d.away(oldRel, c, changelog.OpDelete, "renamed to "+newRel, func(int, string) error { return plain() })
	}

	src, err := d.Lstat(oldRel)
	if err != nil {
		return err
	}
	if src.Mode&unix.S_IFMT != unix.S_IFREG {
		return plain()
	}
	if flags&unix.RENAME_NOREPLACE != 0 {
		if _, err := d.Lstat(newRel); err == nil {
			return unix.EEXIST
		}
	}
	fd, err := d.openat(oldRel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	data, err := readAllFd(fd, src.Size, d.Config().Limits.MaxSize)
	unix.Close(fd)
	if err != nil {
		return d.Refuse(OpTooLarge, newRel, fmt.Sprintf("%s: %v", oldRel, err), c, nil)
	}
	op := changelog.OpCommit
	if srcManaged {
		op = changelog.OpRename
	}
	srcRev := int64(0)
	if srcManaged {
		srcRev, _ = d.Revision(oldRel)
	}
	// P becomes the renamed file: its mode, owner, times, xattrs and ACL.
	meta := d.FileMeta(oldRel, &src.Stat_t)
	if _, err := d.Commit(Write{Path: newRel, Data: data, Base: -1, Op: op, From: oldRel, Caller: c, Mode: src.Mode & 0o7777, Meta: &meta}); err != nil {
		return err
	}
	if srcManaged {
		d.flushPending(oldRel) // the history becomes the only copy of its bytes
	}
	if afterRenameCommit != nil {
		afterRenameCommit(oldRel)
	}
	removed, err := d.unlinkIfSame(oldRel, &src.Stat_t, c)
	if err != nil {
		return err
	}
	if srcManaged && removed {
		d.revs.bury(oldRel, srcRev)
		d.configTouched(oldRel)
	}
	return nil
}

// afterRenameCommit, when set (by tests), runs between a rename's commit
// of the new name and the removal of the old one.
var afterRenameCommit func(oldRel string)

// unlinkIfSame removes a rename's old name if it is still the inode was,
// under the name's lock. A version committed there since the rename read
// it (by another writer, or applied from another machine) is a new file
// written after the rename: it stays, as it would on a plain directory.
// When the lock cannot be had, the name is removed if it is the same inode
// (the rename's new name is committed already).
func (d *Dir) unlinkIfSame(rel string, was *unix.Stat_t, c Caller) (removed bool, err error) {
	pfd, leaf, err := d.parent(rel)
	if err == unix.ENOENT {
		return false, nil
	} else if err != nil {
		return false, err
	}
	defer d.closeParent(pfd)
	if unlock, lerr := d.lockAway(rel, pfd, leaf, c); lerr == nil {
		defer unlock()
	}
	var st unix.Stat_t
	if err := unix.Fstatat(pfd, leaf, &st, unix.AT_SYMLINK_NOFOLLOW); err == unix.ENOENT {
		return false, nil
	} else if err != nil {
		return false, err
	}
	if st.Ino != was.Ino || st.Dev != was.Dev {
		return false, nil
	}
	if err := unix.Unlinkat(pfd, leaf, 0); err != nil && err != unix.ENOENT {
		return false, err
	}
	return true, nil
}

func (d *Dir) renameat(oldRel, newRel string, flags uint32) error {
	opfd, obase, err := d.parent(oldRel)
	if err != nil {
		return err
	}
	defer d.closeParent(opfd)
	defer d.dirs.flush() // a directory may have moved
	return d.atParent(newRel, func(npfd int, nbase string) error {
		return unix.Renameat2(opfd, obase, npfd, nbase, uint(flags))
	})
}

// dirOf returns whichever of a and b is pinned.
func dirOf(a, b string, pinned func(string) bool) string {
	if pinned(a) {
		return a
	}
	return b
}
