package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/paracfs/paracfs/backing"
	"golang.org/x/sys/unix"
)

// The history commands: history, show, diff and restore. FILE is a path
// as the user types it (relative to the current directory, inside a
// .parac), optionally followed by @REV. They read the history through the
// mount, or from DIR itself when it is not mounted; restore asks the
// daemon through the control file, so it needs the mount.

// fileRef is a FILE[@REV] argument, resolved.
type fileRef struct {
	root   string      // where DIR's content is read: its mountpoint, or DIR when unmounted
	mount  *mountEntry // the mount serving it, nil when unmounted
	rel    string      // the file's path relative to DIR
	rev    int64
	hasRev bool
}

func (f fileRef) String() string {
	if f.hasRev {
		return f.rel + "@" + strconv.FormatInt(f.rev, 10)
	}
	return f.rel
}

// historyDir is where the file's versions are, for people to read.
func (f fileRef) historyDir() string {
	return metaPath(f.root, backing.HistoryPath(f.rel))
}

// splitRev splits FILE@REV. A path whose last @ is not followed by a
// revision number is a path with no revision.
func splitRev(arg string) (file string, rev int64, hasRev bool, err error) {
	i := strings.LastIndexByte(arg, '@')
	if i < 0 {
		return arg, 0, false, nil
	}
	s := arg[i+1:]
	n, perr := strconv.ParseInt(s, 10, 64)
	switch {
	case perr == nil && n >= 0:
		return arg[:i], n, true, nil
	case s == "" || strings.TrimLeft(s, "0123456789-+") == "":
		return "", 0, false, noRev(arg, "FILE@REV")
	}
	return arg, 0, false, nil
}

// noRev is the usage error for an argument that names no revision: none
// given, or one that is not a number (FILE@abc).
func noRev(arg, form string) error {
	file, what := arg, "name a revision, as "+form
	if i := strings.LastIndexByte(arg, '@'); i >= 0 {
		file, what = arg[:i], fmt.Sprintf("want %s with a revision number after the @, not %q", form, arg[i+1:])
	}
	return usageError{fmt.Sprintf("%q: %s (see paracfs history %s)", arg, what, file)}
}

// resolveFile finds the paracfs directory a FILE[@REV] argument is in: a
// mount whose mountpoint holds it, else the nearest directory above it
// whose paracfs data folder exists (DIR when not mounted: metaDirOf).
func resolveFile(arg string) (fileRef, error) {
	file, rev, hasRev, err := splitRev(arg)
	if err != nil {
		return fileRef{}, err
	}
	if file == "" {
		return fileRef{}, usageError{fmt.Sprintf("%q: no file named", arg)}
	}
	abs, err := absDir(file)
	if err != nil {
		return fileRef{}, err
	}
	ref := fileRef{rev: rev, hasRev: hasRev}
	ms, _ := paracfsMounts()
	best := -1
	for i, m := range ms {
		if strings.HasPrefix(abs, strings.TrimSuffix(m.Mountpoint, "/")+"/") && (best < 0 || len(m.Mountpoint) >= len(ms[best].Mountpoint)) && !isStale(m.Mountpoint) {
			best = i
		}
	}
	if best >= 0 {
		m := ms[best]
		ref.root, ref.mount = m.Mountpoint, &m
	} else {
		for dir := filepath.Dir(abs); ; dir = filepath.Dir(dir) {
			if st, err := os.Stat(metaDirOf(dir)); err == nil && st.IsDir() {
				ref.root = dir
				break
			}
			if dir == "/" {
				return fileRef{}, fmt.Errorf("%s: not inside a directory paracfs serves or has served (no %s folder above it)", file, backing.MetaDir)
			}
		}
		if m, err := mountOf(ref.root); err == nil {
			ref.mount = &m // DIR itself, mounted elsewhere
		}
	}
	rel, err := filepath.Rel(ref.root, abs)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return fileRef{}, fmt.Errorf("%s: not a file inside %s", file, ref.root)
	}
	ref.rel = filepath.ToSlash(rel)
	if backing.IsMeta(ref.rel) {
		return fileRef{}, fmt.Errorf("%s: inside %s/, which has no history of its own", file, backing.MetaDir)
	}
	return ref, nil
}

// versions reads the file's history index.
func (f fileRef) versions() ([]backing.Version, error) {
	vs, err := backing.VersionsAt(metaDirOf(f.root), f.rel)
	if errors.Is(err, os.ErrNotExist) {
		if _, serr := os.Lstat(filepath.Join(f.root, filepath.FromSlash(f.rel))); errors.Is(serr, os.ErrNotExist) {
			return nil, fmt.Errorf("%s: no such file, and no history kept under that name", f.rel)
		}
		if f.mount != nil {
			// Through the mount, every managed file has a revision.
			live := filepath.Join(f.mount.Mountpoint, filepath.FromSlash(f.rel))
			if _, xerr := unix.Getxattr(live, "user.paracfs.revision", nil); errors.Is(xerr, unix.ENODATA) {
				return nil, fmt.Errorf("%s: not a managed file: paracfs keeps versions of the files its tracked globs name", f.rel)
			}
		}
		return nil, fmt.Errorf("%s: no history kept (paracfs keeps the versions committed through its mount)", f.rel)
	}
	return vs, err
}

// content returns the bytes FILE@REV names: that version, checked
// against its sha256, or the current file when no revision was given.
func (f fileRef) content() ([]byte, error) {
	if !f.hasRev {
		return readMeta(f.root, f.rel)
	}
	vs, err := f.versions()
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		if v.Rev != f.rev {
			continue
		}
		return backing.ReadVersionAt(metaDirOf(f.root), f.rel, v)
	}
	var have []string
	for _, v := range vs {
		have = append(have, strconv.FormatInt(v.Rev, 10))
	}
	return nil, fmt.Errorf("%s: revision %d is not kept (kept: %s)", f.rel, f.rev, strings.Join(have, " "))
}

// shortPath shows p relative to the current directory when it is below it.
func shortPath(p string) string {
	if cwd, err := os.Getwd(); err == nil {
		if r, err := filepath.Rel(cwd, p); err == nil && !strings.HasPrefix(r, "..") {
			return r
		}
	}
	return p
}
