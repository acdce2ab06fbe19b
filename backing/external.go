package backing

import (
	"bytes"
	"fmt"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
	"github.com/paracfs/paracfs/revision"
)

// Changes made behind the mount's back (a process writing the backing
// directory directly while DIR is mounted elsewhere, or before the daemon
// started) are noticed when paracfs next opens the file: its size or mtime
// no longer match the stamp recorded at the last commit (and its sha256
// differs), or the stamp is gone because the file was replaced. Such a
// change counts as a commit of its own: the revision goes up by one, the
// new stamp is kept in stampsFile (the file itself is not written: a read
// changes nothing on disk), and the log gets an "external" line, so a
// writer through the mount that derived its bytes from the older version
// gets a conflict.

// inspection is what inspect found out about an open backing file.
type inspection struct {
	rev       int64 // the file's revision, counting a change behind our back
	external  bool  // changed behind the mount's back since rev-1
	unstamped bool  // never stamped, never seen: adopt it to notice changes later
	sum       string
	data      []byte        // the content, when it had to be read
	doc       *revision.Doc // its parse, when one was needed
}

// inspect returns the revision of the open regular file fd at rel. doc is
// its parsed content when the caller has it (for the revision field of a
// file paracfs never stamped); data its bytes, or nil.
func (d *Dir) inspect(fd int, rel string, st *unix.Stat_t, data []byte, doc *revision.Doc) (inspection, error) {
	s, ok := d.revs.stored(fd, rel)
	if ok && (s.sha == "" || (s.size == st.Size && s.mtime == mtimeNs(st))) {
		return inspection{rev: s.rev}, nil
	}
	last, seen := d.revs.lastSeen(rel)
	forged := !ok && !seen && d.revs.forged(fd)
	if !ok && !seen {
		// Never stamped, never seen this run: its field, or the name's
		// tombstone, or 0.
		if doc == nil && hasFields(revision.KindOf(rel)) {
			if data == nil {
				var err error
				if data, err = readAllFd(fd, st.Size, d.Config().Limits.MaxSize); err != nil {
					return inspection{}, err
				}
			}
			if mayHaveRevision(data) {
				doc, _ = revision.Parse(revision.KindOf(rel), data, d.Config().Limits)
			}
		}
		if !forged {
			return inspection{rev: d.revisionOf(fd, rel, doc), data: data, doc: doc, unstamped: true}, nil
		}
		// A stamp no commit wrote: a change behind the mount's back, noted
		// once (the stamp kept aside then stands for the file).
		last = d.revisionOf(fd, rel, doc)
	}
	if data == nil {
		var err error
		if data, err = readAllFd(fd, st.Size, d.Config().Limits.MaxSize); err != nil {
			return inspection{}, err
		}
	}
	sum := sha256hex(data)
	if ok && sum == s.sha {
		return inspection{rev: s.rev, data: data}, nil // touched, not changed
	}
	if ok {
		last = s.rev
	}
	return inspection{rev: last + 1, external: true, sum: sum, data: data}, nil
}

// adoptExternal records a change made behind the mount's back: the new
// stamp in stampsFile (not on the file) and one "external" log line. The
// caller holds P's lock.
func (d *Dir) adoptExternal(rel string, st *unix.Stat_t, in inspection) {
	defer d.configTouched(rel) // a config file changed behind our back applies too
	d.revs.noteExternal(rel, stamp{rev: in.rev, sha: in.sum, size: st.Size, mtime: mtimeNs(st)})
	old, size := in.rev-1, st.Size
	e := d.entry(changelog.OpExternal, rel, Caller{Pid: 0, Uid: st.Uid, Command: "(outside the mount)"})
	e.Revision, e.OldRevision, e.Size, e.SHA256 = &in.rev, &old, &size, in.sum
	e.Description = fmt.Sprintf("%s: changed behind the mount's back: revision %d → %d", rel, old, in.rev)
	d.appendLog(e)
	d.recordVersion(rel, Version{Rev: in.rev, Time: time.Unix(st.Mtim.Unix()), Op: OpExternal, Uid: st.Uid,
		Command: "(outside the mount)", Size: size, SHA256: in.sum}, in.data, nil)
}

// noticeExternal checks a file opened for reading and, if it changed
// behind the mount's back, records that. It takes only the daemon's own
// queue for P (so no commit of P runs meanwhile), not P.lock: a reader must
// neither stall behind another process's lock nor create lock files. It
// writes nothing on the file: a file paracfs never committed is
// remembered as read for this run only.
func (d *Dir) noticeExternal(fd int, rel string) (int64, error) {
	if d.IsLog(rel) {
		return 0, nil // appended to by everyone, all the time: not a versioned file
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	in, err := d.inspect(fd, rel, &st, nil, nil)
	if err != nil || !(in.external || in.unstamped) {
		return in.rev, err
	}
	if !d.locks.acquire(rel, time.Now().Add(100*time.Millisecond)) {
		return in.rev, nil // a commit is under way: it will notice
	}
	defer d.locks.release(rel)
	again, err := d.inspect(fd, rel, &st, in.data, in.doc)
	if now, lerr := d.Lstat(rel); err == nil && (lerr != nil || now.Ino != st.Ino || now.Dev != st.Dev) {
		// A commit replaced the file since it was opened: fd holds the
		// version before it, not a change behind the mount's back.
		if again.external {
			if last, ok := d.revs.lastSeen(rel); ok && last > 0 {
				return last - 1, nil
			}
		}
		return again.rev, nil
	}
	switch {
	case err != nil:
	case again.external:
		d.adoptExternal(rel, &st, again)
	case again.unstamped:
		// A file paracfs never committed: remember it as it is, so that a
		// later change behind the mount's back shows.
		data := again.data
		if data == nil {
			if data, err = readAllFd(fd, st.Size, d.Config().Limits.MaxSize); err != nil {
				return again.rev, nil
			}
		}
		d.revs.adopt(rel, stamp{rev: again.rev, sha: sha256hex(data), size: st.Size, mtime: mtimeNs(&st)})
	}
	return again.rev, err
}

// mayHaveRevision reports whether content could hold a `revision` key: a
// file paracfs never stamped needs parsing (to find that field) only
// then. The key is either written out or spelled with escapes.
func mayHaveRevision(data []byte) bool {
	return bytes.Contains(data, []byte("revision")) || bytes.IndexByte(data, '\\') >= 0
}
