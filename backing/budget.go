package backing

import (
	"fmt"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// DefaultStagingMaxSize bounds the memory that writes staged on open
// handles take, all handles together: a write past it fails with ENOSPC,
// and its handle's commit is refused (op no_space) with a log line.
const DefaultStagingMaxSize = 256 << 20

// DefaultFdReserve is the number of descriptors kept for commits: read
// handles beyond RLIMIT_NOFILE less the reserve are refused with EMFILE,
// so that a commit never fails for lack of a descriptor.
const DefaultFdReserve = 1024

// BudgetError is a bound of the daemon's own reached: it carries the
// errno the writer or reader gets, and the reason logged.
type BudgetError struct {
	Errno  syscall.Errno
	Reason string
}

func (e *BudgetError) Error() string { return e.Reason }
func (e *BudgetError) Unwrap() error { return e.Errno }

// budgets are the daemon's counters of staged bytes and read handles.
type budgets struct {
	staged atomic.Int64
	reads  atomic.Int64
}

// ReserveStaging accounts n more bytes staged by a handle, or refuses
// them past the staging bound.
func (d *Dir) ReserveStaging(n int64) error {
	bound := d.Config().StagingMaxSize
	if now := d.budget.staged.Add(n); bound > 0 && now > bound {
		d.budget.staged.Add(-n)
		return &BudgetError{Errno: syscall.ENOSPC, Reason: fmt.Sprintf(
			"the writes staged on open handles would take %d bytes, past the %d-byte bound (staging_max_size): the write failed with ENOSPC", now, bound)}
	}
	return nil
}

// ReleaseStaging gives back n bytes a handle staged.
func (d *Dir) ReleaseStaging(n int64) { d.budget.staged.Add(-n) }

// Staged is the bytes staged on open handles.
func (d *Dir) Staged() int64 { return d.budget.staged.Load() }

// fdLimit is RLIMIT_NOFILE's soft limit, raised to the hard one at start.
var fdLimit atomic.Int64

// RaiseFdLimit raises the soft limit on descriptors to the hard one, and
// remembers it for the read handles' budget.
func RaiseFdLimit() {
	var rl unix.Rlimit
	if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) != nil {
		return
	}
	if rl.Cur < rl.Max {
		old := rl.Cur
		rl.Cur = rl.Max
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &rl) != nil {
			rl.Cur = old
		}
	}
	fdLimit.Store(int64(rl.Cur))
}

// AcquireRead accounts one more read handle's descriptor, or refuses it
// with EMFILE once the descriptors left would be fewer than the reserve.
func (d *Dir) AcquireRead() error {
	limit := fdLimit.Load()
	if limit == 0 {
		var rl unix.Rlimit
		if unix.Getrlimit(unix.RLIMIT_NOFILE, &rl) == nil {
			limit = int64(rl.Cur)
			fdLimit.Store(limit)
		}
	}
	reserve := d.Config().FdReserve
	if reserve < 0 {
		reserve = 0
	}
	budget := max(limit-reserve, limit/4)
	if now := d.budget.reads.Add(1); limit > 0 && now > budget {
		d.budget.reads.Add(-1)
		return &BudgetError{Errno: syscall.EMFILE, Reason: fmt.Sprintf(
			"%d read handles are open: the rest of the %d descriptors are kept for commits (fd_reserve %d)", now-1, limit, reserve)}
	}
	return nil
}

// ReleaseRead gives back a read handle's descriptor.
func (d *Dir) ReleaseRead() { d.budget.reads.Add(-1) }
