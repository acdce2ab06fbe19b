package main

import (
	"errors"
	"os"
	"time"

	"github.com/paracfs/paracfs/backing"
	"github.com/paracfs/paracfs/changelog"
	"golang.org/x/sys/unix"
)

// appendEntry appends a line of this command's own to a log that no daemon
// serves, as every appender does (changelog.AppendTo). A log that does not
// exist yet is left alone.
func appendEntry(dir, logRel string, e *changelog.Entry) {
	f, err := openBeneath(dir, logRel, unix.O_RDWR|unix.O_APPEND|unix.O_NONBLOCK, 0)
	if err != nil {
		return
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return
	}
	uid := uint32(os.Getuid())
	e.Timestamp, e.ProcessID, e.UID, e.Command = changelog.Timestamp(time.Now()), os.Getpid(), &uid, "paracfs"
	changelog.AppendTo(f, e)
}

// openLogRead opens a change log (or its rotated part) for reading: a
// symlink planted at its name is not followed, a FIFO does not block
// (ELOOP, or "not a regular file").
func openLogRead(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		return nil, &os.PathError{Op: "open", Path: path, Err: errors.New("not a regular file")}
	}
	return f, nil
}

// logPathOf is the change log of dir, relative to it: the running daemon's
// (from .paracfs/daemon.json), or the one dir's paracfs.yaml names, or the
// default.
func logPathOf(dir string) string {
	if st, err := readState(dir); err == nil {
		if p, ok := st.Config["log"].(string); ok && p != "" {
			return p
		}
	}
	if cfg, err := backing.ReadConfig(dir, backing.Config{}); err == nil {
		return cfg.LogPath
	}
	return backing.DefaultLogPath
}
