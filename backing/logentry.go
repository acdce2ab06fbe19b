package backing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
	"github.com/paracfs/paracfs/revision"
)

// entry starts a log line for op on rel by c.
func (d *Dir) entry(op, rel string, c Caller) *changelog.Entry {
	uid := c.Uid
	return &changelog.Entry{
		Timestamp:  changelog.Timestamp(time.Now()),
		ProcessID:  c.Pid,
		ChangeType: op,
		Path:       rel,
		Op:         op,
		UID:        &uid,
		Command:    c.Command,
		Machine:    d.machine(),
	}
}

// daemonCaller is the daemon itself, as the author of the lines it logs
// on its own account.
func daemonCaller() Caller {
	return Caller{Pid: os.Getpid(), Uid: uint32(os.Getuid()), Command: "paracfs"}
}

// appendLog writes one line to the change log. A log that cannot be written
// is reported in the daemon's log (log/slog); it never fails the commit
// that is already durable. The line is held in memory and written, in
// order, before the next line that can be (room came back); the next
// start recovers the commit lines of any the daemon could not hold.
func (d *Dir) appendLog(e *changelog.Entry) {
	d.hideSum(e)
	w, err := d.logWriter()
	if err == nil {
		err = d.appendHeld(w, e)
	}
	if err != nil {
		slog.Error("cannot write the change log (the line is held until it can be)", "log", d.Config().LogPath, "err", err, "line", e.Description)
	} else {
		d.logAppended()
	}
	d.maybeRotate()
}

// appendHeld appends the held lines, then e (nil: none); on failure, what
// was not written is held, e included.
func (d *Dir) appendHeld(w *changelog.Writer, e *changelog.Entry) error {
	if d.log.nHeld.Load() == 0 {
		if e == nil {
			return nil
		}
		err := w.Append(e)
		if err != nil {
			d.hold(e, err)
		}
		return err
	}
	d.log.heldMu.Lock()
	defer d.log.heldMu.Unlock()
	for len(d.log.held) > 0 {
		if err := w.Append(d.log.held[0]); err != nil {
			d.holdLocked(e, err)
			return err
		}
		d.log.held = d.log.held[1:]
		d.log.nHeld.Add(-1)
	}
	if e == nil {
		return nil
	}
	if err := w.Append(e); err != nil {
		d.holdLocked(e, err)
		return err
	}
	if !d.log.dropped.Load() {
		d.log.lost.Store(false) // every line is in the log after all
	}
	return nil
}

func (d *Dir) hold(e *changelog.Entry, err error) {
	d.log.heldMu.Lock()
	defer d.log.heldMu.Unlock()
	d.holdLocked(e, err)
}

// holdLocked keeps e, which the log did not take (err), for a later
// append, up to maxHeld lines. A line that cannot be encoded is not held:
// it never would be written, and would stop those after it.
func (d *Dir) holdLocked(e *changelog.Entry, err error) {
	d.log.lost.Store(true) // until written: the next start looks for the commits the log lacks
	if e == nil {
		return
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		d.log.dropped.Store(true)
		return
	}
	if len(d.log.held) >= maxHeld {
		d.log.dropped.Store(true)
		return
	}
	d.log.held = append(d.log.held, e)
	d.log.nHeld.Add(1)
}

// hideSum drops the sha256 of a line about a file not everyone may read
// through its path: the log is world-readable, and the hash of a short
// secret (a PIN, a token of a few words) gives it back to anyone who
// hashes the guesses. describeChanges has decided already when the line
// names changed keys. The size goes too when not everyone may stat the
// file (a directory on its way they may not search).
func (d *Dir) hideSum(e *changelog.Entry) {
	if e.Path == "" {
		return
	}
	if e.Size != nil && !d.statShown(e.Path) {
		e.Size = nil
	}
	if e.SHA256 == "" {
		return
	}
	for _, k := range e.Keys {
		if k.Hidden {
			e.SHA256 = ""
		}
		return
	}
	if !d.ValuesShown(e.Path) {
		e.SHA256 = ""
	}
}

// OnLogAppended registers fn, told of the log's path (relative to DIR)
// after each append to it, before the request that made the line returns:
// the log grew behind the kernel's back, which may cache its size.
func (d *Dir) OnLogAppended(fn func(rel string)) { d.log.onAppended.Store(&fn) }

func (d *Dir) logAppended() {
	if fn := d.log.onAppended.Load(); fn != nil {
		(*fn)(d.Config().LogPath)
	}
}

// CreateLog creates the change log if it does not exist yet (an appender
// through the mount opened it with O_CREAT before its first line).
func (d *Dir) CreateLog() error { return d.ensureLog() }

// ensureLog creates the change log at its first line.
func (d *Dir) ensureLog() error {
	_, err := d.logWriter()
	return err
}

// logWriter returns the open change log, creating it if needed.
func (d *Dir) logWriter() (*changelog.Writer, error) {
	d.log.mu.Lock()
	w := d.log.w
	d.log.mu.Unlock()
	if w != nil {
		return w, nil
	}
	if err := d.openLog(true); err != nil {
		return nil, err
	}
	d.log.mu.Lock()
	defer d.log.mu.Unlock()
	return d.log.w, nil
}

// note logs one of the daemon's own events (recovery, warnings).
func (d *Dir) note(op, msg string) { d.event(op, "", msg) }

// event logs one of the daemon's own events about rel ("" for none) in the
// change log and in the daemon's log (log/slog): a warning or a
// configuration error at level WARN, the rest at INFO.
func (d *Dir) event(op, rel, msg string) {
	e := d.entry(op, rel, daemonCaller())
	e.Description = msg
	level := slog.LevelInfo
	switch op {
	case changelog.OpWarning:
		level = slog.LevelWarn
	case changelog.OpConfigError:
		level = slog.LevelWarn
		e.Reason = msg
	}
	slog.Log(context.Background(), level, msg, "event", op)
	d.appendLog(e)
}

// describeChanges fills the changed top-level keys, and paracle's
// old_value/new_value with the old and new values of those keys. For a
// file not every user may read through its path (the file without o+r,
// or a directory on its way without o+x), the log (which they may read)
// names the changed keys but not their values: it must not show what the
// file's permissions hide.
func (d *Dir) describeChanges(e *changelog.Entry, old, new *revision.Doc, mode uint32) {
	changes := revision.Changes(old, new)
	if len(changes) == 0 {
		return
	}
	hidden := mode&0o004 == 0 || !d.ValuesShown(e.Path)
	e.Keys = map[string]changelog.KeyChange{}
	oldv, newv := map[string]any{}, map[string]any{}
	for k, c := range changes {
		if hidden {
			e.Keys[k] = changelog.KeyChange{Hidden: true}
			continue
		}
		e.Keys[k] = changelog.KeyChange{Old: c.Old, New: c.New}
		oldv[k], newv[k] = c.Old, c.New
	}
	if !hidden {
		e.OldValue, e.NewValue = oldv, newv
	}
}

// AppendLog appends complete JSON lines written through the mount to the
// change log. Anything else is refused: the log is append-only.
func (d *Dir) AppendLog(data []byte, c Caller) error {
	if len(data) == 0 {
		return nil
	}
	if _, err := revision.Parse(revision.JSONL, data, d.Config().Limits); err != nil {
		return d.refuse(refusalFrom(d.Config().LogPath, err), c, data, 0)
	}
	w, err := d.logWriter()
	if err != nil {
		return fmt.Errorf("%s: %w", d.Config().LogPath, err)
	}
	d.appendHeld(w, nil) // paracfs's own lines first, if room came back
	if err := w.AppendLines(data); err != nil {
		return fmt.Errorf("%s: %w", d.Config().LogPath, err)
	}
	d.logAppended()
	d.maybeRotate()
	return nil
}

// Refuse records a refusal found outside Commit (an oversize write, a
// rewrite of the log) and returns it.
func (d *Dir) Refuse(op, rel, reason string, c Caller, data []byte) error {
	return d.refuse(&Refusal{Op: op, Path: rel, Reason: reason}, c, data, d.peekRevision(rel))
}

// readSmall reads a small metadata file.
func (d *Dir) readSmall(rel string) ([]byte, error) { return d.readRegular(rel, 64<<20) }

// readRegular reads a regular file of at most limit bytes: a FIFO (which
// would block) or a device is refused, a symlink is never followed.
func (d *Dir) readRegular(rel string, limit int64) ([]byte, error) {
	fd, err := d.openat(rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, errors.New("not a regular file")
	}
	return readAllFd(fd, st.Size, limit)
}

// writeMetaFile atomically replaces a metadata file, the daemon's alone
// (0600): the stamps hold the sha256 of files others may not read, the
// tombstones the names of deleted ones, config.good.yaml a copy of
// paracfs.yaml, whatever its own mode.
func (d *Dir) writeMetaFile(rel string, data []byte) error {
	return d.writeMetaFileMode(rel, data, 0o600)
}

func (d *Dir) writeMetaFileMode(rel string, data []byte, perm uint32) error {
	pfd, leaf, err := d.parent(rel)
	if err != nil {
		return err
	}
	defer d.closeParent(pfd)
	tmp := tempName(leaf)
	fd, err := unix.Openat(pfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, perm)
	if err != nil {
		return err
	}
	err = writeAll(fd, data)
	if err == nil {
		err = fsync(fd)
	}
	unix.Close(fd)
	if err == nil {
		err = unix.Renameat(pfd, tmp, pfd, leaf)
	}
	if err != nil {
		unix.Unlinkat(pfd, tmp, 0)
	}
	return err
}

// WriteMeta atomically replaces .paracfs/<name> (the daemon's state file),
// readable by all: the command line reads it as its caller.
func (d *Dir) WriteMeta(name string, data []byte) error {
	return d.writeMetaFileMode(MetaDir+"/"+name, data, 0o644)
}

// RemoveMeta removes .paracfs/<name>.
func (d *Dir) RemoveMeta(name string) error {
	return d.atParent(MetaDir+"/"+name, func(pfd int, leaf string) error { return unix.Unlinkat(pfd, leaf, 0) })
}
