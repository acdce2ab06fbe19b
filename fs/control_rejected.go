package fs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/paracfs/paracfs/backing"
)

// Control ops on refused writes kept under .paracfs/rejected/, which is
// read-only through the mount. The paracfs command resolves an ID to the
// kept file's name and sends that name.
//
//	{"op":"rejected.apply","kept":".paracfs/rejected/..."} → {"path","revision"},
//	  or {"path","refused","reason","errno","kept"} when refused again
//	{"op":"rejected.drop","kept":".paracfs/rejected/..."}  → {"path"}
//
// Both act as their caller (backing.ApplyKept, DropKept): apply is for the
// bytes' writer, who must be allowed to write the file; drop for the
// writer, the file's owner and root. With allow_other, the kept bytes of
// one user's refused write are not another user's to commit or to throw
// away.
func init() {
	RegisterControl("rejected.apply", false, func(ctx context.Context, r *Root, c backing.Caller, req ControlRequest) (any, error) {
		kept, err := keptArg(req)
		if err != nil {
			return nil, err
		}
		k, res, err := r.d.ApplyKept(kept, c)
		var ref *backing.Refusal
		if errors.As(err, &ref) {
			// The op ran and the write was refused again: say how, so
			// that the command can explain it.
			return map[string]any{"path": k.Path, "refused": ref.Op, "reason": ref.Reason,
				"errno": backing.ErrnoName(ref.Errno()), "kept": ref.Kept}, nil
		}
		if err != nil {
			return nil, err
		}
		r.controlCommitted(k.Path)
		return map[string]any{"path": k.Path, "revision": res.Rev}, nil
	})
	RegisterControl("rejected.drop", false, func(ctx context.Context, r *Root, c backing.Caller, req ControlRequest) (any, error) {
		kept, err := keptArg(req)
		if err != nil {
			return nil, err
		}
		k, err := r.d.DropKept(kept, c)
		if err != nil {
			return nil, err
		}
		r.invalidatePath(kept)
		return map[string]any{"path": k.Path}, nil
	})
}

func keptArg(req ControlRequest) (string, error) {
	var a struct {
		Kept string `json:"kept"`
	}
	if err := json.Unmarshal(req.Raw, &a); err != nil || a.Kept == "" {
		return "", fmt.Errorf("op %q wants \"kept\": the kept file's name relative to DIR", req.Op)
	}
	return a.Kept, nil
}

// controlCommitted does for a commit a control op made what a commit
// through a request does after it: an away name is settled, and the kernel
// drops what it cached of rel.
func (r *Root) controlCommitted(rel string) {
	r.committed(rel)
	r.invalidatePath(rel)
}

// invalidatePath queues dropping the kernel's cached entry for rel and the
// data of its node, after a change made outside a request on rel (by a
// control op).
func (r *Root) invalidatePath(rel string) {
	parent := r.nodeAt(rel)
	if parent == nil {
		return
	}
	name := rel[strings.LastIndexByte(rel, '/')+1:]
	if ch := parent.GetChild(name); ch != nil {
		r.invalidate(ch)
	}
	select {
	case r.inval <- func() { parent.NotifyEntry(name) }:
	default:
	}
}
