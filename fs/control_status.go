package fs

import (
	"context"
	"os"

	"github.com/paracfs/paracfs/backing"
)

// {"op":"status"} → the mount's counters and last refusals (backing.Stats)
// with the daemon's pid and the configuration in force. Anyone who can
// enter the mount may ask; a reason that quotes a file the caller may not
// read says hidden (backing.StatsFor).
func init() {
	RegisterControl("status", false, func(ctx context.Context, r *Root, c backing.Caller, req ControlRequest) (any, error) {
		cfg := r.d.Config()
		out := struct {
			Pid    int            `json:"pid"`
			Dir    string         `json:"dir"`
			Config map[string]any `json:"config"`
			backing.Stats
		}{
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
	})
}
