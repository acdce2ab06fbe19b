package backing

import (
	"encoding/binary"
	"errors"
	"os"
	"strconv"
	"strings"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The namespace operations below act on any file; those that change a
// managed file's content go through Commit, Remove and Rename instead.

// Stat is a file's status with its birth time, which tells a file from a
// later one that reuses its inode number.
type Stat struct {
	unix.Stat_t
	Birth uint64 // nanoseconds since the epoch; 0 when unknown
}

// Lstat stats rel without following a final symlink.
func (d *Dir) Lstat(rel string) (Stat, error) {
	var st Stat
	if rel == "" {
		return st, unix.Fstat(d.fd, &st.Stat_t)
	}
	pfd, leaf := d.fd, rel
	if rel == MetaDir { // paracfs's data, beside DIR
		if d.meta == nil {
			return st, unix.ENOENT
		}
		pfd, leaf = d.meta.up, d.meta.name
	} else if dir, name := split(rel); dir != "." {
		r, err := d.dirs.get(d, dir)
		if err != nil {
			return st, err
		}
		defer d.dirs.put(r)
		pfd, leaf = r.fd, name
	}
	var x unix.Statx_t
	err := unix.Statx(pfd, leaf, unix.AT_SYMLINK_NOFOLLOW|unix.AT_STATX_SYNC_AS_STAT,
		unix.STATX_BASIC_STATS|unix.STATX_BTIME, &x)
	if err != nil {
		return st, err
	}
	s := &st.Stat_t
	s.Dev = unix.Mkdev(x.Dev_major, x.Dev_minor)
	s.Rdev = unix.Mkdev(x.Rdev_major, x.Rdev_minor)
	s.Ino, s.Nlink, s.Mode = x.Ino, uint64(x.Nlink), uint32(x.Mode)
	s.Uid, s.Gid = x.Uid, x.Gid
	s.Size, s.Blksize, s.Blocks = int64(x.Size), int64(x.Blksize), int64(x.Blocks)
	s.Atim = unix.Timespec{Sec: x.Atime.Sec, Nsec: int64(x.Atime.Nsec)}
	s.Mtim = unix.Timespec{Sec: x.Mtime.Sec, Nsec: int64(x.Mtime.Nsec)}
	s.Ctim = unix.Timespec{Sec: x.Ctime.Sec, Nsec: int64(x.Ctime.Nsec)}
	if x.Mask&unix.STATX_BTIME != 0 {
		st.Birth = uint64(x.Btime.Sec)*1e9 + uint64(x.Btime.Nsec)
	}
	return st, nil
}

// OpenFile opens rel for direct use (scratch files, and reads of managed
// files). Writes inside .paracfs/ are refused. A file it creates belongs to
// the caller.
func (d *Dir) OpenFile(rel string, flags int, mode uint32, c Caller) (int, error) {
	if IsMeta(rel) && (flags&(unix.O_WRONLY|unix.O_RDWR|unix.O_CREAT|unix.O_TRUNC) != 0) {
		return -1, unix.EPERM
	}
	fd, err := d.openat(rel, flags|unix.O_NOFOLLOW, mode&0o7777)
	if err != nil {
		return -1, err
	}
	if flags&unix.O_CREAT != 0 {
		d.own(fd, c)
	}
	return fd, nil
}

// own gives a file the daemon just created to the caller (root daemons
// only): the caller's user, and its group unless the file took its
// setgid directory's group.
func (d *Dir) own(fd int, c Caller) {
	if os.Geteuid() != 0 {
		return
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil {
		return
	}
	if gid := createdGid(&st, c); st.Uid != c.Uid || st.Gid != uint32(gid) {
		unix.Fchown(fd, int(c.Uid), gid)
	}
}

// ownAt is own for a name in directory pfd, never followed.
func ownAt(pfd int, leaf string, c Caller) {
	if os.Geteuid() != 0 {
		return
	}
	gid := int(c.Gid)
	if g := setgidGroup(pfd); g >= 0 {
		gid = g
	}
	unix.Fchownat(pfd, leaf, int(c.Uid), gid, unix.AT_SYMLINK_NOFOLLOW)
}

// createdGid is the group of an entry the (root) daemon has just made for
// c: c's group, unless the entry took its directory's group, as in a
// setgid directory (the daemon's own group is 0, so any other group came
// from the directory; a setgid directory of group 0 gives 0, c's group
// then, which is the one case this cannot tell apart).
func createdGid(st *unix.Stat_t, c Caller) int {
	if st.Gid != uint32(os.Getegid()) {
		return int(st.Gid)
	}
	return int(c.Gid)
}

// setgidGroup is the group a new entry in directory dfd takes from it
// when it is setgid; -1 when it is not.
func setgidGroup(dfd int) int {
	var st unix.Stat_t
	if unix.Fstat(dfd, &st) != nil || st.Mode&unix.S_ISGID == 0 {
		return -1
	}
	return int(st.Gid)
}

// ReadFile reads a managed file's committed bytes with its revision, both
// from the same open file, so they belong together. A change made behind
// the mount's back is noticed (and counted) here.
func (d *Dir) ReadFile(rel string) (data []byte, rev int64, err error) {
	fd, err := d.openat(rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err == unix.ENOENT {
		rev, _ := d.revs.tombstone(rel)
		return nil, rev, err
	}
	if err != nil {
		return nil, 0, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, 0, err
	}
	data, err = readAllFd(fd, st.Size, d.Config().Limits.MaxSize)
	if err != nil {
		return nil, 0, unix.EFBIG
	}
	if rev, err = d.noticeExternal(fd, rel); err != nil {
		return nil, 0, err
	}
	return data, rev, nil
}

// OpenRead opens a managed file for reading and returns its revision, read
// from the same open file. A change made behind the mount's back is
// noticed (and counted) here.
func (d *Dir) OpenRead(rel string, flags int) (fd int, rev int64, err error) {
	fd, err = d.openat(rel, flags|unix.O_NOFOLLOW, 0)
	if err != nil {
		return -1, 0, err
	}
	if rev, err = d.noticeExternal(fd, rel); err != nil {
		unix.Close(fd)
		return -1, 0, err
	}
	return fd, rev, nil
}

// Mkdir creates a directory owned by the caller.
func (d *Dir) Mkdir(rel string, mode uint32, c Caller) error {
	if IsMeta(rel) {
		return unix.EPERM
	}
	pfd, leaf, err := d.parent(rel)
	if err != nil {
		return err
	}
	defer d.closeParent(pfd)
	if err := unix.Mkdirat(pfd, leaf, mode&0o7777); err != nil {
		return err
	}
	ownAt(pfd, leaf, c)
	return nil
}

// Rmdir removes an empty directory.
func (d *Dir) Rmdir(rel string, c Caller) error {
	if IsMeta(rel) {
		return unix.EPERM
	}
	if d.HoldsLog(rel) {
		return d.AppendOnly(LogRemove, rel, 0, -1, c)
	}
	defer d.dirs.flush()
	return d.atParent(rel, func(pfd int, leaf string) error { return unix.Unlinkat(pfd, leaf, unix.AT_REMOVEDIR) })
}

// Symlink creates a symlink owned by the caller.
func (d *Dir) Symlink(target, rel string, c Caller) error {
	if IsMeta(rel) {
		return unix.EPERM
	}
	return d.atParent(rel, func(pfd int, leaf string) error {
		if err := unix.Symlinkat(target, pfd, leaf); err != nil {
			return err
		}
		ownAt(pfd, leaf, c)
		return nil
	})
}

// Mknod creates a named pipe, a socket or a device node owned by the
// caller. The caller (fs) checks that a device node is made only for who
// could make it itself. A regular file under a managed name is created by
// a commit (fs), never here.
func (d *Dir) Mknod(rel string, mode, dev uint32, c Caller) error {
	if IsMeta(rel) {
		return unix.EPERM
	}
	switch mode & unix.S_IFMT {
	case unix.S_IFIFO, unix.S_IFSOCK:
		dev = 0
	case unix.S_IFCHR, unix.S_IFBLK:
	case unix.S_IFREG, 0:
		if d.Managed(rel) {
			return unix.EPERM
		}
		dev = 0
	default:
		return unix.EPERM
	}
	return d.atParent(rel, func(pfd int, leaf string) error {
		if err := unix.Mknodat(pfd, leaf, mode, int(dev)); err != nil {
			return err
		}
		ownAt(pfd, leaf, c)
		return nil
	})
}

// Readlink reads a symlink.
func (d *Dir) Readlink(rel string) (string, error) {
	var target string
	err := d.atParent(rel, func(pfd int, leaf string) error {
		buf := make([]byte, 4096)
		n, err := unix.Readlinkat(pfd, leaf, buf)
		if err != nil {
			return err
		}
		target = string(buf[:n])
		return nil
	})
	return target, err
}

// Link makes a hard link between scratch names. A link to or from a managed
// name is refused (EPERM): writes through the scratch name would change the
// managed file behind its commit.
func (d *Dir) Link(oldRel, newRel string) error {
	if IsMeta(oldRel) || IsMeta(newRel) || d.Managed(oldRel) || d.Managed(newRel) {
		return unix.EPERM
	}
	opfd, obase, err := d.parent(oldRel)
	if err != nil {
		return err
	}
	defer d.closeParent(opfd)
	return d.atParent(newRel, func(npfd int, nbase string) error {
		return unix.Linkat(opfd, obase, npfd, nbase, 0)
	})
}

// Chmod changes a file's mode. Symlinks have none.
func (d *Dir) Chmod(rel string, mode uint32) error {
	return d.viaPath(rel, func(p string) error { return unix.Fchmodat(unix.AT_FDCWD, p, mode, 0) })
}

// Chown changes a file's owner and group (-1 keeps one).
func (d *Dir) Chown(rel string, uid, gid int) error {
	if IsMeta(rel) {
		return unix.EPERM
	}
	if rel == "" {
		return unix.Fchownat(d.fd, "", uid, gid, unix.AT_EMPTY_PATH) // DIR itself
	}
	return d.atParent(rel, func(pfd int, leaf string) error {
		return unix.Fchownat(pfd, leaf, uid, gid, unix.AT_SYMLINK_NOFOLLOW)
	})
}

// Utimes sets access and modification times (UTIME_OMIT keeps one).
func (d *Dir) Utimes(rel string, ts [2]unix.Timespec) error {
	if IsMeta(rel) {
		return unix.EPERM
	}
	if rel == "" {
		return unix.UtimesNanoAt(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(d.fd), ts[:], 0) // DIR itself
	}
	return d.atParent(rel, func(pfd int, leaf string) error {
		return unix.UtimesNanoAt(pfd, leaf, ts[:], unix.AT_SYMLINK_NOFOLLOW)
	})
}

// Truncate changes a scratch file's size by path.
func (d *Dir) Truncate(rel string, size int64) error {
	fd, err := d.OpenFile(rel, unix.O_WRONLY, 0, Caller{})
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return unix.Ftruncate(fd, size)
}

// Statfs reports the backing filesystem.
func (d *Dir) Statfs() (unix.Statfs_t, error) {
	var st unix.Statfs_t
	return st, unix.Fstatfs(d.fd, &st)
}

// viaPath runs fn on /proc/self/fd/N for an O_PATH descriptor of rel, so that
// calls without an *at() form act on rel itself, never through a symlink.
func (d *Dir) viaPath(rel string, fn func(p string) error) error {
	if IsMeta(rel) {
		return unix.EPERM
	}
	fd, err := d.openat(rel, unix.O_PATH|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK {
		return unix.EOPNOTSUPP
	}
	return fn("/proc/self/fd/" + strconv.Itoa(fd))
}

func (d *Dir) atParent(rel string, fn func(pfd int, leaf string) error) error {
	pfd, leaf, err := d.parent(rel)
	if err != nil {
		return err
	}
	defer d.closeParent(pfd)
	return fn(pfd, leaf)
}

// DirEntry is one name in a directory.
type DirEntry struct {
	Name string
	Ino  uint64
	Type uint8 // unix.DT_*
}

// SyncDir is fsync(2) of the directory rel: what a saver that renames a
// file into place and then syncs the directory (shred -u, renameio) asks.
func (d *Dir) SyncDir(rel string) error {
	fd, err := d.openat(rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fsync(fd)
}

// ReadDir lists a directory, leaving out "." and ".." and, unless all is
// set, the daemon's own temp files and its metadata folder (which stays
// reachable by name: ls .parac/.paracfs/rejected).
func (d *Dir) ReadDir(rel string, all bool) ([]DirEntry, error) {
	top := rel == "" || rel == "."
	fd, err := d.openat(rel, unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var out []DirEntry
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n <= 0 {
			return out, nil
		}
		for b := buf[:n]; len(b) >= 19; {
			reclen := int(binary.NativeEndian.Uint16(b[16:18]))
			if reclen == 0 || reclen > len(b) {
				break
			}
			name := b[19:reclen]
			if i := strings.IndexByte(unsafeString(name), 0); i >= 0 {
				name = name[:i]
			}
			e := DirEntry{Name: string(name), Ino: binary.NativeEndian.Uint64(b[0:8]), Type: b[18]}
			b = b[reclen:]
			if e.Name == "." || e.Name == ".." || (!all && (IsTemp(e.Name) || (top && e.Name == MetaDir))) {
				continue
			}
			out = append(out, e)
		}
	}
}

func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// Xattrs. user.paracfs.* belongs to paracfs: hidden from listings and
// never written through the mount.

const xattrPrefix = "user.paracfs."

// GetXattr reads an extended attribute of rel.
func (d *Dir) GetXattr(rel, attr string, dest []byte) (int, error) {
	if strings.HasPrefix(attr, xattrPrefix) {
		return 0, unix.ENODATA
	}
	var n int
	err := d.atParent(rel, func(pfd int, leaf string) error {
		var err error
		n, err = unix.Lgetxattr(procAt(pfd, leaf), attr, dest)
		return err
	})
	return n, err
}

// SetXattr sets an extended attribute of rel.
func (d *Dir) SetXattr(rel, attr string, data []byte, flags int) error {
	if strings.HasPrefix(attr, xattrPrefix) || IsMeta(rel) {
		return unix.EPERM
	}
	return d.atParent(rel, func(pfd int, leaf string) error {
		return unix.Lsetxattr(procAt(pfd, leaf), attr, data, flags)
	})
}

// RemoveXattr removes an extended attribute of rel.
func (d *Dir) RemoveXattr(rel, attr string) error {
	if strings.HasPrefix(attr, xattrPrefix) || IsMeta(rel) {
		return unix.EPERM
	}
	return d.atParent(rel, func(pfd int, leaf string) error {
		return unix.Lremovexattr(procAt(pfd, leaf), attr)
	})
}

// ListXattr lists rel's extended attributes, without paracfs's own.
func (d *Dir) ListXattr(rel string) ([]string, error) {
	var names []string
	err := d.atParent(rel, func(pfd int, leaf string) error {
		p := procAt(pfd, leaf)
		sz, err := unix.Llistxattr(p, nil)
		if err != nil || sz == 0 {
			return err
		}
		buf := make([]byte, sz)
		sz, err = unix.Llistxattr(p, buf)
		if err != nil {
			return err
		}
		for _, n := range strings.Split(string(buf[:sz]), "\x00") {
			if n != "" && !strings.HasPrefix(n, xattrPrefix) {
				names = append(names, n)
			}
		}
		return nil
	})
	return names, err
}

// procAt names leaf in the directory pfd through /proc; an empty leaf
// names the directory itself (DIR, for the mount's top).
func procAt(pfd int, leaf string) string {
	if leaf == "" {
		return "/proc/self/fd/" + strconv.Itoa(pfd) + "/."
	}
	return "/proc/self/fd/" + strconv.Itoa(pfd) + "/" + leaf
}

// Errno extracts the errno of an error from this package (EIO if none).
func Errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	if r, ok := err.(*Refusal); ok {
		return r.Errno()
	}
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return syscall.EIO
}
