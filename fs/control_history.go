package fs

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/paracfs/paracfs/backing"
)

// controlRestore answers OpRestore (RestoreRequest).
func controlRestore(ctx context.Context, r *Root, c backing.Caller, q RestoreRequest) (RestoreReply, error) {
	rel := path.Clean(strings.TrimPrefix(q.Path, "/"))
	if q.Path == "" || rel == "." || strings.HasPrefix(rel, "../") || rel == ".." {
		return RestoreReply{}, fmt.Errorf("restore: %q is not a path inside the mount", q.Path)
	}
	if !r.d.MayWrite(rel, c) {
		return RestoreReply{}, fmt.Errorf("restore %s: permission denied (uid %d may not write it)", rel, c.Uid)
	}
	if !r.d.MayReadVersion(rel, q.Rev, c) {
		return RestoreReply{}, fmt.Errorf("restore %s@%d: permission denied (uid %d may not read that version)", rel, q.Rev, c.Uid)
	}
	before, _ := r.d.Revision(rel)
	res, err := r.d.Restore(rel, q.Rev, q.Base, c)
	if err != nil {
		return RestoreReply{}, err
	}
	r.controlCommitted(rel)
	return RestoreReply{Revision: res.Rev, Changed: res.Rev != before}, nil
}
