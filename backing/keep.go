package backing

import (
	"errors"
	"fmt"

	"golang.org/x/sys/unix"
)

// Renaming a managed file away is how editors save: vim renames x.yaml to
// x.yaml~, writes a new x.yaml, then removes x.yaml~. Between the rename
// and the new file's commit, other readers would find no x.yaml. So a
// rename of a managed file to a scratch name keeps the managed name in the
// backing directory: the new name becomes a hard link to the same file,
// and the old name stays until it is replaced by a commit or the rename is
// finished (FinishRename) once the renamer has had its chance to write it
// again. The front end hides the old name from the renaming process.

// RenameKeep gives managed oldRel the scratch name newRel too (replacing
// newRel atomically, as rename would) and leaves oldRel in place. It
// returns oldRel's inode number, to tell later whether it was replaced.
func (d *Dir) RenameKeep(oldRel, newRel string, c Caller) (uint64, error) {
	if IsMeta(newRel) || d.IsLog(oldRel) {
		return 0, unix.EPERM
	}
	if err := d.begin(); err != nil {
		return 0, err
	}
	defer d.inflight.Done()
	opfd, obase, err := d.parent(oldRel)
	if err != nil {
		return 0, err
	}
	defer d.closeParent(opfd)
	var st unix.Stat_t
	if err := unix.Fstatat(opfd, obase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return 0, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return 0, unix.EINVAL
	}
	unlock, err := d.lock(oldRel, opfd, obase, c)
	if err != nil {
		var lt *errLockTimeout
		if errors.As(err, &lt) {
			return 0, d.refuse(&Refusal{Op: OpLockTimeout, Path: oldRel, Reason: err.Error()}, c, nil, d.peekRevision(oldRel))
		}
		return 0, err
	}
	defer unlock()
	err = d.atParent(newRel, func(npfd int, nbase string) error {
		tmp := tempName(nbase)
		if err := unix.Linkat(opfd, obase, npfd, tmp, 0); err != nil {
			return err
		}
		if err := unix.Renameat(npfd, tmp, npfd, nbase); err != nil {
			unix.Unlinkat(npfd, tmp, 0)
			return err
		}
		return nil
	})
	return st.Ino, err
}

// FinishRename removes oldRel after RenameKeep (or after an unlink that the
// front end kept, when newRel is ""), unless a commit replaced it meanwhile
// (its inode is no longer ino), and logs it as a delete of oldRel.
func (d *Dir) FinishRename(oldRel, newRel string, ino uint64, c Caller) error {
	what := "deleted"
	if newRel != "" {
		what = "renamed to " + newRel
	}
	return d.away(oldRel, c, "delete", what, func(pfd int, base string) error {
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if st.Ino != ino {
			return errReplaced
		}
		return unix.Unlinkat(pfd, base, 0)
	})
}

// errReplaced: the kept name was committed again; nothing to finish.
var errReplaced = fmt.Errorf("replaced by a commit")

// IsReplaced reports the FinishRename error for a name committed again.
func IsReplaced(err error) bool { return errors.Is(err, errReplaced) }
