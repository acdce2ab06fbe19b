package backing

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
)

// What an acknowledgment promises is on disk when it is given: the
// committed file, the versions the history keeps of it (the one before
// the mount included), and the kept bytes of a refusal, which carry their
// sha256. The fsyncs a commit owes are batched in a syncSet and run once
// everything is written: the filesystem's journal then commits once for
// all of them, and the directories whose journal entry is already on disk
// cost next to nothing.

// fsync is fsync(2) that does not take the disk's word when it cannot
// have kept it: once an error has remounted an ext4 filesystem read-only
// (errors=remount-ro, as a failing disk or a simulated power cut does),
// its fsync returns success without writing anything, and what was not on
// disk yet is lost. A filesystem found read-only after the fsync counts as
// the fsync's failure (EROFS). One that turned read-only only after the
// check inside fsync did the work: its fsync then waited for the journal,
// and reports the journal's failure itself.
//
// ext4 aborts its journal first and sets the read-only flag only after
// writing its superblock. An fsync in between finds its transaction
// dropped by the abort, neither running nor committing, and returns 0
// with the flag not set yet. journalAlive closes that gap.
func fsync(fd int) error {
	if err := unix.Fsync(fd); err != nil {
		return err
	}
	var st unix.Statfs_t
	if unix.Fstatfs(fd, &st) == nil && st.Flags&unix.ST_RDONLY != 0 {
		return unix.EROFS
	}
	return journalAlive(fd)
}

// probeXattr is an attribute no file has: replacing it changes nothing.
const probeXattr = "user.paracfs.journal-probe"

// journalAlive asks the filesystem of fd whether it can still start a
// journal transaction, without changing anything: ext4 starts one for
// any setxattr before it looks the attribute up, and fails with EROFS
// when its journal was aborted. Replacing an attribute that does not
// exist then ends in ENODATA, the healthy answer. A filesystem without
// user xattrs, or a file the daemon may not set them on, answers nothing
// either way and counts as healthy; only EROFS and EIO are failures.
func journalAlive(fd int) error {
	err := unix.Fsetxattr(fd, probeXattr, nil, unix.XATTR_REPLACE)
	if err == unix.EROFS || err == unix.EIO {
		return err
	}
	return nil
}

// syncSet is a batch of files and directories to fsync together.
type syncSet struct {
	fds  []int          // files and directories
	also []*pendingSync // flushed at the same time
}

// pendingSync is the record of a file's newest version (its history
// object, name and index line), written by its commit but not fsynced
// yet: the commit's file itself holds those bytes, on disk, and a start
// after a crash records them again from it (repairNewest). It is fsynced
// in the background right after the commit, and at the latest before the
// file is replaced or removed, when the history becomes their only copy.
type pendingSync struct {
	mu   sync.Mutex
	fds  []int
	done bool
	err  error
}

func (p *pendingSync) flush() error {
	if p == nil {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.done {
		s := syncSet{fds: p.fds}
		p.err, p.done, p.fds = s.flush(), true, nil
	}
	return p.err
}

// busy reports whether p is being flushed or was flushed already: a
// batch then waits for it rather than flushing it itself.
func (p *pendingSync) busy() bool {
	if !p.mu.TryLock() {
		return true
	}
	done := p.done
	p.mu.Unlock()
	return done
}

// takePending returns the pending record of rel's newest version, if any.
func (d *Dir) takePending(rel string) *pendingSync { return d.hist.takePending(rel) }

// flushPending makes rel's history durable, before rel goes away.
func (d *Dir) flushPending(rel string) { d.takePending(rel).flush() }

// flushAllPending makes every history record durable (at a stop, or
// before the log's mark moves).
func (d *Dir) flushAllPending() {
	for _, p := range d.hist.takeAllPending() {
		p.flush()
	}
}

// file adds an open file to the batch (it keeps a duplicate of fd).
func (s *syncSet) file(fd int) error {
	if s == nil {
		return fsync(fd)
	}
	dup, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return fsync(fd)
	}
	s.fds = append(s.fds, dup)
	return nil
}

// dir adds a directory, given by any descriptor on it (O_PATH too).
func (s *syncSet) dir(dfd int) error {
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	if s == nil {
		defer unix.Close(fd)
		return fsync(fd)
	}
	s.fds = append(s.fds, fd)
	return nil
}

// add adds the pending record p (nil: none) to the batch.
func (s *syncSet) add(p *pendingSync) {
	if p != nil {
		s.also = append(s.also, p)
	}
}

// flush fsyncs the batch and empties it (see syncWith).
func (s *syncSet) flush() error { return s.syncWith(-1) }

// syncWith fsyncs fd (none if negative) and the batch, and empties the
// batch. It returns every error, joined.
//
// The fsyncs run at the same time, one on the calling goroutine and each
// other on its own, so that the filesystem's journal commits them as one.
// A pending record that its own goroutine is flushing, or flushed, is
// waited for after them. Most batches are one file: fsynced with no
// goroutine.
func (s *syncSet) syncWith(fd int) error {
	if s == nil {
		if fd < 0 {
			return nil
		}
		return fsync(fd)
	}
	var jobs []func() error
	if fd >= 0 {
		jobs = append(jobs, func() error { return fsync(fd) })
	}
	for _, f := range s.fds {
		jobs = append(jobs, func() error { return fsync(f) })
	}
	var waits []*pendingSync
	for _, p := range s.also {
		if p.busy() {
			waits = append(waits, p)
		} else {
			jobs = append(jobs, p.flush)
		}
	}
	errs := make([]error, len(jobs), len(jobs)+len(waits))
	if len(jobs) > 0 {
		var wg sync.WaitGroup
		for i, job := range jobs[1:] {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i+1] = job()
			}()
		}
		errs[0] = jobs[0]()
		wg.Wait()
	}
	for _, p := range waits {
		errs = append(errs, p.flush())
	}
	for _, f := range s.fds {
		unix.Close(f)
	}
	s.fds, s.also = s.fds[:0], nil
	return errors.Join(errs...)
}

// keptSumXattr holds the sha256 of a refused write's kept bytes on the
// kept file, so that a copy a crash cut short is told from a whole one.
const keptSumXattr = "user.paracfs.sha256"

// sealKept records the kept bytes' sha256 on the kept file and makes the
// file and its folder durable. pfd is the folder.
func sealKept(fd, pfd int, data []byte) error {
	sum := sha256.Sum256(data)
	if err := unix.Fsetxattr(fd, keptSumXattr, []byte(hex.EncodeToString(sum[:])), 0); err != nil && err != unix.ENOTSUP && err != unix.EOPNOTSUPP {
		return err
	}
	if err := fsync(fd); err != nil {
		return err
	}
	return fsyncDir(pfd)
}

// errKeptDamaged says kept bytes do not match the sha256 recorded with
// them: a crash cut them short.
var errKeptDamaged = errors.New("the kept bytes do not match their sha256 (cut short by a crash?): not applied; see them with `paracfs rejected show`")

// verifyKept checks kept bytes against the sha256 recorded on their file.
// A filesystem without extended attributes records none: the bytes are
// then taken as they are.
func (d *Dir) verifyKept(kept string, data []byte) error {
	fd, err := d.openat(kept, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	buf := make([]byte, 128)
	n, err := unix.Fgetxattr(fd, keptSumXattr, buf)
	switch {
	case err == unix.ENOTSUP || err == unix.EOPNOTSUPP:
		return nil
	case err == unix.ENODATA:
		return errors.New("the kept bytes carry no sha256 (kept by an older paracfs, or cut short by a crash): not applied; see them with `paracfs rejected show`")
	case err != nil:
		return err
	}
	if string(buf[:n]) != sha256hex(data) {
		return errKeptDamaged
	}
	return nil
}

// logMarkFile records the time up to which the change log is known to be
// on disk: recovery at start looks for commits without their log line
// only among the files committed after it (less a margin), and reads the
// log only from there.
const logMarkFile = MetaDir + "/logmark.json"

type logMark struct {
	Synced time.Time `json:"synced"`
}

// readLogMark returns the mark; ok is false when there is none (a first
// start, or a crash lost it): every stamped file is then checked.
func (d *Dir) readLogMark() (time.Time, bool) {
	b, err := d.readSmall(logMarkFile)
	if err != nil {
		return time.Time{}, false
	}
	var m logMark
	if json.Unmarshal(b, &m) != nil || m.Synced.IsZero() {
		return time.Time{}, false
	}
	return m.Synced, true
}

// markLogSynced fsyncs the change log and records that every line
// appended before now is on disk.
//
// Once a line could not be appended (a full disk), the mark stays where it
// was for the rest of the run, so that the next start still finds the
// commits whose lines were lost.
func (d *Dir) markLogSynced() {
	// History records pending now are fsynced within moments (in the
	// background): younger than the margin, their files are still
	// looked at by the next start. Not flushed here: a rotation runs
	// this from a log line that may be written under d.hist.record.
	if d.log.lost.Load() {
		return
	}
	now := time.Now()
	d.log.mu.Lock()
	f := d.log.f
	var err error
	if f != nil {
		err = f.Sync()
	}
	d.log.mu.Unlock()
	if err != nil {
		return // the log is not on disk: keep the older mark
	}
	b, _ := json.Marshal(logMark{Synced: now})
	if err := d.writeMetaFile(logMarkFile, append(b, '\n')); err != nil {
		d.note(changelog.OpWarning, fmt.Sprintf("%s: %v", logMarkFile, err))
		return
	}
	if mfd, err := d.openat(MetaDir, unix.O_PATH|unix.O_DIRECTORY, 0); err == nil {
		fsyncDir(mfd)
		unix.Close(mfd)
	}
}

// repairNewest records again, from the file itself, the newest version of
// rel when a crash took its record before it reached the disk (see
// pendingSync): s is the file's stamp, found unchanged. A version listed
// whole is left alone; a damaged object of the same bytes is replaced.
func (d *Dir) repairNewest(rel string, s stamp) {
	if d.IsLog(rel) || d.Config().History.MaxVersions < 0 {
		return
	}
	h, err := d.fileVersions(rel)
	listed := false
	if err == nil {
		for _, v := range h.versions {
			listed = listed || (v.Rev == s.rev && v.SHA256 == s.sha)
		}
	}
	if err != nil {
		return
	}
	if listed {
		if b, err := d.readRegular(HistoryPath(rel)+"/"+VersionName(rel, s.rev), d.Config().Limits.MaxSize); err == nil && sha256hex(b) == s.sha {
			return
		}
	}
	data, err := d.readRegular(rel, d.Config().Limits.MaxSize)
	if err != nil || sha256hex(data) != s.sha {
		return // not the bytes the stamp names
	}
	if b, err := d.readRegular(ObjectsDir+"/"+s.sha, d.Config().Limits.MaxSize); err == nil && sha256hex(b) != s.sha {
		if ofd, err := d.openat(ObjectsDir, unix.O_PATH|unix.O_DIRECTORY, 0); err == nil {
			unix.Unlinkat(ofd, s.sha, 0) // cut short: written again below
			unix.Close(ofd)
		}
	}
	d.recordVersion(rel, Version{Rev: s.rev, Time: time.Unix(0, s.mtime), Op: OpRecorded,
		Command: "(recorded again at start)", Size: int64(len(data)), SHA256: s.sha}, data, nil)
}

// OpRecorded is a version recorded again at start from the file itself,
// its first record lost in a crash.
const OpRecorded = "recorded"
