package backing

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// What a reader without an open Dir needs to know about the disk: the
// paracfs command reads DIR's data through a mount (MOUNTPOINT/.paracfs)
// or, for a DIR no daemon serves, from its data folder (MetaPath), and
// writes beside the change log as a commit does. The names and checks are
// the ones the daemon uses, so a layout change is made here once.

// StateFile is the running daemon's state (its pid, DIR, mountpoint and
// configuration), inside MetaDir: WriteMeta(StateFile, ...), read back by
// the paracfs command.
const StateFile = "daemon.json"

// TempName is a fresh name for a temp file written beside the file named
// leaf and renamed over it: the pattern IsTemp knows, so the mount hides
// it and recovery removes one left behind.
func TempName(leaf string) string { return tempName(leaf) }

// VersionsAt reads the history index of rel from meta, the data folder as
// a path (MOUNTPOINT/.paracfs, or MetaPath(DIR)). An index that does not
// exist is an error satisfying errors.Is(err, fs.ErrNotExist).
func VersionsAt(meta, rel string) ([]Version, error) {
	b, err := readBeneath(meta, historyIn(rel)+"/"+HistoryIndex)
	if err != nil {
		return nil, err
	}
	return ParseIndex(b), nil
}

// ReadVersionAt returns the bytes of version v of rel, read from meta (as
// VersionsAt) and checked against the sha256 its index recorded.
func ReadVersionAt(meta, rel string, v Version) ([]byte, error) {
	return versionBytes(rel, v, func(name string) ([]byte, error) {
		return readBeneath(meta, historyIn(rel)+"/"+name)
	})
}

// historyIn is the folder of rel's versions inside the data folder.
func historyIn(rel string) string {
	in, _ := metaRel(HistoryPath(rel))
	return in
}

// readBeneath reads the regular file rel inside the folder base (the data
// folder, which root may read for anyone) with openat2(RESOLVE_BENEATH|
// RESOLVE_NO_SYMLINKS): a symlink planted at base or on the way is not
// followed, a FIFO does not block.
func readBeneath(base, rel string) ([]byte, error) {
	path := filepath.Join(base, filepath.FromSlash(rel))
	dfd, err := unix.Open(base, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: base, Err: err}
	}
	defer unix.Close(dfd)
	fd, err := openat2(dfd, rel, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &os.PathError{Op: "open", Path: path, Err: errors.New("not a regular file")}
	}
	return readAllFd(fd, st.Size, 1<<40)
}

// versionBytes reads version v of rel with read, given its name inside
// rel's history folder, and checks the bytes against v's sha256: the one
// check between a version in the history and whoever shows or restores it.
func versionBytes(rel string, v Version, read func(name string) ([]byte, error)) ([]byte, error) {
	data, err := read(VersionName(rel, v.Rev))
	if err != nil {
		return nil, fmt.Errorf("%s@%d: %w", rel, v.Rev, err)
	}
	if sha256hex(data) != v.SHA256 {
		return nil, fmt.Errorf("%s@%d: the kept bytes do not match their sha256 (damaged by a crash?)", rel, v.Rev)
	}
	return data, nil
}

// SHA256 is the hex sha256 of data, as the history index and the change
// log record a content.
func SHA256(data []byte) string { return sha256hex(data) }
