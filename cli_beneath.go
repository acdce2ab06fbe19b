package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// resolveBeneath is how the CLI opens anything inside DIR: never through a
// symlink, and never outside DIR. A user who can write DIR must not make
// root (the daemon, the mount helper, an offline command) append to or
// create a file elsewhere by planting a link at .paracfs or a log path.
const resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS

// openBeneath opens rel (slash-separated, relative) inside dir with
// openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS). A symlink on the way is
// ELOOP, with a message that names it.
func openBeneath(dir, rel string, flags int, mode uint32) (*os.File, error) {
	dfd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dfd)
	if flags&unix.O_CREAT == 0 {
		mode = 0
	}
	how := &unix.OpenHow{Flags: uint64(flags | unix.O_CLOEXEC | unix.O_NOFOLLOW), Mode: uint64(mode), Resolve: resolveBeneath}
	for {
		fd, err := unix.Openat2(dfd, rel, how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err == unix.ELOOP || err == unix.EXDEV {
			return nil, fmt.Errorf("%s: a symlink is on the way (paracfs does not follow links inside DIR): %w", filepath.Join(dir, rel), unix.ELOOP)
		}
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: filepath.Join(dir, rel), Err: err}
		}
		return os.NewFile(uintptr(fd), filepath.Join(dir, rel)), nil
	}
}

// mkdirBeneath makes rel and its missing parents inside dir, refusing a
// symlink at any level.
func mkdirBeneath(dir, rel string, mode uint32) error {
	parts := strings.Split(filepath.ToSlash(filepath.Clean(rel)), "/")
	for i := range parts {
		sub := strings.Join(parts[:i+1], "/")
		parent, err := openBeneath(dir, filepath.Dir(sub), unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		err = unix.Mkdirat(int(parent.Fd()), parts[i], mode)
		parent.Close()
		if err != nil && err != unix.EEXIST {
			return &os.PathError{Op: "mkdir", Path: filepath.Join(dir, sub), Err: err}
		}
	}
	// An existing name must be a real directory, not a link to one.
	f, err := openBeneath(dir, rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	return f.Close()
}
