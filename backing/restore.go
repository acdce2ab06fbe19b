package backing

import (
	"fmt"

	"github.com/paracfs/paracfs/revision"
)

// Restore commits the bytes of revision rev of rel, from its history, as
// an ordinary commit logged with op "restore". base is the revision the
// restorer saw as current (-1: unknown, for a deleted file): the bytes'
// revision scalar is re-stamped to it and it is the write's base, so that
// the revision check refuses the restore as a conflict when someone
// committed in between. A restore of bytes equal to the current ones
// commits nothing and returns the current revision.
func (d *Dir) Restore(rel string, rev, base int64, c Caller) (Result, error) {
	if !d.Managed(rel) || d.IsLog(rel) {
		return Result{}, fmt.Errorf("%s: not a managed file with a history", rel)
	}
	data, v, err := d.ReadVersion(rel, rev)
	if err != nil {
		return Result{}, err
	}
	stampTo := base
	if stampTo < 0 {
		stampTo = d.peekRevision(rel)
	}
	if doc, err := revision.Parse(revision.KindOf(rel), data, d.Config().Limits); err == nil && doc.HasRev {
		data = doc.Stamped(stampTo)
	}
	// A deleted file comes back with the mode its version had (an
	// existing one keeps its own).
	return d.Commit(Write{Path: rel, Data: data, Base: base, Op: OpRestore, From: fmt.Sprintf("%s@%d", rel, rev), Caller: c, Mode: v.Mode & 0o7777})
}

// restoredVersion returns the version of rel that a stale write of
// bytes with sha256 sum restores: the newest one with those bytes that
// revision.Restores accepts (git checkout of another branch, git stash
// pop, a backup copied back). It reads only the file's index, cached after
// its first read; the caller computes sum only for a write that would
// otherwise be refused as stale.
func (d *Dir) restoredVersion(rel, sum string, current, base int64) (Version, bool) {
	if d.Config().History.MaxVersions < 0 || d.IsLog(rel) {
		return Version{}, false
	}
	h, err := d.fileVersions(rel)
	if err != nil {
		return Version{}, false
	}
	for i := len(h.versions) - 1; i >= 0; i-- {
		if v := h.versions[i]; v.SHA256 == sum && revision.Restores(current, base, v.Rev) {
			return v, true
		}
	}
	return Version{}, false
}

// restoredField returns the revision field of rel's current content when
// the current version is a restore (committed as written, so its field is
// the restored version's number, behind its revision).
func (d *Dir) restoredField(rel string, cur current) (int64, bool) {
	h, err := d.fileVersions(rel)
	isRestore := err == nil && len(h.versions) > 0 && h.versions[len(h.versions)-1].Rev == cur.rev && h.versions[len(h.versions)-1].Op == OpRestore
	if !isRestore {
		return 0, false
	}
	return d.currentField(rel, cur)
}

// currentField returns the revision field of rel's current content, read
// from its bytes (a cached parse may hold the field as written before it
// was stamped); for a deleted name, of the version it was deleted at, from
// the history. False when it has none.
func (d *Dir) currentField(rel string, cur current) (int64, bool) {
	data := cur.data
	if !cur.exists {
		newest, ok := d.newestVersion(rel)
		if !ok || newest != cur.rev {
			return 0, false
		}
		var err error
		if data, _, err = d.ReadVersion(rel, newest); err != nil {
			return 0, false
		}
	}
	if data == nil {
		return 0, false
	}
	doc, err := revision.Parse(revision.KindOf(rel), data, d.Config().Limits)
	if err != nil || !doc.HasRev {
		return 0, false
	}
	return doc.Rev, true
}

// restoreHint is appended to the reason of a conflict: how to put an
// older version back on purpose.
func restoreHint(rel string) string {
	return fmt.Sprintf("; to put back an older version on purpose: paracfs restore %s@REV (paracfs history %s lists them)", rel, rel)
}
