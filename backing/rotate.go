package backing

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
)

// RotatedSuffix names the change log's previous file, beside it: a log
// rotated by size (Config.LogMaxSize) is renamed to LOG.1, replacing the
// one rotated before, and a new, empty LOG takes its place.
const RotatedSuffix = ".1"

// errNoRotation says a rotation found nothing to do.
var errNoRotation = errors.New("no rotation needed")

// OnLogReplaced registers fn, told of the log's paths (relative to DIR)
// after a rotation renamed them behind the kernel's back.
func (d *Dir) OnLogReplaced(fn func(rels ...string)) {
	d.log.mu.Lock()
	d.log.onReplaced = fn
	d.log.mu.Unlock()
}

// maybeRotate rotates the change log once it has grown to LogMaxSize
// (0: never). Holding the log's append lock, it links LOG as LOG.1 and
// renames a new, empty file over LOG, so each line lands whole in one of
// the two and none is lost (a process appending to DIR's log directly has
// its line in LOG.1 if it opened the file before the rename), and LOG is
// never missing.
// It gives way to a prune under way (the next append tries again), and
// logs the rotation as the first line of the new file, op "rotate".
func (d *Dir) maybeRotate() {
	max := d.Config().LogMaxSize
	if max <= 0 || !d.log.pruneMu.TryLock() {
		return
	}
	defer d.log.pruneMu.Unlock()
	d.log.mu.Lock()
	w, old, logPath := d.log.w, d.log.f, d.Config().LogPath
	d.log.mu.Unlock()
	if w == nil {
		return
	}
	if size, err := w.Size(); err != nil || size < max {
		return
	}
	pfd, leaf, err := d.parent(logPath)
	if err != nil {
		return
	}
	defer d.closeParent(pfd)
	var size int64
	var nf *os.File
	d.log.mu.Lock()
	err = w.Replace(func(cur *os.File) (*os.File, error) {
		if cur != old {
			return nil, errNoRotation // reopened meanwhile (the config moved the log)
		}
		var st unix.Stat_t
		if err := unix.Fstat(int(cur.Fd()), &st); err != nil {
			return nil, err
		}
		if st.Size < max {
			return nil, errNoRotation
		}
		size = st.Size
		// The new log is made aside and renamed over LOG once LOG.1 is a
		// second name of the old one: LOG never goes missing for readers.
		tmp := tempName(leaf)
		fd, err := unix.Openat(pfd, tmp, unix.O_RDWR|unix.O_APPEND|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, st.Mode&0o7777)
		if err != nil {
			return nil, err
		}
		unix.Fchown(fd, int(st.Uid), int(st.Gid)) // keep the log's owner and mode, best effort
		unix.Fchmod(fd, st.Mode&0o7777)
		rotated := leaf + RotatedSuffix
		if err := unix.Unlinkat(pfd, rotated, 0); err != nil && err != unix.ENOENT {
			err = fmt.Errorf("removing the previous %s: %w", rotated, err)
			unix.Close(fd)
			unix.Unlinkat(pfd, tmp, 0)
			return nil, err
		}
		err = unix.Linkat(pfd, leaf, pfd, rotated, 0)
		if err == nil {
			if err = unix.Renameat(pfd, tmp, pfd, leaf); err != nil {
				unix.Unlinkat(pfd, rotated, 0) // the log stays whole under its name
			}
		}
		if err != nil {
			unix.Close(fd)
			unix.Unlinkat(pfd, tmp, 0)
			return nil, err
		}
		fsyncDir(pfd)
		nf = os.NewFile(uintptr(fd), logPath)
		return nf, nil
	})
	if err == nil {
		d.log.f = nf
	}
	notify := d.log.onReplaced
	d.log.mu.Unlock()
	if errors.Is(err, errNoRotation) {
		return
	}
	if err != nil {
		slog.Error("cannot rotate the change log", "log", logPath, "err", err)
		return
	}
	old.Sync() // now the rotated log: on disk before the mark says so
	old.Close()
	d.markLogSynced()
	if notify != nil {
		notify(logPath, logPath+RotatedSuffix)
	}
	d.note(changelog.OpRotate, fmt.Sprintf("rotated the change log at %d bytes (the limit is %d): its lines are now in %s%s", size, max, leaf, RotatedSuffix))
}

// finishRotation undoes the half of a rotation a kill interrupted between
// linking LOG as LOG.1 and renaming the new file over LOG: LOG.1 is then
// a second name of LOG, whose lines would be read twice. The new file is
// a temp file, removed with the others.
func (d *Dir) finishRotation() {
	pfd, leaf, err := d.parent(d.Config().LogPath)
	if err != nil {
		return
	}
	defer d.closeParent(pfd)
	var cur, rot unix.Stat_t
	if unix.Fstatat(pfd, leaf, &cur, unix.AT_SYMLINK_NOFOLLOW) != nil ||
		unix.Fstatat(pfd, leaf+RotatedSuffix, &rot, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return
	}
	if cur.Ino == rot.Ino && cur.Dev == rot.Dev {
		unix.Unlinkat(pfd, leaf+RotatedSuffix, 0)
		fsyncDir(pfd)
	}
}
