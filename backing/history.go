package backing

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Recording the versions commits make, and reading them back. What is
// kept where, and the index that lists it: historyindex.go.

// recordFirst keeps the version a commit is about to replace when the
// history does not have it yet: the content a file had before its first
// commit through the mount (written before the mount, or while it was not
// mounted), so that it can be restored, or a version whose record a crash
// lost. It runs under P's lock, before the rename; once the file's index
// is cached it costs a map lookup. Its fsyncs join ss. An error is the
// backing filesystem's when the version could not be stored (a full disk):
// the commit must not replace the only copy of it.
func (d *Dir) recordFirst(pfd int, leaf, rel string, cur current, ss *syncSet) error {
	if !cur.exists || d.IsLog(rel) || d.Config().History.MaxVersions < 0 {
		return nil
	}
	newest, known := d.newestVersion(rel)
	if known && newest == cur.rev {
		return nil
	}
	data := cur.data
	if data == nil || int64(len(data)) != cur.st.Size {
		fd, err := unix.Openat(pfd, leaf, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil
		}
		data, err = readAllFd(fd, cur.st.Size, d.Config().Limits.MaxSize)
		unix.Close(fd)
		if err != nil {
			return nil
		}
	}
	command := "(before the mount)"
	if known {
		command = "(not recorded)"
	}
	return d.storeRecord(rel, Version{
		Rev: cur.rev, Time: time.Unix(cur.st.Mtim.Unix()), Op: OpBefore, Uid: cur.st.Uid,
		Command: command, Size: int64(len(data)), SHA256: sha256hex(data),
		Owner: cur.st.Uid, Group: cur.st.Gid, Mode: cur.st.Mode,
	}, data, ss)
}

// newestVersion returns the newest revision in rel's history; false when none is.
func (d *Dir) newestVersion(rel string) (int64, bool) {
	h, err := d.fileVersions(rel)
	if err != nil || len(h.versions) == 0 {
		return 0, false
	}
	return h.versions[len(h.versions)-1].Rev, true
}

// fileVersions returns rel's index from the cache, or read into it.
func (d *Dir) fileVersions(rel string) (fileHistory, error) {
	if h, ok := d.hist.get(rel); ok {
		return h, nil
	}
	d.hist.record.Lock()
	defer d.hist.record.Unlock()
	return d.fileHistory(rel)
}

// recordCommit keeps the version a commit just made. Its record is
// fsynced in the background (see pendingSync): until the file is replaced,
// the file itself holds these bytes on disk.
func (d *Dir) recordCommit(rel string, rev int64, op string, c Caller, data []byte, sum string) {
	if d.IsLog(rel) {
		return // appended to all the time, by everyone: not versioned
	}
	v := Version{
		Rev: rev, Time: time.Now(), Op: op, Pid: c.Pid, Uid: c.Uid, Command: c.Command,
		Size: int64(len(data)), SHA256: sum,
	}
	if st, err := d.Lstat(rel); err == nil {
		v.Owner, v.Group, v.Mode = st.Uid, st.Gid, st.Mode
	}
	var rec syncSet
	d.recordVersion(rel, v, data, &rec)
	if len(rec.fds) == 0 {
		return
	}
	p := &pendingSync{fds: rec.fds}
	d.hist.setPending(rel, p).flush()
	go func() {
		p.flush()
		d.hist.donePending(rel, p)
	}()
}

// recordVersion stores data as version v of rel and prunes rel's history
// by the bounds in force. Failing to keep history never fails the commit:
// it is noted in the change log. The object, the version's name and its
// index line are fsynced with ss (nil: at once).
func (d *Dir) recordVersion(rel string, v Version, data []byte, ss *syncSet) {
	if err := d.storeRecord(rel, v, data, ss); err != nil {
		d.note("warning", fmt.Sprintf("%s: revision %d not kept in the history: %v", rel, v.Rev, err))
	}
}

// storeRecord is recordVersion, the error returned instead of noted.
func (d *Dir) storeRecord(rel string, v Version, data []byte, ss *syncSet) error {
	if d.Config().History.MaxVersions < 0 {
		return nil // history off
	}
	d.hist.record.Lock()
	defer d.hist.record.Unlock()
	err := d.storeVersion(rel, v, data, ss)
	d.pruneStore()
	return err
}

// storeVersion links the version's name to its object, drops what the
// bounds no longer keep, and appends the version's index line with one
// line per dropped version, in one write. The index is rewritten only
// when dropped lines outnumber kept ones.
func (d *Dir) storeVersion(rel string, v Version, data []byte, ss *syncSet) error {
	h, err := d.fileHistory(rel)
	if err != nil {
		return err
	}
	obj, err := d.object(v.SHA256, data, ss)
	if err != nil {
		return err
	}
	dir := HistoryPath(rel)
	if err := d.mkdirGuarded(HistoryDir, dir, 0o700); err != nil {
		return err
	}
	hfd, err := d.openat(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(hfd)
	ofd, err := d.openat(ObjectsDir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return err
	}
	defer unix.Close(ofd)
	name := VersionName(rel, v.Rev)
	if err := unix.Linkat(ofd, obj, hfd, name, 0); err == unix.EEXIST && sameLink(ofd, obj, hfd, name) {
		// Already a name of the object (a crash lost the index line only):
		// a rename between two names of one file would do nothing, and
		// leave the temp name behind.
	} else if err == unix.EEXIST {
		// A revision recorded again (a crash lost its index line, and
		// the file changed behind the mount's back): the new bytes win.
		tmp := tempName(name)
		if err := unix.Linkat(ofd, obj, hfd, tmp, 0); err != nil {
			return err
		}
		if err := unix.Renameat(hfd, tmp, hfd, name); err != nil {
			unix.Unlinkat(hfd, tmp, 0)
			return err
		}
	} else if err != nil {
		return err
	}
	if err := ss.dir(hfd); err != nil {
		return err
	}

	all := h.versions[:len(h.versions):len(h.versions)]
	for i := range all {
		if all[i].Rev == v.Rev {
			all = append(all[:i:i], all[i+1:]...)
			break
		}
	}
	all = append(all, v)
	drop, keep := d.Config().History.Prune(all, time.Now())
	lines, err := json.Marshal(v)
	if err != nil {
		return err
	}
	lines = append(lines, '\n')
	for _, x := range drop {
		b, _ := json.Marshal(Version{Rev: x.Rev, Time: x.Time, SHA256: x.SHA256, Dropped: true})
		lines = append(append(lines, b...), '\n')
	}
	h.versions, h.lines = keep, h.lines+1+len(drop)
	for _, x := range drop {
		d.unlinkVersion(hfd, ofd, rel, x)
	}
	defer func() { d.hist.put(rel, h) }()
	if h.lines > 2*len(h.versions)+16 || h.torn {
		var out []byte
		for _, x := range h.versions {
			b, _ := json.Marshal(x)
			out = append(append(out, b...), '\n')
		}
		if err := d.replaceIndex(hfd, HistoryIndex, out); err != nil {
			h.torn = true
			return err
		}
		h.lines, h.torn = len(h.versions), false
		return nil
	}
	ifd, err := unix.Openat(hfd, HistoryIndex, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		h.torn = true
		return err
	}
	defer unix.Close(ifd)
	if err := writeAll(ifd, lines); err != nil {
		// The index lacks this version, or ends in a cut line: the next
		// record rewrites it whole from what the cache keeps, so no
		// version vanishes from it for good.
		h.torn = true
		return err
	}
	return ss.file(ifd)
}

// fileHistory returns the cached history of rel, reading its index into
// the cache when it is not there. The caller holds d.hist.record.
func (d *Dir) fileHistory(rel string) (fileHistory, error) {
	if h, ok := d.hist.get(rel); ok {
		return h, nil
	}
	h, err := d.readHistory(rel)
	if err != nil {
		return h, err
	}
	d.hist.put(rel, h)
	return h, nil
}

// readHistory reads rel's index from disk. The caller holds
// d.hist.record.
func (d *Dir) readHistory(rel string) (fileHistory, error) {
	b, err := d.readSmall(HistoryPath(rel) + "/" + HistoryIndex)
	if err != nil && err != unix.ENOENT {
		return fileHistory{}, err
	}
	// A tail that a crash cut short, or left as zeros, would swallow the
	// next line appended: the next record rewrites the index instead.
	return fileHistory{versions: ParseIndex(b), lines: bytes.Count(b, []byte("\n")), torn: len(b) > 0 && b[len(b)-1] != '\n'}, nil
}

// unlinkVersion removes a dropped version's name, and its object once no
// other version holds it.
func (d *Dir) unlinkVersion(hfd, ofd int, rel string, v Version) {
	var st unix.Stat_t
	if unix.Fstatat(hfd, VersionName(rel, v.Rev), &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
		return
	}
	unix.Unlinkat(hfd, VersionName(rel, v.Rev), 0)
	var ost unix.Stat_t
	if unix.Fstatat(ofd, v.SHA256, &ost, unix.AT_SYMLINK_NOFOLLOW) == nil && ost.Ino == st.Ino && ost.Nlink <= 1 {
		if unix.Unlinkat(ofd, v.SHA256, 0) == nil {
			d.store.add(-ost.Size)
		}
	}
}

// replaceIndex replaces name in the folder dfd atomically, the new file
// fsynced before the rename (the caller fsyncs the folder).
func (d *Dir) replaceIndex(dfd int, name string, data []byte) error {
	tmp := tempName(name)
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return err
	}
	err = writeAll(fd, data)
	if err == nil {
		err = fsync(fd)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dfd, tmp, dfd, name)
	}
	if err != nil {
		unix.Unlinkat(dfd, tmp, 0)
	}
	return err
}

// object makes sure .paracfs/objects/<sum> holds data and returns its
// name. An object of the wrong size (cut short by a crash) is replaced.
// A new object and the folder's entry are fsynced with ss.
func (d *Dir) object(sum string, data []byte, ss *syncSet) (string, error) {
	if len(sum) != 64 || strings.ContainsAny(sum, "/.") {
		return "", fmt.Errorf("bad sha256 %q", sum)
	}
	ofd, err := d.openat(ObjectsDir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err == unix.ENOENT {
		if err := d.mkdirAll(ObjectsDir); err != nil {
			return "", err
		}
		ofd, err = d.openat(ObjectsDir, unix.O_PATH|unix.O_DIRECTORY, 0)
	}
	if err != nil {
		return "", err
	}
	defer unix.Close(ofd)
	var st unix.Stat_t
	if unix.Fstatat(ofd, sum, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == int64(len(data)) {
		return sum, nil
	}
	tmp := tempName(sum)
	fd, err := unix.Openat(ofd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o444)
	if err != nil {
		return "", err
	}
	err = writeAll(fd, data)
	if err == nil {
		err = ss.file(fd)
	}
	if cerr := unix.Close(fd); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(ofd, tmp, ofd, sum)
	}
	if err == nil {
		err = ss.dir(ofd)
	}
	if err != nil {
		unix.Unlinkat(ofd, tmp, 0)
		return "", err
	}
	d.store.add(int64(len(data)))
	return sum, nil
}

// moveHistory carries the histories under directory oldRel along when it
// is renamed to newRel (exchange: the two swap), as the files' revisions
// are carried: the history of a moved file goes on under its new name. A
// history already at the new name (of files once there) stays, and the
// moved one then stays at the old name.
func (d *Dir) moveHistory(oldRel, newRel string, exchange bool) {
	d.flushAllPending() // the records are found by name no more
	d.hist.record.Lock()
	defer d.hist.record.Unlock()
	d.hist.clear() // reread from the indexes as needed
	from, to := HistoryPath(oldRel), HistoryPath(newRel)
	exists := func(rel string) bool {
		fd, err := d.openat(rel, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err == nil {
			unix.Close(fd)
		}
		return err == nil
	}
	fromOK, toOK := exists(from), exists(to)
	var err error
	switch {
	case exchange && fromOK && toOK:
		err = d.renameBeneath(from, to, unix.RENAME_EXCHANGE)
	case exchange && toOK:
		from, to = to, from
		fallthrough
	case fromOK && !toOK:
		dir, _ := split(to)
		if err = d.mkdirAll(dir); err == nil {
			err = d.renameBeneath(from, to, unix.RENAME_NOREPLACE)
		}
	}
	if err != nil {
		d.note("warning", fmt.Sprintf("the history of %s/ stays under %s: %v", oldRel, from, err))
	}
}

// renameBeneath renames rel to newRel, both beneath DIR, resolving their
// folders without following symlinks.
func (d *Dir) renameBeneath(rel, newRel string, flags uint) error {
	opfd, obase, err := d.parent(rel)
	if err != nil {
		return err
	}
	defer d.closeParent(opfd)
	return d.atParent(newRel, func(npfd int, nbase string) error {
		return unix.Renameat2(opfd, obase, npfd, nbase, flags)
	})
}

// collectObjects removes the objects that no version names: left by a
// daemon killed between writing an object and linking it. Run at Open.
func (d *Dir) collectObjects() int {
	ents, err := d.ReadDir(ObjectsDir, true)
	if err != nil {
		return 0
	}
	ofd, err := d.openat(ObjectsDir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return 0
	}
	defer unix.Close(ofd)
	n := 0
	for _, e := range ents {
		var st unix.Stat_t
		if unix.Fstatat(ofd, e.Name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Nlink == 1 {
			if unix.Unlinkat(ofd, e.Name, 0) == nil {
				d.store.add(-st.Size)
				n++
			}
		}
	}
	return n
}

// Versions lists the versions of rel, oldest first.
func (d *Dir) Versions(rel string) ([]Version, error) {
	b, err := d.readSmall(HistoryPath(rel) + "/" + HistoryIndex)
	if err != nil {
		return nil, err
	}
	return ParseIndex(b), nil
}

// ReadVersion returns the bytes of revision rev of rel from its history,
// checked against the sha256 its index recorded.
func (d *Dir) ReadVersion(rel string, rev int64) ([]byte, Version, error) {
	vs, err := d.Versions(rel)
	if err == unix.ENOENT {
		return nil, Version{}, fmt.Errorf("%s: no history kept", rel)
	}
	if err != nil {
		return nil, Version{}, fmt.Errorf("%s: history: %w", rel, err)
	}
	for _, v := range vs {
		if v.Rev != rev {
			continue
		}
		data, err := versionBytes(rel, v, func(name string) ([]byte, error) { return d.readSmall(HistoryPath(rel) + "/" + name) })
		return data, v, err
	}
	return nil, Version{}, fmt.Errorf("%s: revision %d is not in the history (run paracfs history %s)", rel, rev, rel)
}

// sameLink reports whether two names are links of one file.
func sameLink(dfd1 int, name1 string, dfd2 int, name2 string) bool {
	var a, b unix.Stat_t
	return unix.Fstatat(dfd1, name1, &a, unix.AT_SYMLINK_NOFOLLOW) == nil &&
		unix.Fstatat(dfd2, name2, &b, unix.AT_SYMLINK_NOFOLLOW) == nil && a.Ino == b.Ino && a.Dev == b.Dev
}
