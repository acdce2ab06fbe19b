package fs

import (
	"context"
	"fmt"
	"time"

	"github.com/paracfs/paracfs/backing"
)

// controlLogPrune answers OpLogPrune (LogPruneRequest), for the owner.
func controlLogPrune(ctx context.Context, r *Root, c backing.Caller, q LogPruneRequest) (LogPruneReply, error) {
	if q.Before == "" {
		return LogPruneReply{}, fmt.Errorf("op %q wants \"before\": an RFC 3339 time", OpLogPrune)
	}
	before, err := time.Parse(time.RFC3339Nano, q.Before)
	if err != nil {
		return LogPruneReply{}, fmt.Errorf("op %q: \"before\": %v", OpLogPrune, err)
	}
	c.Reads, c.HoldsLock = nil, nil
	removed, kept, err := r.d.PruneLog(before, c)
	if err != nil {
		return LogPruneReply{}, err
	}
	r.invalidatePath(r.d.Config().LogPath)
	return LogPruneReply{Removed: removed, Kept: kept}, nil
}

// LogReplaced drops the kernel's cached entries and data for the change
// log's files after the daemon renamed them (a rotation). Called on the
// root node, which NewRoot returns.
func (n *Node) LogReplaced(rels ...string) {
	for _, rel := range rels {
		n.r.invalidatePath(rel)
	}
}
