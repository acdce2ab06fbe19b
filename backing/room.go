package backing

import (
	"errors"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
)

// A full disk, a read-only disk or an I/O error at commit is a refusal
// like any other: the writer gets ENOSPC, EROFS or EIO, the file is
// untouched (the temp file is removed), the refusal is counted, logged
// where the log can still be written, and the bytes are kept where there
// is room (else the reason says they could not be).
const (
	OpNoSpace    = changelog.OpNoSpace    // the backing filesystem is full (ENOSPC, EDQUOT)
	OpReadOnlyFS = changelog.OpReadOnlyFS // the backing filesystem is read-only
	OpIOError    = changelog.OpIOError    // the backing filesystem reported an I/O error
	OpIsDir      = changelog.OpIsDir      // a directory took the file's name
)

// diskRefusal classifies an error of the backing filesystem met while
// committing; false for other errors.
func diskRefusal(rel string, err error) (*Refusal, bool) {
	var e syscall.Errno
	if !errors.As(err, &e) {
		return nil, false
	}
	op := ""
	switch e {
	case unix.ENOSPC, unix.EDQUOT:
		op = OpNoSpace
	case unix.EROFS:
		op = OpReadOnlyFS
	case unix.EIO:
		op = OpIOError
	case unix.EISDIR:
		op = OpIsDir
	default:
		return nil, false
	}
	return &Refusal{Op: op, Path: rel, Reason: fmt.Sprintf("the backing filesystem: %v", err)}, true
}

// roomMargin is what a commit needs besides its bytes: the log line, the
// history index line, directory entries.
const roomMargin = 64 << 10

// Room tells whether the backing filesystem has room for a commit of a
// file of size bytes: the temp file, and the history's copy when history
// is on, plus a margin. It returns ENOSPC (or EROFS on a read-only
// filesystem) as a write() to the disk itself would, so that a writer
// that ignores close() errors (a shell's `echo >`) still sees it.
func (d *Dir) Room(size int64) error {
	var st unix.Statfs_t
	if unix.Fstatfs(d.fd, &st) != nil {
		return nil // unknown: the commit will tell
	}
	if st.Flags&unix.ST_RDONLY != 0 {
		return unix.EROFS
	}
	need := size + roomMargin
	if d.Config().History.MaxVersions >= 0 {
		need += size
	}
	if free := int64(st.Bavail) * st.Bsize; st.Blocks > 0 && free < need {
		return unix.ENOSPC
	}
	return nil
}

// RoomReason says why Room refused, for the refusal's log line.
func (d *Dir) RoomReason(size int64, err error) (op, reason string) {
	var b *BudgetError
	if errors.As(err, &b) {
		return OpNoSpace, b.Reason
	}
	if errors.Is(err, unix.EROFS) {
		return OpReadOnlyFS, "the backing filesystem is read-only"
	}
	var st unix.Statfs_t
	unix.Fstatfs(d.fd, &st)
	return OpNoSpace, fmt.Sprintf("no room on the backing filesystem for a %d-byte file (%d bytes free): the write failed with ENOSPC", size, int64(st.Bavail)*st.Bsize)
}
