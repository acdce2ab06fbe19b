package backing

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
)

// Renaming a managed file away is how editors save: vim renames x.yaml to
// x.yaml~, writes a new x.yaml, then removes x.yaml~. Between the rename
// and the new file's commit, other readers would find no x.yaml. So a
// rename of a managed file to a scratch name keeps the managed name in the
// backing directory: the new name gets a copy of the file, a scratch file
// of its own, and the old name stays until it is replaced by a commit or
// the rename is finished (FinishRename) once the renamer has had its
// chance to write it again. The front end hides the old name from the
// renaming process. A copy, not a hard link: writes to the scratch name
// must not reach the managed file without a commit.

// RenameAway gives newRel a copy of managed oldRel (replacing newRel
// atomically, as rename would) and leaves oldRel in place. It returns
// oldRel's inode number, to tell later whether it was replaced.
func (d *Dir) RenameAway(oldRel, newRel string, c Caller) (uint64, error) {
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
	unlock, err := d.lock(oldRel, opfd, obase, c, true)
	if err != nil {
		if r, ok := lockRefusal(oldRel, err); ok {
			return 0, d.refuse(r, c, nil, d.peekRevision(oldRel))
		}
		return 0, err
	}
	defer unlock()
	err = d.atParent(newRel, func(npfd int, nbase string) error {
		tmp := tempName(nbase)
		err := copyFile(opfd, obase, &st, npfd, tmp)
		if err == nil {
			err = unix.Renameat(npfd, tmp, npfd, nbase)
		}
		if err != nil {
			unix.Unlinkat(npfd, tmp, 0)
		}
		return err
	})
	return st.Ino, err
}

// copyFile copies regular file leaf in pfd (whose status is st) to a new
// file name in npfd, as mv would leave it: bytes, mode, owner, times and
// extended attributes, but not the revision stamp (a scratch file has
// none). The copy is fsynced: once the rename is finished it is the only
// copy of those bytes.
func copyFile(pfd int, leaf string, st *unix.Stat_t, npfd int, name string) error {
	sfd, err := unix.Openat(pfd, leaf, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	src := os.NewFile(uintptr(sfd), leaf)
	defer src.Close()
	dfd, err := unix.Openat(npfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	dst := os.NewFile(uintptr(dfd), name)
	defer dst.Close()
	if _, err := io.Copy(dst, src); err != nil { // copy_file_range where it can
		return err
	}
	copyXattrs(sfd, dfd)
	if os.Geteuid() == 0 {
		if err := unix.Fchown(dfd, int(st.Uid), int(st.Gid)); err != nil {
			return err
		}
	}
	if err := unix.Fchmod(dfd, st.Mode&0o7777); err != nil {
		return err
	}
	times := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(npfd, name, times, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return err
	}
	if err := dst.Sync(); err != nil {
		return err
	}
	return dst.Close()
}

// copyXattrs copies the extended attributes it can read and write, except
// paracfs's own.
func copyXattrs(sfd, dfd int) {
	sz, err := unix.Flistxattr(sfd, nil)
	if err != nil || sz == 0 {
		return
	}
	names := make([]byte, sz)
	if sz, err = unix.Flistxattr(sfd, names); err != nil {
		return
	}
	for _, n := range strings.Split(string(names[:sz]), "\x00") {
		if n == "" || strings.HasPrefix(n, xattrPrefix) {
			continue
		}
		if vsz, err := unix.Fgetxattr(sfd, n, nil); err == nil {
			v := make([]byte, vsz)
			if vsz, err = unix.Fgetxattr(sfd, n, v); err == nil {
				unix.Fsetxattr(dfd, n, v[:vsz], 0)
			}
		}
	}
}

// UndoRenameAway undoes RenameAway when the renamer puts scratchRel back
// on awayRel unchanged (vim restoring x.yaml~ after a refused save): if
// awayRel is still the file it left in place (inode ino) and scratchRel
// holds the very same bytes, scratchRel is removed and true returned, and
// nothing is committed or logged, since nothing changed. Otherwise it
// returns false and the rename is a commit like any other.
func (d *Dir) UndoRenameAway(scratchRel, awayRel string, ino uint64) (bool, error) {
	if d.Managed(scratchRel) || !d.Managed(awayRel) {
		return false, nil
	}
	if err := d.begin(); err != nil {
		return false, err
	}
	defer d.inflight.Done()
	if !d.locks.acquire(awayRel, time.Now().Add(d.Config().LockTimeout)) {
		return false, nil // a commit of awayRel is under way: let it decide
	}
	defer d.locks.release(awayRel)
	read := func(rel string) ([]byte, uint64, error) {
		fd, err := d.openat(rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
		if err != nil {
			return nil, 0, err
		}
		defer unix.Close(fd)
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			return nil, 0, err
		}
		if st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil, 0, unix.EINVAL
		}
		b, err := readAllFd(fd, st.Size, d.Config().Limits.MaxSize)
		return b, st.Ino, err
	}
	away, aino, err := read(awayRel)
	if err != nil || aino != ino {
		return false, nil
	}
	scratch, _, err := read(scratchRel)
	if err != nil || !bytes.Equal(away, scratch) {
		return false, nil
	}
	if err := d.atParent(scratchRel, func(pfd int, leaf string) error { return unix.Unlinkat(pfd, leaf, 0) }); err != nil {
		return false, err
	}
	d.touchCtime(awayRel)
	return true, nil
}

// touchCtime moves rel's ctime to now and changes nothing else, as the two
// renames an undone rename away stands for do on a plain filesystem.
func (d *Dir) touchCtime(rel string) {
	fd, err := d.openat(rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if unix.Fstat(fd, &st) == nil {
		unix.Fchmod(fd, st.Mode&0o7777)
	}
}

// FinishRename removes oldRel after RenameAway (or after an unlink that the
// front end held back, when newRel is ""), unless a commit replaced it meanwhile
// (its inode is no longer ino), and logs it as a delete of oldRel.
func (d *Dir) FinishRename(oldRel, newRel string, ino uint64, c Caller) error {
	what := "deleted"
	if newRel != "" {
		what = "renamed to " + newRel
	}
	return d.away(oldRel, c, changelog.OpDelete, what, func(pfd int, leaf string) error {
		var st unix.Stat_t
		if err := unix.Fstatat(pfd, leaf, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return err
		}
		if st.Ino != ino {
			return errReplaced
		}
		return unix.Unlinkat(pfd, leaf, 0)
	})
}

// errReplaced: the away name was committed again; nothing to finish.
var errReplaced = fmt.Errorf("replaced by a commit")

// IsReplaced reports the FinishRename error for a name committed again.
func IsReplaced(err error) bool { return errors.Is(err, errReplaced) }
