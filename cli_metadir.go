package main

import (
	"os"
	"path/filepath"
	"strings"

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
		return in
	}
	return backing.MetaPath(dir)
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
