package backing

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
	"github.com/paracfs/paracfs/revision"
)

// Write is one new version of a managed file, handed to Commit.
type Write struct {
	Path   string // relative to DIR
	Data   []byte // the whole new content
	Base   int64  // revision the write was derived from; -1: unknown, or what Caller.Reads says
	Op     string // log op: "commit" (the default) or "rename", "truncate", ...
	From   string // rename source, for the log
	Caller Caller
	Mode   uint32 // permission bits when the file does not exist yet (0644 if 0)
	// Unstamped, when set, says Data is a writer's own bytes after an
	// earlier commit of theirs stamped revision Base into the file: a
	// revision scalar still reading *Unstamped stands for Base (the
	// writer kept the field).
	Unstamped *int64
	// Append says Data is to be appended to the content that is current
	// when the commit holds P's lock (O_APPEND writes): Base is then
	// ignored, since an append derives from whatever is current.
	Append bool
	// Meta is what the writer set on its handle, or the renamed file's
	// own metadata; nil keeps P's.
	Meta *Meta
}

// Result is what a commit made.
type Result struct {
	Rev  int64  // the new revision
	Data []byte // the committed bytes (with the revision scalar stamped)
	// Own is the revision scalar the written bytes carried before
	// stamping, -1 when they had none.
	Own int64
}

// current is the committed state of a path, read under its lock.
type current struct {
	exists bool
	st     unix.Stat_t
	data   []byte        // read for YAML/JSON, and when its size is the new one's
	doc    *revision.Doc // nil when unparsable, or a kind without fields
	rev    int64
	// xattrs are P's carried xattrs (carriedXattr), read from the descriptor
	// readCurrent opened, when listed is set.
	xattrs map[string][]byte
	listed bool
	// dirGid is the group a new file takes from a setgid directory, -1
	// when the directory is not setgid (the writer's group then).
	dirGid int
}

// Commit turns w into the new committed version of w.Path: it validates the
// content, takes P.lock (waiting at most the lock timeout), checks the
// revision, stamps the revision scalar, writes a temp file beside P, fsyncs
// it, renames it over P, fsyncs the directory, appends one log line, and
// unlocks. A refusal is a *Refusal; the backing file is then untouched and
// the refused bytes are kept under .paracfs/rejected/.
//
// Validation runs before the lock is taken: it depends on the bytes alone,
// and the lock is then held only for the short read-check-rename.
func (d *Dir) Commit(w Write) (Result, error) {
	if err := d.begin(); err != nil {
		return Result{}, err
	}
	defer d.inflight.Done()
	if IsMeta(w.Path) {
		return Result{}, d.refuse(&Refusal{Op: OpReadOnly, Path: w.Path, Reason: MetaDir + "/ is read-only through the mount"}, w.Caller, nil, 0)
	}
	if d.IsLog(w.Path) {
		return Result{}, d.refuseLogChange(LogReplace, w.Path, w.Caller, w.Data)
	}
	kind := revision.KindOf(w.Path)
	var doc *revision.Doc
	var parsed []byte
	own := int64(-1)
	if !w.Append || !hasFields(kind) {
		// An append to JSONL or Markdown is validated by itself here;
		// one to YAML or JSON only with what it is appended to, under
		// the lock (appendTo).
		var err error
		if doc, parsed, err = d.validate(w, kind); err != nil {
			return Result{}, err
		}
		if doc.HasRev {
			own = doc.Rev
			if w.Unstamped != nil && w.Base >= 0 && doc.Rev == *w.Unstamped {
				doc.Rev = w.Base // Stamped replaces the scalar whatever it reads
			}
		}
	}

	pfd, leaf, err := d.parent(w.Path)
	if err != nil {
		if r, ok := diskRefusal(w.Path, err); ok {
			return Result{}, d.refuse(r, w.Caller, w.Data, d.peekRevision(w.Path))
		}
		return Result{}, fmt.Errorf("%s: %w", w.Path, err)
	}
	defer d.closeParent(pfd)

	// A rename onto P or a truncate by path runs while the kernel holds
	// P's directory or P locked.
	unlock, err := d.lock(w.Path, pfd, leaf, w.Caller, w.From != "" || w.Op == changelog.OpTruncate)
	if err != nil {
		if r, ok := lockRefusal(w.Path, err); ok {
			return Result{}, d.refuse(r, w.Caller, w.Data, d.peekRevision(w.Path))
		}
		return Result{}, err
	}
	defer unlock()

	cur, err := d.readCurrent(pfd, leaf, w.Path, kind, len(w.Data))
	if err != nil {
		if r, ok := diskRefusal(w.Path, err); ok {
			return Result{}, d.refuse(r, w.Caller, w.Data, d.peekRevision(w.Path))
		}
		return Result{}, fmt.Errorf("%s: %w", w.Path, err)
	}
	if w.Append {
		if w, doc, parsed, err = d.appendTo(w, pfd, leaf, kind, &cur, doc); err != nil {
			return Result{}, err
		}
	}
	from := w.Base
	if from < 0 && !w.Append && w.Caller.Reads != nil {
		if r, ok := w.Caller.Reads.LastRead(w.Path); ok {
			from = r // the caller read this file before: a read-modify-write
		}
	}
	v, err := d.checkRevision(w, cur, from, doc)
	if err != nil {
		r, ok := err.(*Refusal)
		if !ok {
			r = refusalFrom(w.Path, err)
		}
		return Result{}, d.refuse(r, w.Caller, w.Data, v.current)
	}
	next, stamp := v.next, v.stamp
	if cur.exists && cur.st.Size == int64(len(w.Data)) && bytes.Equal(cur.data, w.Data) {
		// Not stale, and the very bytes already committed (an editor
		// putting back what it had after a refused save): nothing to commit
		// but the times of a write and the metadata the writer set.
		if err := touchWritten(pfd, leaf, w); err != nil {
			return Result{}, fmt.Errorf("%s: %w", w.Path, err)
		}
		if err := d.applyMeta(pfd, leaf, w, cur); err != nil {
			return Result{}, fmt.Errorf("%s: %w", w.Path, err)
		}
		if w.Caller.Reads != nil {
			w.Caller.Reads.Wrote(w.Path, cur.rev)
		}
		return Result{Rev: cur.rev, Data: w.Data, Own: own}, nil
	}
	// The fsyncs the acknowledgment waits for before the rename, run
	// together: the temp file's, the history's record of the version it
	// replaces when it is not on disk yet (that record becomes the only
	// copy), and of the version from before the mount. The directory's
	// comes after the rename.
	var pre syncSet
	defer pre.flush()
	pre.add(d.takePending(w.Path))
	if err := d.recordFirst(pfd, leaf, w.Path, cur, &pre); err != nil {
		// The version about to be replaced is on disk nowhere else: a
		// commit now would lose it from the history for good.
		r, ok := diskRefusal(w.Path, err)
		if !ok {
			r = &Refusal{Op: OpIOError, Path: w.Path}
		}
		r.Reason = fmt.Sprintf("revision %d, which this write would replace, could not be kept in the history: %v", cur.rev, err)
		return Result{}, d.refuse(r, w.Caller, w.Data, cur.rev)
	}
	data := w.Data
	if stamp {
		data = doc.Stamped(next)
	} else if !doc.HasRev && v.restores == nil && d.Config().stampsRevision(w.Path) {
		data, _ = doc.WithRevision(next) // a rule asks for the field: add it
	}
	if len(data) > 0 && len(parsed) > 0 && &data[0] == &parsed[0] {
		data = w.Data // the same bytes: the copy stays the cached doc's own
	}
	sum := sha256hex(data)
	if r := d.storeCommit(w, cur, v, data, sum); r != nil {
		return Result{}, d.refuse(r, w.Caller, w.Data, v.current) // the store said no: nothing local changes
	}
	written, err := d.replace(pfd, leaf, w, cur, data, next, sum, &pre)
	if err != nil {
		d.committed.drop(w.Path)
		if r, ok := diskRefusal(w.Path, err); ok {
			return Result{}, d.refuse(r, w.Caller, w.Data, cur.rev) // the temp file is gone: P is untouched
		}
		return Result{}, fmt.Errorf("%s: %w", w.Path, err)
	}
	if hasFields(kind) {
		d.committed.put(w.Path, written, data, doc)
	}
	if !cur.exists {
		d.revs.unbury(w.Path)
	}
	defer d.configTouched(w.Path) // once logged, still under P's lock
	if w.Caller.Reads != nil {
		w.Caller.Reads.Wrote(w.Path, next)
	}

	op := w.Op
	if op == "" {
		op = changelog.OpCommit
	}
	switch {
	case op == changelog.OpCommit && v.first:
		op = changelog.OpCreate // a name that had no revision yet; a re-created one is an update
	case v.restores != nil:
		op = OpRestore
	}
	// The directory's fsync, which makes the rename durable, runs while
	// the history records the version and the log line is written: the
	// acknowledgment waits for all three, and none needs another done.
	dirSynced := make(chan error, 1)
	go func() { dirSynced <- fsyncDir(pfd) }()
	d.recordCommit(w.Path, next, op, w.Caller, data, sum)
	e := d.entry(op, w.Path, w.Caller)
	e.Revision, e.OldRevision = &next, &v.current
	size := int64(len(data))
	e.Size, e.SHA256, e.From = &size, sum, w.From
	if v.restores != nil && e.From == "" {
		e.From = fmt.Sprintf("%s@%d", w.Path, v.restores.Rev) // as paracfs restore logs it
	}
	d.describeChanges(e, cur.doc, doc, fileMode(w, cur))
	e.Description = v.describe(w, op)
	d.appendLog(e)
	synced := <-dirSynced
	if synced != nil {
		// The file was replaced, but the disk did not confirm it: not
		// acknowledged, and counted and logged as the disk's failure. The
		// bytes are in the file, not kept aside.
		d.committed.drop(w.Path)
		if r, ok := diskRefusal(w.Path, synced); ok {
			r.Reason = fmt.Sprintf("the file was replaced, but the disk did not confirm it (%v): after a crash it may hold revision %d again", synced, v.current)
			return Result{}, d.refuse(r, w.Caller, nil, next)
		}
		return Result{}, fmt.Errorf("%s: %w", w.Path, synced)
	}
	d.stats.committed()
	return Result{Rev: next, Data: data, Own: own}, nil
}

// readCurrent reads P's committed bytes and revision. A missing P, or a P
// that is not a regular file (a symlink is never followed), counts as absent.
func (d *Dir) readCurrent(pfd int, leaf, rel string, kind revision.Kind, newLen int) (current, error) {
	cur := current{dirGid: setgidGroup(pfd)}
	fd, err := unix.Openat(pfd, leaf, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err == unix.ENOENT || err == unix.ELOOP {
		cur.rev, _ = d.revs.tombstone(rel)
		return cur, nil
	}
	if err != nil {
		return cur, err
	}
	defer unix.Close(fd)
	if err := unix.Fstat(fd, &cur.st); err != nil {
		return cur, err
	}
	if cur.st.Mode&unix.S_IFMT != unix.S_IFREG {
		cur.rev, _ = d.revs.tombstone(rel)
		return cur, nil
	}
	cur.exists = true
	cur.xattrs, cur.listed = carriedXattrsFd(fd)
	if hasFields(kind) {
		if s, ok := d.revs.stored(fd, rel); ok && s.size == cur.st.Size && s.mtime == mtimeNs(&cur.st) {
			if v, ok := d.committed.get(rel, s); ok {
				cur.data, cur.doc, cur.rev = v.data, v.doc, s.rev // the version this daemon committed
				return cur, nil
			}
		}
	}
	if hasFields(kind) || cur.st.Size == int64(newLen) {
		if cur.data, err = readAllFd(fd, cur.st.Size, d.Config().Limits.MaxSize); err != nil {
			return cur, err
		}
	}
	if hasFields(kind) {
		cur.doc, _ = revision.Parse(kind, cur.data, d.Config().Limits)
	}
	in, err := d.inspect(fd, rel, &cur.st, cur.data, cur.doc)
	if err != nil {
		return cur, err
	}
	if in.external {
		d.adoptExternal(rel, &cur.st, in) // we hold P's lock
	}
	cur.rev = in.rev
	return cur, nil
}

// revisionOf is the revision of an existing file that carries no stamp:
// its revision field, else the name's tombstone, else 0.
func (d *Dir) revisionOf(fd int, rel string, doc *revision.Doc) int64 {
	if doc != nil && doc.HasRev && plausible(doc.Rev) {
		return doc.Rev
	}
	if rev, ok := d.revs.tombstone(rel); ok {
		return rev
	}
	return 0
}

// peekRevision reads the current revision without the lock, for log lines
// of refusals that never reached it.
func (d *Dir) peekRevision(rel string) int64 {
	rev, _ := d.Revision(rel)
	return rev
}

// Revision returns the current revision of the managed file rel.
func (d *Dir) Revision(rel string) (int64, error) {
	fd, err := d.openat(rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err == unix.ENOENT {
		rev, _ := d.revs.tombstone(rel)
		return rev, nil
	}
	if err != nil {
		return 0, err
	}
	defer unix.Close(fd)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return 0, err
	}
	in, err := d.inspect(fd, rel, &st, nil, nil)
	return in.rev, err
}

// hasFields reports whether files of kind can carry a revision field and
// top-level keys; the others (JSONL, Markdown) need no reading of their
// old content.
func hasFields(kind revision.Kind) bool { return kind == revision.YAML || kind == revision.JSON }

// replace writes data to a temp file beside P with P's metadata (see
// fileMeta), records the revision on it, fsyncs it (with what pre holds)
// and renames it over P.
// The caller fsyncs the directory, with the history's entries.
func (d *Dir) replace(pfd int, leaf string, w Write, cur current, data []byte, rev int64, sum string, pre *syncSet) (stamp, error) {
	mode := fileMode(w, cur)
	uid, gid := fileOwner(w, cur)
	m := NewMeta()
	if w.Meta != nil {
		m = *w.Meta
	}
	// A new file is created with its mode, so that the directory's
	// default ACL applies to it as to any file created there; the others
	// get their ACL from P or the writer.
	fresh := !cur.exists && !m.Whole
	tmp := tempName(leaf)
	createMode := uint32(0o600)
	if fresh {
		createMode = mode &^ (unix.S_ISUID | unix.S_ISGID)
	}
	fd, err := unix.Openat(pfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, createMode)
	if err != nil {
		return stamp{}, err
	}
	ok := false
	defer func() {
		if !ok {
			unix.Close(fd)
			unix.Unlinkat(pfd, tmp, 0)
		}
	}()
	if err := writeAll(fd, data); err != nil {
		return stamp{}, err
	}
	if euid == 0 {
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return stamp{}, err
		}
	}
	fdPath := "/proc/self/fd/" + strconv.Itoa(fd)
	inherited := false
	if fresh {
		_, aerr := unix.Fgetxattr(fd, aclAccess, nil)
		inherited = aerr == nil
	}
	if err := d.copyXattrs(fd, pfd, leaf, cur, !m.Whole, &m, fresh); err != nil {
		return stamp{}, err
	}
	if !inherited || m.HasMode {
		if err := unix.Fchmod(fd, mode); err != nil {
			return stamp{}, err
		}
	}
	if m.Atime.Nsec != unix.UTIME_OMIT || m.Mtime.Nsec != unix.UTIME_OMIT {
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, fdPath, []unix.Timespec{m.Atime, m.Mtime}, 0); err != nil {
			return stamp{}, err
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return stamp{}, err
	}
	written := stamp{rev: rev, sha: sum, size: st.Size, mtime: mtimeNs(&st)}
	d.revs.record(fd, w.Path, written)
	if err := pre.syncWith(fd); err != nil {
		return stamp{}, err
	}
	if err := unix.Close(fd); err != nil {
		return stamp{}, err
	}
	if err := unix.Renameat(pfd, tmp, pfd, leaf); err != nil {
		return stamp{}, err
	}
	ok = true
	return written, nil
}

// copyXattrs gives the temp file fd the carried xattrs of P (leaf in pfd;
// when it exists and carryP) with the writer's changes in m. An access ACL
// that the temp file inherited from its directory stays only on a new
// file.
func (d *Dir) copyXattrs(fd, pfd int, leaf string, cur current, carryP bool, m *Meta, fresh bool) error {
	var set map[string][]byte
	switch {
	case !cur.exists || !carryP:
	case cur.listed:
		set = maps.Clone(cur.xattrs)
	default:
		set = readXattrs(procAt(pfd, leaf))
	}
	if set == nil {
		set = map[string][]byte{}
	}
	for k, v := range m.Xattrs {
		set[k] = v
	}
	for k := range m.Removed {
		delete(set, k)
	}
	if _, ok := set[aclAccess]; !ok && !fresh {
		unix.Fremovexattr(fd, aclAccess)
	}
	for k, v := range set {
		if err := unix.Fsetxattr(fd, k, v, 0); err != nil && !(k == aclAccess && fresh) {
			if err == unix.ENOTSUP || err == unix.EOPNOTSUPP {
				continue // the backing filesystem has none
			}
			return fmt.Errorf("setting %s: %w", k, err)
		}
	}
	if fresh && m.Removed != nil {
		if _, ok := m.Removed[aclAccess]; ok {
			unix.Fremovexattr(fd, aclAccess)
		}
	}
	return nil
}

// carriedXattrsFd reads the carried xattrs (carriedXattr) of the open file fd: one
// flistxattr for a file that has only paracfs's own, the common case. ok
// is false when they could not be listed (readXattrs by path then does).
func carriedXattrsFd(fd int) (carried map[string][]byte, ok bool) {
	var small [256]byte
	buf := small[:]
	sz, err := unix.Flistxattr(fd, buf)
	if err == unix.ERANGE {
		if sz, err = unix.Flistxattr(fd, nil); err == nil {
			buf = make([]byte, sz)
			sz, err = unix.Flistxattr(fd, buf)
		}
	}
	if err == unix.ENOTSUP || err == unix.EOPNOTSUPP {
		return nil, true
	}
	if err != nil {
		return nil, false
	}
	for names := buf[:sz]; len(names) > 0; {
		name, rest, _ := bytes.Cut(names, []byte{0})
		names = rest
		if !carriedXattr(string(name)) {
			continue
		}
		n, err := unix.Fgetxattr(fd, string(name), nil)
		if err != nil {
			continue
		}
		v := make([]byte, n)
		if n, err = unix.Fgetxattr(fd, string(name), v); err != nil {
			continue
		}
		if carried == nil {
			carried = map[string][]byte{}
		}
		carried[string(name)] = v[:n]
	}
	return carried, true
}

// euid is the daemon's effective user id, which it never changes.
var euid = os.Geteuid()

// fileMode is the permission bits of the committed file: what the writer
// set (fchmod, or the renamed file's), else P's own without setuid and
// setgid when another user than root wrote it, else for a new file the
// requested mode (0644 if none).
func fileMode(w Write, cur current) uint32 {
	if w.Meta != nil && w.Meta.HasMode {
		return w.Meta.Mode & 0o7777
	}
	if cur.exists {
		return killPriv(cur.st.Mode&0o7777, w.Caller)
	}
	if mode := w.Mode & 0o7777; mode != 0 {
		return mode
	}
	return 0o644
}

// fileOwner is the owner of the committed file: the one the writer set,
// else P's, else the caller's.
func fileOwner(w Write, cur current) (uid, gid int) {
	uid, gid = int(w.Caller.Uid), int(w.Caller.Gid)
	if cur.dirGid >= 0 {
		gid = cur.dirGid // a setgid directory's group, as the kernel gives it
	}
	if cur.exists {
		uid, gid = int(cur.st.Uid), int(cur.st.Gid)
	}
	if w.Meta != nil {
		if w.Meta.Uid >= 0 {
			uid = w.Meta.Uid
		}
		if w.Meta.Gid >= 0 {
			gid = w.Meta.Gid
		}
	}
	return uid, gid
}

// fsyncDir fsyncs a directory given by an O_PATH descriptor.
func fsyncDir(pfd int) error {
	fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return fsync(fd)
}

// tempName is a fresh temp file name beside leaf:
// .paracfs-tmp.<leaf>.<12 hex>, with leaf shortened (fitName) when that
// would be over 255 bytes. Recovery knows temp files by their prefix.
func tempName(leaf string) string {
	var b [6]byte
	rand.Read(b[:])
	return tempPrefix + fitName(leaf, len(tempPrefix)+13) + "." + hex.EncodeToString(b[:])
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// readAllFd reads an open file from offset 0, refusing more than limit bytes.
func readAllFd(fd int, sizeHint, limit int64) ([]byte, error) {
	if sizeHint > limit {
		return nil, fmt.Errorf("file is %d bytes, over the %d-byte limit", sizeHint, limit)
	}
	buf := make([]byte, 0, sizeHint+1)
	var off int64
	for {
		if int64(len(buf)) == int64(cap(buf)) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Pread(fd, buf[len(buf):cap(buf)], off)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, err
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
		off += int64(n)
		if off > limit {
			return nil, fmt.Errorf("file is over the %d-byte limit", limit)
		}
	}
}
