package backing

import (
	"os"
	"sync"
	"sync/atomic"

	"github.com/paracfs/paracfs/changelog"
)

// logState is Dir's change log: the open writer and its file, the files
// of the logs it was moved away from, and who is told of its changes.
// Appending a line is changelog.Writer's own business (its own lock); mu
// guards which file is open. Nothing else of Dir is under these locks.
type logState struct {
	mu      sync.Mutex        // guards w, f, retired and onReplaced: opening, rotating, pruning, moving the log
	w       *changelog.Writer // nil until the log is opened (at start, or at its first line)
	f       *os.File          // w's file
	retired []*os.File        // change logs in use before the config file moved the log; closed by Close

	// pruneMu: one prune, rotation or move of the log at a time (a
	// rotation gives way to the others); taken before mu.
	pruneMu sync.Mutex

	onReplaced func(rels ...string)             // told of a rotation (under mu)
	onAppended atomic.Pointer[func(rel string)] // told of every append to the log
	lost       atomic.Bool                      // a line could not be appended this run (see markLogSynced)

	// held are the lines that could not be appended (a full disk), in
	// order, written before the next line that can be; heldMu guards
	// them and orders their writing before later lines. dropped: more
	// failed than maxHeld holds, so lines are missing until the next
	// start recovers them.
	heldMu  sync.Mutex
	held    []*changelog.Entry
	nHeld   atomic.Int32
	dropped atomic.Bool
}

// maxHeld bounds the lines kept in memory for a log that cannot be
// written; beyond it the next start recovers the commit lines from the
// files' stamps.
const maxHeld = 4096
