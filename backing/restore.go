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
	data, _, err := d.ReadVersion(rel, rev)
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
	return d.Commit(Write{Path: rel, Data: data, Base: base, Op: OpRestore, From: fmt.Sprintf("%s@%d", rel, rev), Caller: c})
}
