package fs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/paracfs/paracfs/backing"
)

// {"op":"log.prune","before":"RFC 3339 time"} removes the change log's
// entries stamped before that time, in the daemon, holding the log's
// append lock (see backing.PruneLog) → {"removed","kept"}. Owner only.
func init() {
	RegisterControl("log.prune", true, func(ctx context.Context, r *Root, c backing.Caller, req ControlRequest) (any, error) {
		var a struct {
			Before string `json:"before"`
		}
		if err := json.Unmarshal(req.Raw, &a); err != nil || a.Before == "" {
			return nil, fmt.Errorf("op %q wants \"before\": an RFC 3339 time", req.Op)
		}
		before, err := time.Parse(time.RFC3339Nano, a.Before)
		if err != nil {
			return nil, fmt.Errorf("op %q: \"before\": %v", req.Op, err)
		}
		c.Reads, c.HoldsLock = nil, nil
		removed, kept, err := r.d.PruneLog(before, c)
		if err != nil {
			return nil, err
		}
		r.invalidatePath(r.d.Config().LogPath)
		return map[string]any{"removed": removed, "kept": kept}, nil
	})
}

// LogReplaced drops the kernel's cached entries and data for the change
// log's files after the daemon renamed them (a rotation). Called on the
// root node, which NewRoot returns.
func (n *Node) LogReplaced(rels ...string) {
	for _, rel := range rels {
		n.r.invalidatePath(rel)
	}
}
