package backing

import (
	"errors"
	"fmt"

	"github.com/paracfs/paracfs/revision"
)

// verdict is what the revision check of a commit decided, under P's lock.
type verdict struct {
	current int64 // the name's revision before this commit
	next    int64 // the revision this commit makes
	stamp   bool  // the content's revision scalar must be set to next
	// first: the name had no committed version (no file, no tombstone):
	// it adopts the revision its content carries, and its bytes land as
	// written.
	first bool
	// restores is the version whose bytes a write that would have
	// been stale brings back, committed as written (not stamped); nil for
	// an ordinary commit.
	restores *Version
}

// checkRevision decides the revision of a commit of w over cur. from is
// the write's base (-1 unknown). A name with no committed version adopts
// the content's revision (revision.First). Otherwise revision.Check
// decides, and a write it refuses as stale, or accepts only because its
// writer read the current version though its content carries an older
// revision, is a restore when its bytes are a version of the name.
// Only then is the sha256 of the bytes computed and the history's index
// consulted. A refusal's reason says how to restore on purpose.
func (d *Dir) checkRevision(w Write, cur current, from int64, doc *revision.Doc) (verdict, error) {
	v := verdict{current: cur.rev}
	if !cur.exists {
		if _, buried := d.revs.tombstone(w.Path); !buried {
			// (A history kept under the name is no sign of a committed
			// version: a directory renamed away leaves it behind when
			// one is already at the new name.)
			v.first, v.next = true, revision.First(doc)
			return v, nil
		}
	}
	if revision.Older(v.current, doc) {
		if field, ok := d.restoredField(w.Path, cur); ok && field == doc.Rev {
			// The current version is a restore, whose content kept the
			// restored version's number: a writer that kept that field
			// kept it as it reads now. Stamped replaces the scalar
			// whatever it reads.
			doc.Rev = v.current
		}
	}
	carried := true
	if revision.Older(v.current, doc) && from == v.current {
		// A writer that read the current version writes an older field:
		// only a current content that carries its own revision makes
		// that a stale copy (the field may have been dropped).
		field, ok := d.currentField(w.Path, cur)
		carried = ok && field == v.current
	}
	next, stamp, err := revision.Check(v.current, from, doc, carried)
	v.next, v.stamp = next, stamp
	var conflict *revision.ConflictError
	stale := errors.As(err, &conflict) || (err == nil && revision.Older(v.current, doc))
	if stale && w.Op != OpRestore && revision.MayRestore(v.current, from) { // paracfs restore wants its conflicts
		if k, ok := d.restoredVersion(w.Path, sha256hex(w.Data), v.current, from); ok {
			// Committed as written: a tool that put back a version it
			// knows (git checkout, git stash pop) finds its very bytes,
			// so git sees the file unmodified and switches back.
			v.restores, v.stamp = &k, false
			return v, nil
		}
	}
	if conflict != nil {
		r := refusalFrom(w.Path, err)
		r.Reason += restoreHint(w.Path)
		return v, r
	}
	return v, err
}

// describe is the description of the commit's log line.
func (v verdict) describe(w Write, op string) string {
	by := fmt.Sprintf("by %s[%d]", w.Caller.Command, w.Caller.Pid)
	switch {
	case v.first:
		return fmt.Sprintf("%s: revision %d (%s) %s", w.Path, v.next, op, by)
	case v.restores != nil:
		return fmt.Sprintf("%s: revision %d → %d (%s of revision %d) %s", w.Path, v.current, v.next, op, v.restores.Rev, by)
	}
	return fmt.Sprintf("%s: revision %d → %d (%s) %s", w.Path, v.current, v.next, op, by)
}
