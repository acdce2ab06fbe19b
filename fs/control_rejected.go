package fs

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/paracfs/paracfs/backing"
)

// The ops on refused writes kept under .paracfs/rejected/, which is
// read-only through the mount. The paracfs command resolves an ID to the
// kept file's name and sends that name. Both act as their caller
// (backing.ApplyKept, DropKept): apply is for the bytes' writer, who must
// be allowed to write the file; drop for the writer, the file's owner and
// root. With allow_other, the kept bytes of one user's refused write are
// not another user's to commit or to throw away.

// controlRejectedApply answers OpRejectedApply (RejectedApplyRequest).
func controlRejectedApply(ctx context.Context, r *Root, c backing.Caller, q RejectedApplyRequest) (RejectedApplyReply, error) {
	if err := keptArg(OpRejectedApply, q.Kept); err != nil {
		return RejectedApplyReply{}, err
	}
	k, res, err := r.d.ApplyKept(q.Kept, c)
	var ref *backing.Refusal
	if errors.As(err, &ref) {
		// The op ran and the write was refused again: say how, so
		// that the command can explain it.
		return RejectedApplyReply{Path: k.Path, Refused: ref.Op, Reason: ref.Reason,
			Errno: backing.ErrnoName(ref.Errno()), Kept: ref.Kept}, nil
	}
	if err != nil {
		return RejectedApplyReply{}, err
	}
	r.controlCommitted(k.Path)
	return RejectedApplyReply{Path: k.Path, Revision: res.Rev}, nil
}

// controlRejectedDrop answers OpRejectedDrop (RejectedDropRequest).
func controlRejectedDrop(ctx context.Context, r *Root, c backing.Caller, q RejectedDropRequest) (RejectedDropReply, error) {
	if err := keptArg(OpRejectedDrop, q.Kept); err != nil {
		return RejectedDropReply{}, err
	}
	k, err := r.d.DropKept(q.Kept, c)
	if err != nil {
		return RejectedDropReply{}, err
	}
	r.invalidatePath(q.Kept)
	return RejectedDropReply{Path: k.Path}, nil
}

// keptArg checks that a request names a kept file.
func keptArg(op, kept string) error {
	if kept == "" {
		return fmt.Errorf("op %q wants \"kept\": the kept file's name relative to DIR", op)
	}
	return nil
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
	parent.dirChanged()
	name := rel[strings.LastIndexByte(rel, '/')+1:]
	if ch := parent.GetChild(name); ch != nil {
		r.invalidate(ch)
	}
	select {
	case r.inval <- func() { parent.NotifyEntry(name) }:
	default:
	}
}
