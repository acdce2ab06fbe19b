package fs

import (
	"context"
	"os"

	"github.com/paracfs/paracfs/backing"
)

// controlStatus answers OpStatus (StatusRequest): anyone who can enter the
// mount may ask.
func controlStatus(ctx context.Context, r *Root, c backing.Caller, q StatusRequest) (StatusReply, error) {
	cfg := r.d.Config()
	out := StatusReply{
		Pid: os.Getpid(),
		Dir: r.d.Root,
		Config: map[string]any{
			"globs":        cfg.Globs,
			"lock_timeout": cfg.LockTimeout.String(),
			"max_size":     cfg.Limits.MaxSize,
			"rejected_max": cfg.RejectedMax,
			"log":          cfg.LogPath,
			"rules":        len(cfg.Rules), // from DIR's paracfs.yaml
		},
		Stats: r.d.StatsFor(c),
	}
	r.d.StoreStatus(out.Config) // --store: the store and whether it answers
	return out, nil
}
