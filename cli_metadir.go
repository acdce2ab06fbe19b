package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/backing"
)

// paracfs's own data (history, kept refused writes, the daemon's state and
// log) is kept beside DIR, in backing.MetaPath(DIR) (/proj/.parac.paracfs
// for /proj/.parac), so that DIR holds nothing of paracfs's own. Through
// a mount it is reachable by name, as MOUNTPOINT/.paracfs.

// metaDirOf is where the data of dir (a mountpoint, or DIR unmounted) is
// read: dir/.paracfs when that is a directory (through a mount, or DIR
// with the data of an older paracfs not moved yet), else the folder
// beside dir.
func metaDirOf(dir string) string {
	in := filepath.Join(dir, backing.MetaDir)
	if st, err := os.Lstat(in); err == nil && st.IsDir() {
		// Unmounted, a DIR/.paracfs beside an existing data folder is
		// not paracfs's: anyone who may write DIR could have made it.
		if st, err := os.Lstat(backing.MetaPath(dir)); err != nil || !st.IsDir() || onFuse(in) {
			return in
		}
	}
	return backing.MetaPath(dir)
}

// onFuse says whether path is on a FUSE filesystem (a paracfs mount).
func onFuse(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.FUSE_SUPER_MAGIC
}

// readMeta reads rel (as DIR names it: .paracfs/... for paracfs's data,
// else a file of DIR) for dir, following no symlink.
func readMeta(dir, rel string) ([]byte, error) {
	base, in := dir, rel
	if r, ok := strings.CutPrefix(rel, backing.MetaDir+"/"); ok {
		base, in = metaDirOf(dir), r
	}
	f, err := openBeneath(base, in, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", f.Name())
	}
	return io.ReadAll(f)
}

// removeMeta removes rel (as readMeta names it) for dir, following no
// symlink on the way.
func removeMeta(dir, rel string) error {
	base, in := dir, rel
	if r, ok := strings.CutPrefix(rel, backing.MetaDir+"/"); ok {
		base, in = metaDirOf(dir), r
	}
	parent, err := openBeneath(base, filepath.Dir(in), unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer parent.Close()
	if err := unix.Unlinkat(int(parent.Fd()), filepath.Base(in), 0); err != nil {
		return &os.PathError{Op: "remove", Path: filepath.Join(base, in), Err: err}
	}
	return nil
}

// metaPath is the path of rel (as DIR names it: .paracfs/... for
// paracfs's data) for dir.
func metaPath(dir, rel string) string {
	if rel == backing.MetaDir {
		return metaDirOf(dir)
	}
	if in, ok := strings.CutPrefix(rel, backing.MetaDir+"/"); ok {
		return filepath.Join(metaDirOf(dir), filepath.FromSlash(in))
	}
	return filepath.Join(dir, filepath.FromSlash(rel))
}

// metaBeneath names the data folder of DIR (unmounted) as a folder to open
// beneath and a name in it, for openBeneath and mkdirBeneath: DIR's parent
// and the sibling's name, unless only DIR/.paracfs exists (an older
// paracfs's data not moved yet, which the daemon moves, open files and
// all, at its start).
func metaBeneath(dir string) (base, name string) {
	p := backing.MetaPath(dir)
	_, serr := os.Lstat(p)
	if st, err := os.Lstat(filepath.Join(dir, backing.MetaDir)); err == nil && st.IsDir() && os.IsNotExist(serr) {
		return dir, backing.MetaDir
	}
	return filepath.Dir(p), filepath.Base(p)
}
