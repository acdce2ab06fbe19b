package backing

import (
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
)

// paracfs's own data (history, objects, refused writes, tombstones,
// stamps, the control file, the daemon's state and log) lives outside DIR,
// in a sibling folder: <parent of DIR>/.<base of DIR>.paracfs, e.g.
// /proj/.parac.paracfs for /proj/.parac. Nothing of paracfs's own is then
// in DIR, where git, ls or paracle's `governance repair` (which moves what
// it does not know inside .parac) would meet it.
//
// Callers keep naming that data as before, MetaDir + "/...": the lowest
// helpers here (openat, parent, Lstat) send those names to a
// descriptor of the sibling, opened once in Open, with the prefix cut.
// Through the mount, .paracfs stays reachable by name at DIR's top.

// metaDir is the sibling folder, open.
type metaDir struct {
	fd   int    // O_PATH|O_DIRECTORY on the sibling
	up   int    // O_PATH|O_DIRECTORY on DIR's parent
	name string // the sibling's name in DIR's parent
	path string // its absolute path, for messages only
}

// MetaPath is where paracfs keeps its data for the directory root: the
// sibling <parent of root>/.<base of root>.paracfs (one leading dot:
// /proj/.parac.paracfs for /proj/.parac).
func MetaPath(root string) string {
	root = filepath.Clean(root)
	return filepath.Join(filepath.Dir(root), metaName(root))
}

// metaName is the sibling's name: DIR's base with a leading dot (one: the
// data of .parac is in .parac.paracfs) and .paracfs after it.
func metaName(root string) string {
	return "." + strings.TrimPrefix(filepath.Base(filepath.Clean(root)), ".") + ".paracfs"
}

// metaRel says whether rel names paracfs's data, and what it names inside
// the sibling ("." for the folder itself).
func metaRel(rel string) (string, bool) {
	if rel == MetaDir {
		return ".", true
	}
	if strings.HasPrefix(rel, MetaDir+"/") {
		return rel[len(MetaDir)+1:], true
	}
	return "", false
}

// resolve returns the descriptor rel is to be resolved beneath, and rel
// relative to it.
func (d *Dir) resolve(rel string) (int, string, error) {
	if in, ok := metaRel(rel); ok {
		if d.meta == nil {
			return -1, "", unix.ENOENT // opened without it (Check, ReadConfig)
		}
		return d.meta.fd, in, nil
	}
	return d.fd, rel, nil
}

// ownFd says whether fd is one of the descriptors Dir keeps open.
func (d *Dir) ownFd(fd int) bool {
	return fd == d.fd || (d.meta != nil && (fd == d.meta.fd || fd == d.meta.up))
}

func (m *metaDir) close() {
	if m != nil {
		unix.Close(m.fd)
		unix.Close(m.up)
	}
}

// openMeta opens the sibling folder, making it or moving DIR/.paracfs (an
// older paracfs's place for it) there first. It returns what it moved, to
// be logged once the change log is open ("" when nothing).
func (d *Dir) openMeta() (moved string, err error) {
	root := filepath.Clean(d.Root)
	if filepath.Dir(root) == root {
		return "", fmt.Errorf("%s: paracfs keeps its data next to DIR, and / has no parent", root)
	}
	m := &metaDir{name: metaName(root), path: MetaPath(root), up: -1, fd: -1}
	// DIR's parent, as the kernel sees it: no path resolved again.
	m.up, err = unix.Openat(d.fd, "..", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", fmt.Errorf("%s: %w", filepath.Dir(root), err)
	}
	defer func() {
		if err != nil {
			m.close()
		}
	}()
	if a, b := mountID(d.fd), mountID(m.up); a != b {
		return "", fmt.Errorf("%s is a mount point: paracfs keeps its data in %s, which must be on the same mount as DIR (files move between them): mount paracfs on a directory inside that filesystem", root, m.path)
	}
	var old, cur unix.Stat_t
	oldErr := unix.Fstatat(d.fd, MetaDir, &old, unix.AT_SYMLINK_NOFOLLOW)
	if oldErr == nil && old.Mode&unix.S_IFMT != unix.S_IFDIR {
		return "", fmt.Errorf("%s/%s is not a directory (a symlink?): the name is paracfs's through the mount, and paracfs follows no link in DIR; move it away", root, MetaDir)
	}
	hasOld := oldErr == nil
	curErr := unix.Fstatat(m.up, m.name, &cur, unix.AT_SYMLINK_NOFOLLOW)
	switch {
	case curErr == nil && cur.Mode&unix.S_IFMT != unix.S_IFDIR:
		return "", fmt.Errorf("%s is not a directory (a symlink?): paracfs keeps its data there and follows no link; move it away", m.path)
	case curErr == unix.ENOENT && hasOld:
		if err := unix.Renameat(d.fd, MetaDir, m.up, m.name); err != nil {
			return "", fmt.Errorf("moving %s/%s to %s: %w", root, MetaDir, m.path, err)
		}
		unix.Fsync(d.fd)
		fsyncDir(m.up)
		moved = fmt.Sprintf("moved paracfs's data from %s/%s to %s", root, MetaDir, m.path)
	case curErr == unix.ENOENT:
		if err := unix.Mkdirat(m.up, m.name, 0o755); err != nil && err != unix.EEXIST {
			return "", fmt.Errorf("cannot make %s, where paracfs keeps its data (it needs to write in DIR's parent): %w", m.path, err)
		}
	case curErr != nil:
		return "", fmt.Errorf("%s: %w", m.path, curErr)
	}
	m.fd, err = openat2(m.up, m.name, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err == unix.ELOOP || err == unix.ENOTDIR {
		return "", fmt.Errorf("%s is not a directory (a symlink?): paracfs keeps its data there and follows no link; move it away", m.path)
	}
	if err != nil {
		return "", fmt.Errorf("%s: %w", m.path, err)
	}
	// Anyone else than root or the daemon's user who owns it could swap
	// its folders for theirs, and read every version kept there (they are
	// 0444, behind 0700 folders): refuse it. DIR's owner included, for a
	// root daemon keeps the history of other users' files.
	if err := CheckDataFolder(m.fd, m.path); err != nil {
		return "", err
	}
	if hasOld && curErr == nil {
		n, gone := d.mergeOld(m.fd)
		moved = fmt.Sprintf("moved paracfs's data from %s/%s to %s (%d entries merged into the existing one, those it held already dropped)", root, MetaDir, m.path, n)
		if !gone {
			moved += fmt.Sprintf("; some entries could not move and stay in %s/%s", root, MetaDir)
		}
	}
	d.meta = m
	return moved, nil
}

// CheckDataFolder refuses a data folder that belongs to someone else than
// root or the daemon's user, or that its group or everyone may write
// (paracfs makes it 0755).
func CheckDataFolder(fd int, path string) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if st.Uid != 0 && st.Uid != uint32(unix.Geteuid()) {
		return fmt.Errorf("%s belongs to uid %d, neither root nor the daemon's user: paracfs keeps its data there, where its owner could read or change every version; move it away (or chown -R it)", path, st.Uid)
	}
	if st.Mode&0o022 != 0 {
		return fmt.Errorf("%s is writable by its group or by everyone (mode %04o): paracfs keeps its data there, where they could remove or replace every version; chmod go-w it", path, st.Mode&0o7777)
	}
	return nil
}

// mergeOld moves what DIR/.paracfs holds that the sibling lacks into it,
// folder by folder, drops what both hold (the sibling's is newer), then
// removes DIR/.paracfs. Each entry moves by one rename, so a crash leaves
// it in one of the two places; an entry that cannot move stays, and so
// does DIR/.paracfs then. It returns how many entries moved, and whether
// DIR/.paracfs is gone.
func (d *Dir) mergeOld(mfd int) (int, bool) {
	ofd, err := openat2(d.fd, MetaDir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return 0, false
	}
	var st unix.Stat_t
	if unix.Fstat(ofd, &st) != nil || !movable(&st) {
		unix.Close(ofd)
		return 0, false
	}
	n := mergeTree(ofd, mfd)
	unix.Close(ofd)
	fsyncDir(mfd)
	gone := unix.Unlinkat(d.fd, MetaDir, unix.AT_REMOVEDIR) == nil
	unix.Fsync(d.fd)
	return n, gone
}

func mergeTree(from, to int) int {
	n := 0
	for _, name := range dirNames(from) {
		var a, b unix.Stat_t
		if unix.Fstatat(from, name, &a, unix.AT_SYMLINK_NOFOLLOW) != nil || !movable(&a) {
			continue
		}
		err := unix.Fstatat(to, name, &b, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == unix.ENOENT:
			if unix.Renameat2(from, name, to, name, unix.RENAME_NOREPLACE) == nil {
				n++
			}
		case err == nil && a.Mode&unix.S_IFMT == unix.S_IFDIR && b.Mode&unix.S_IFMT == unix.S_IFDIR:
			f, err1 := openat2(from, name, unix.O_PATH|unix.O_DIRECTORY, 0)
			t, err2 := openat2(to, name, unix.O_PATH|unix.O_DIRECTORY, 0)
			if err1 == nil && err2 == nil {
				n += mergeTree(f, t)
				fsyncDir(t)
				unix.Unlinkat(from, name, unix.AT_REMOVEDIR) // if all of it moved
			}
			if err1 == nil {
				unix.Close(f)
			}
			if err2 == nil {
				unix.Close(t)
			}
		case err == nil && a.Mode&unix.S_IFMT != unix.S_IFDIR:
			unix.Unlinkat(from, name, 0) // the sibling holds this name already
		}
	}
	fsyncDir(from)
	return n
}

// movable says whether an entry of DIR/.paracfs may join the data folder:
// anyone who may write DIR could have made that folder, and what they put
// there must not become part of the history (a version root would
// restore, a folder they could open to all, a link to a file elsewhere).
// Only a folder of root or the daemon's user that no one else may write
// is merged (mergeOld checks DIR/.paracfs itself), and in it only folders
// and regular files of theirs.
func movable(st *unix.Stat_t) bool {
	if st.Uid != 0 && st.Uid != uint32(unix.Geteuid()) {
		return false
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return st.Mode&0o022 == 0
	case unix.S_IFREG:
		return true
	}
	return false
}

// dirNames lists the directory dfd (an O_PATH descriptor will do).
func dirNames(dfd int) []string {
	fd, err := openat2(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil
	}
	var names []string
	buf := make([]byte, 32<<10)
	for {
		n, err := unix.Getdents(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			break
		}
		_, _, names = unix.ParseDirent(buf[:n], -1, names)
	}
	unix.Close(fd)
	return names
}

// mountID is the id of the mount fd is on (0 if unknown).
func mountID(fd int) uint64 {
	var x unix.Statx_t
	if unix.Statx(fd, "", unix.AT_EMPTY_PATH, unix.STATX_MNT_ID, &x) != nil || x.Mask&unix.STATX_MNT_ID == 0 {
		return 0
	}
	return x.Mnt_id
}

// logMigration logs the move openMeta made, once the change log is open.
func (d *Dir) logMigration(moved string) {
	if moved == "" {
		return
	}
	slog.Info(moved, "from", d.Root+"/"+MetaDir, "to", d.meta.path)
	e := d.entry(changelog.OpMigrate, "", daemonCaller())
	e.Description = moved
	d.appendLog(e)
}

// MetaDirPath is where this Dir keeps paracfs's data ("" when opened
// without it).
func (d *Dir) MetaDirPath() string {
	if d.meta == nil {
		return ""
	}
	return d.meta.path
}
