package backing

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/paracfs/paracfs/changelog"
)

// Stats are a mount's counters since it started, and its last refusals,
// newest last: what `paracfs status` shows, so that a refusal is visible
// even to a tool that ignored the error close() returned.
type Stats struct {
	Commits      int64         `json:"commits"`       // commits made (every op: commit, create, rename, apply, ...)
	Conflicts    int64         `json:"conflicts"`     // writes refused as stale
	Invalid      int64         `json:"invalid"`       // writes refused for their content (invalid, too large)
	LockTimeouts int64         `json:"lock_timeouts"` // writes refused on a lock held too long
	Refused      int64         `json:"refused"`       // every refusal, the above and the rest (append-only, read-only)
	Last         []RefusalNote `json:"last_refusals,omitempty"`
}

// RefusalNote is one refusal, as status shows it.
type RefusalNote struct {
	Time    string `json:"time"` // changelog.Timestamp
	Path    string `json:"path"`
	Op      string `json:"op"`
	Reason  string `json:"reason"`
	Errno   string `json:"errno"`
	Pid     int    `json:"pid"`
	Command string `json:"command,omitempty"`
	Kept    string `json:"kept,omitempty"`
	Uid     uint32 `json:"uid"`
	Hidden  bool   `json:"hidden,omitempty"` // Reason quotes what not everyone may read

	// The file's owner, group and mode (type bits included) when it was
	// refused; mode 0: there was no file. Never shown.
	owner, group, mode uint32
}

// lastRefusals is how many refusals Stats keeps.
const lastRefusals = 20

type stats struct {
	commits, conflicts, invalid, lockTimeouts, refused atomic.Int64

	mu   sync.Mutex
	ring [lastRefusals]RefusalNote
	n    int // refusals recorded in ring, at most lastRefusals
	next int // where the next one goes
}

func (s *stats) committed() { s.commits.Add(1) }

func (s *stats) refusal(r *Refusal, c Caller, hidden bool, was *Stat) {
	s.refused.Add(1)
	switch r.Op {
	case OpConflict:
		s.conflicts.Add(1)
	case OpInvalid, OpTooLarge:
		s.invalid.Add(1)
	case OpLockTimeout:
		s.lockTimeouts.Add(1)
	}
	note := RefusalNote{Time: changelog.Timestamp(time.Now()), Path: r.Path, Op: r.Op, Reason: r.Reason,
		Errno: ErrnoName(r.Errno()), Pid: c.Pid, Command: c.Command, Kept: r.Kept, Uid: c.Uid, Hidden: hidden}
	if was != nil {
		note.owner, note.group, note.mode = was.Uid, was.Gid, was.Mode
	}
	s.mu.Lock()
	s.ring[s.next] = note
	s.next = (s.next + 1) % lastRefusals
	s.n = min(s.n+1, lastRefusals)
	s.mu.Unlock()
}

// StatsFor is Stats as caller c may see it: a refusal's reason that not
// everyone may read is shown to its writer, to root and the daemon's user,
// and to those who may read the file now, and could read it as it was
// when it was refused if its owner changed since (a name deleted and made
// again gives no rights over what it held); to others it says hidden.
func (d *Dir) StatsFor(c Caller) Stats {
	st := d.Stats()
	for i := range st.Last {
		n := &st.Last[i]
		if n.Hidden && !privileged(c) && n.Uid != c.Uid && !d.mayReadRefused(n, c) {
			n.Reason = HiddenReason(n.Path)
		}
	}
	return st
}

// mayReadRefused reports whether c may read what refusal n quotes.
func (d *Dir) mayReadRefused(n *RefusalNote, c Caller) bool {
	if n.mode == 0 || !d.MayRead(n.Path, c) {
		return false // no file then: its writer's alone
	}
	if st, err := d.Lstat(n.Path); err == nil && st.Uid == n.owner {
		return true
	}
	return permits(c.Uid, d.accessFor(c).groups, n.owner, n.group, n.mode, 4)
}

// Stats returns the counters and the last refusals, oldest first.
func (d *Dir) Stats() Stats {
	s := &d.stats
	out := Stats{Commits: s.commits.Load(), Conflicts: s.conflicts.Load(), Invalid: s.invalid.Load(),
		LockTimeouts: s.lockTimeouts.Load(), Refused: s.refused.Load(), Last: []RefusalNote{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := 0; i < s.n; i++ {
		out.Last = append(out.Last, s.ring[(s.next-s.n+i+lastRefusals)%lastRefusals])
	}
	return out
}
