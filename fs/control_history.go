package fs

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"strings"
	"syscall"

	"github.com/paracfs/paracfs/backing"
)

// The "restore" control op commits an old version of a managed file from
// its history, as its caller: {"op":"restore","path":REL,"rev":N,"base":B}
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
	if err := mayWrite(r.d, rel, c); err != nil {
		return nil, err
	}
	before, _ := r.d.Revision(rel)
	res, err := r.d.Restore(rel, q.Rev, q.Base, c)
	if err != nil {
		return nil, err
	}
	r.controlCommitted(rel)
	return RestoreResult{Revision: res.Rev, Changed: res.Rev != before}, nil
}

// mayWrite checks that c could write rel through the mount: a restore
// through the control file must not let a user change a file the kernel
// would not let them write (with allow_other). Only the caller's primary
// group counts.
func mayWrite(d *backing.Dir, rel string, c backing.Caller) error {
	if c.Uid == 0 {
		return nil
	}
	target, bit := rel, uint32(0o2)
	st, err := d.Lstat(rel)
	if err == syscall.ENOENT {
		target, bit = path.Dir(rel), 0o3 // create: write and search the folder
		if target == "." {
			target = ""
		}
		st, err = d.Lstat(target)
	}
	if err != nil {
		return fmt.Errorf("restore %s: %v", rel, err)
	}
	mode := st.Mode
	switch {
	case st.Uid == c.Uid:
		mode >>= 6
	case st.Gid == c.Gid:
		mode >>= 3
	}
	if mode&bit != bit {
		return fmt.Errorf("restore %s: permission denied (uid %d may not write it)", rel, c.Uid)
	}
	return nil
}
