package fs

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/paracfs/paracfs/backing"
)

// The "restore" control op commits an old version of a managed file from
// its history, as its caller, who must be allowed to write the file and
// to read the version (backing.MayWrite, MayReadVersion): {"op":"restore","path":REL,"rev":N,"base":B}
// where B is the revision the caller saw as current (-1 if none). The
// reply's result is {"revision": the new revision, "changed": false when
// the file already had those bytes}.

// RestoreRequest is the restore op's request.
type RestoreRequest struct {
	Path string `json:"path"`
	Rev  int64  `json:"rev"`
	Base int64  `json:"base"`
}

// RestoreResult is the restore op's reply.
type RestoreResult struct {
	Revision int64 `json:"revision"`
	Changed  bool  `json:"changed"`
}

func init() {
	RegisterControl("restore", false, controlRestore)
}

func controlRestore(ctx context.Context, r *Root, c backing.Caller, req ControlRequest) (any, error) {
	var q RestoreRequest
	if err := json.Unmarshal(req.Raw, &q); err != nil {
		return nil, fmt.Errorf("restore: bad request: %v", err)
	}
	rel := path.Clean(strings.TrimPrefix(q.Path, "/"))
	if q.Path == "" || rel == "." || strings.HasPrefix(rel, "../") || rel == ".." {
		return nil, fmt.Errorf("restore: %q is not a path inside the mount", q.Path)
	}
	if !r.d.MayWrite(rel, c) {
		return nil, fmt.Errorf("restore %s: permission denied (uid %d may not write it)", rel, c.Uid)
	}
	if !r.d.MayReadVersion(rel, q.Rev, c) {
		return nil, fmt.Errorf("restore %s@%d: permission denied (uid %d may not read that version)", rel, q.Rev, c.Uid)
	}
	before, _ := r.d.Revision(rel)
	res, err := r.d.Restore(rel, q.Rev, q.Base, c)
	if err != nil {
		return nil, err
	}
	r.controlCommitted(rel)
	return RestoreResult{Revision: res.Rev, Changed: res.Rev != before}, nil
}
