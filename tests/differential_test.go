package tests

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/backing"
)

// The differential test runs random sequences of open/write/close,
// truncate, rename, unlink, mkdir, rmdir, read, stat and readdir on a
// small set of scratch and managed names, both through the mount and in a
// plain directory on the same filesystem, and requires the same results.
// Where the contract differs from a plain filesystem, the difference is
// predicted and asserted:
//
//   - a commit (close of a handle that wrote, truncate by path, rename onto
//     a managed name) of invalid content fails with EBADMSG and leaves the
//     file as it was; a stale revision field (or a base the process read
//     before that is no longer current) fails with EBUSY, unless its bytes
//     are a version (a restore, committed as written); a revision
//     field ahead by more than one is EBADMSG; a name with no committed
//     version takes the revision its content carries (0 without one);
//   - an accepted commit whose revision field equals the current revision
//     is stamped with the next one; the xattr revision goes up by exactly
//     one per commit, and not at all for a write of the very bytes already
//     there;
//   - the 0-byte P.lock files the commits take stay visible: listings skip
//     them, and a rmdir (or a rename over a directory) that fails with
//     ENOTEMPTY only because of them is retried after removing them.
//
// The predictions come from a model of docs/revisions.md written for the
// test (revmodel_test.go: python3 parses, a regexp stamps, the rules are
// the docs' own), never from paracfs's revision package, so a bug there
// cannot hide behind its own prediction.
//
// After each step the plain directory is brought to the state the contract
// predicts, and the two trees are compared. Failures print the seed and the
// operations so far; PARACFS_DIFF_SEED=<seed> replays one sequence.

var (
	diffDirs  = []string{"", "d1", "d2", "d1/e"}
	diffFiles = []string{"a.txt", "b.tmp", "c", "m.yaml", "n.yml", "j.json", "l.jsonl", "k.md"}
)

// diffManaged reports whether a base name is managed (the default globs).
func diffManaged(rel string) bool { return toolManagedName(path.Base(rel)) }

// diffState is what a path holds.
type diffState struct {
	errno syscall.Errno // of lstat
	typ   uint32        // S_IFMT bits
	perm  uint32
	size  int64
	data  []byte // regular files
}

func (s diffState) String() string {
	if s.errno != 0 {
		return s.errno.Error()
	}
	switch s.typ {
	case unix.S_IFDIR:
		return fmt.Sprintf("dir %o", s.perm)
	case unix.S_IFREG:
		return fmt.Sprintf("file %o %d bytes %s", s.perm, s.size, short(string(s.data)))
	}
	return fmt.Sprintf("type %o", s.typ)
}

func (s diffState) exists() bool  { return s.errno == 0 }
func (s diffState) regular() bool { return s.errno == 0 && s.typ == unix.S_IFREG }

type diffRun struct {
	t    *testing.T
	p    *project
	seed int64
	rnd  *rand.Rand
	mnt  string // the test's directory through the mount
	pln  string // the plain directory
	sub  string // mnt relative to DIR
	tomb map[string]int64
	know map[string]int64 // revision this process last read or committed, by path
	// oracle parses content for the model of the contract (revmodel_test.go),
	// which predicts every commit without paracfs's revision package.
	oracle *revOracle
	ghost  map[string][]byte
	hist   []string

	commits, refusals, uncertain int
	counts                       map[string]int
}

func (d *diffRun) m(rel string) string { return filepath.Join(d.mnt, rel) }
func (d *diffRun) l(rel string) string { return filepath.Join(d.pln, rel) }

func (d *diffRun) fail(format string, args ...any) {
	d.t.Helper()
	h := d.hist
	if len(h) > 40 && os.Getenv("PARACFS_DIFF_SEED") == "" {
		h = h[len(h)-40:] // a replay prints them all
	}
	var tail []string
	if b, err := os.ReadFile(d.p.backing(logRel)); err == nil {
		ls := strings.Split(strings.TrimSpace(string(b)), "\n")
		tail = ls[max(0, len(ls)-4):]
	}
	d.t.Fatalf("seed %d, step %d: %s\nlast operations:\n  %s\nlast log lines:\n  %s\n(PARACFS_DIFF_SEED=%d replays it)",
		d.seed, len(d.hist), fmt.Sprintf(format, args...), strings.Join(h, "\n  "), strings.Join(tail, "\n  "), d.seed)
}

func statOf(p string, read bool) diffState {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return diffState{errno: errnoOf(err)}
	}
	s := diffState{typ: st.Mode & unix.S_IFMT, perm: st.Mode & 0o7777, size: st.Size}
	if read && s.typ == unix.S_IFREG {
		b, err := os.ReadFile(p)
		if err != nil {
			return diffState{errno: errnoOf(err)}
		}
		s.data = b
	}
	return s
}

// mstat is the state of rel through the mount; reading a managed file
// records its revision as this process's knowledge, as the daemon does.
func (d *diffRun) mstat(rel string) diffState {
	s := statOf(d.m(rel), true)
	if s.regular() && diffManaged(rel) {
		d.know[rel] = d.rev(rel)
	}
	return s
}

// rev is the revision of rel on the mount: the xattr of an existing file,
// else the tombstone this test recorded, else 0.
func (d *diffRun) rev(rel string) int64 {
	buf := make([]byte, 64)
	n, err := unix.Getxattr(d.m(rel), revXattr, buf)
	if err == nil {
		r, _ := strconv.ParseInt(string(buf[:n]), 10, 64)
		return r
	}
	return d.tomb[rel]
}

// sameState compares a path through the mount and in the plain directory.
func (d *diffRun) sameState(rel string) {
	d.t.Helper()
	ms, ps := d.mstat(rel), statOf(d.l(rel), true)
	if ms.errno != ps.errno || ms.typ != ps.typ || (ms.typ != unix.S_IFDIR && ms.perm != ps.perm) ||
		(ms.typ == unix.S_IFREG && (ms.size != ps.size || !bytes.Equal(ms.data, ps.data))) {
		d.fail("%s: through the mount %s, plain %s", rel, ms, ps)
	}
	if ms.typ == unix.S_IFDIR {
		d.sameListing(rel)
	}
}

// listing is a directory's names, without the lock files of managed names.
func listing(dir string) ([]string, []string, syscall.Errno) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, errnoOf(err)
	}
	var names, locks []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasSuffix(n, ".lock") && toolManagedName(strings.TrimSuffix(n, ".lock")) {
			locks = append(locks, n)
			continue
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names, locks, 0
}

func (d *diffRun) sameListing(rel string) {
	d.t.Helper()
	mn, _, me := listing(d.m(rel))
	pn, _, pe := listing(d.l(rel))
	if me != pe || strings.Join(mn, "/") != strings.Join(pn, "/") {
		d.fail("listing %q: through the mount %v %v, plain %v %v", rel, mn, me, pn, pe)
	}
	for _, n := range mn {
		if strings.HasPrefix(n, ".paracfs-tmp.") {
			d.fail("listing %q shows the daemon's temp file %s", rel, n)
		}
	}
}

// sameTree compares every name of the pool.
func (d *diffRun) sameTree() {
	d.t.Helper()
	for _, dir := range diffDirs {
		d.sameState(dir)
		for _, f := range diffFiles {
			d.sameState(path.Join(dir, f))
		}
	}
}

// setPlain makes the plain directory hold s at rel (a regular file's bytes,
// or nothing).
func (d *diffRun) setPlain(rel string, s diffState) {
	d.t.Helper()
	if !s.exists() {
		if err := os.Remove(d.l(rel)); err != nil && !os.IsNotExist(err) {
			d.fail("resync: removing plain %s: %v", rel, err)
		}
		return
	}
	if !s.regular() {
		d.fail("resync of %s to %s: not a file", rel, s)
	}
	if err := os.WriteFile(d.l(rel), s.data, 0o600); err != nil {
		d.fail("resync: writing plain %s: %v", rel, err)
	}
	if err := os.Chmod(d.l(rel), os.FileMode(s.perm)); err != nil {
		d.fail("resync: chmod plain %s: %v", rel, err)
	}
}

// verdict is what the contract makes of a commit of data to rel.
type verdict struct {
	errno     syscall.Errno
	raw       []byte // written bytes
	data      []byte // committed bytes
	rev       int64  // revision after
	changed   bool   // false: the very bytes already there, no new revision
	ambiguous bool   // a kept (unlinked or renamed-away) version: an undo or a commit
}

// predict applies the contract to a commit of data onto rel, whose state
// was before; base is the revision of a handle opened without O_TRUNC (-1
// for none).
func (d *diffRun) predict(rel string, before diffState, data []byte, base int64) verdict {
	cur := d.rev(rel)
	if base < 0 {
		if k, ok := d.know[rel]; ok {
			base = k
		}
	}
	f := revFacts{content: d.oracle.parse(d.t, rel, data), exists: before.exists(), cur: cur, base: base}
	_, f.buried = d.tomb[rel]
	if f.exists || f.buried {
		kept := d.kept(rel)
		curData := before.data // what the daemon holds: for a deleted name, its last version
		if !before.exists() {
			curData = nil
			if len(kept) > 0 && kept[len(kept)-1].Rev == cur {
				hist := backing.HistoryPath(path.Join(d.sub, rel))
				curData, _ = os.ReadFile(d.p.backing(path.Join(hist, backing.VersionName(rel, cur))))
			}
		}
		if curData != nil {
			f.curField = d.oracle.parse(d.t, rel, curData)
		}
		f.restored = len(kept) > 0 && kept[len(kept)-1].Rev == cur && kept[len(kept)-1].Op == "restore"
		sum := sha256hex(data)
		for _, k := range kept {
			f.older = f.older || k.Rev < cur && k.SHA256 == sum
		}
		f.same = before.regular() && bytes.Equal(before.data, data)
	}
	rv := revVerdictOf(f)
	if rv.errno != 0 {
		return verdict{errno: rv.errno, rev: rv.rev}
	}
	if rv.restore {
		d.counts["restore"]++
	}
	if !rv.changed {
		return verdict{data: data, rev: rv.rev}
	}
	v := verdict{raw: data, data: data, rev: rv.rev, changed: true}
	if rv.stamp {
		v.data = revStamp(d.t, rel, data, f.content.Rev, rv.rev)
	}
	if g, ok := d.ghost[rel]; ok && !before.exists() && bytes.Equal(g, data) {
		v.ambiguous = true
	}
	return v
}

// kept is the history the mount keeps of rel (read from its index in the
// backing directory): what makes a stale write a restore.
func (d *diffRun) kept(rel string) []backing.Version {
	b, err := os.ReadFile(d.p.backing(path.Join(backing.HistoryPath(path.Join(d.sub, rel)), backing.HistoryIndex)))
	if err != nil {
		return nil
	}
	return backing.ParseIndex(b)
}

// check compares a commit's outcome on the mount with the prediction,
// brings the plain directory to it, and records the bookkeeping.
func (d *diffRun) check(what, rel string, got syscall.Errno, v verdict, before diffState) {
	d.t.Helper()
	d.hist[len(d.hist)-1] += ", mount " + errName(got)
	if got != v.errno {
		d.fail("%s: %v through the mount, the contract says %v (plain: accepted)", what, errName(got), errName(v.errno))
	}
	after := d.mstat(rel)
	nowRev := d.rev(rel)
	if v.errno != 0 {
		d.refusals++
		if g, ok := d.ghost[rel]; ok && !before.exists() && after.regular() && bytes.Equal(after.data, g) && nowRev == v.rev {
			// Deleted (or renamed away) by this process, then re-created
			// and refused: the away name is put back, the file is
			// unchanged (git checkout's refused re-create, docs/tools.md).
			d.counts["refused re-create puts the away file back"]++
			delete(d.ghost, rel)
			delete(d.tomb, rel)
			d.setPlain(rel, after)
			return
		}
		if after.regular() != before.regular() || !bytes.Equal(after.data, before.data) || nowRev != v.rev {
			d.fail("%s: refused with %v, but %s changed: %s (revision %d), was %s (revision %d)", what, errName(got), rel, after, nowRev, before, v.rev)
		}
		d.setPlain(rel, before)
		return
	}
	if v.ambiguous && after.regular() && bytes.Equal(after.data, v.raw) && nowRev == v.rev-1 {
		// The away name shown to other processes came back (an undo of
		// the rename away or delete): no new revision.
		d.uncertain++
		v = verdict{data: after.data, rev: nowRev}
	}
	if !after.regular() || !bytes.Equal(after.data, v.data) || nowRev != v.rev {
		d.fail("%s: through the mount %s at revision %d, the contract says %q at revision %d", what, after, nowRev, short(string(v.data)), v.rev)
	}
	if v.changed {
		d.commits++
	}
	d.know[rel] = nowRev
	delete(d.ghost, rel)
	delete(d.tomb, rel)
	// The plain file keeps its own mode: the mount's is compared with it.
	if err := os.WriteFile(d.l(rel), after.data, 0o600); err != nil {
		d.fail("resync: writing plain %s: %v", rel, err)
	}
}

func errName(e syscall.Errno) string {
	if e == 0 {
		return "success"
	}
	return fmt.Sprintf("%s (%d)", e.Error(), int(e))
}

// content is random content for rel: half the time valid for its kind,
// else any of valid or invalid YAML, JSON, JSONL, text; with or without a
// revision field near the current revision cur.
func (d *diffRun) content(rel string, cur int64) []byte {
	r := d.rnd
	revs := []int64{cur, cur, cur + 1, cur - 1, cur + 2, 0}
	rv := revs[r.Intn(len(revs))]
	if rv < 0 {
		rv = 0
	}
	if r.Intn(2) == 0 {
		switch revKind(rel) {
		case "yaml":
			if r.Intn(2) == 0 {
				return []byte(fmt.Sprintf("# c\nrevision: %d\nk: v%d\n", rv, r.Intn(100)))
			}
			return []byte(fmt.Sprintf("k%d: v%d\n", r.Intn(3), r.Intn(100)))
		case "json":
			if r.Intn(2) == 0 {
				return []byte(fmt.Sprintf("{\"revision\": %d, \"k\": %d}\n", rv, r.Intn(100)))
			}
			return []byte(fmt.Sprintf(`{"k": [%d, "x"]}`, r.Intn(100)))
		case "jsonl":
			return []byte(fmt.Sprintf("{\"a\": %d}\n", r.Intn(9)))
		}
	}
	switch r.Intn(12) {
	case 0, 1:
		return []byte(fmt.Sprintf("k%d: v%d\n", r.Intn(3), r.Intn(100)))
	case 2, 3:
		return []byte(fmt.Sprintf("# c\nrevision: %d\nk: v%d\n", rv, r.Intn(100)))
	case 4:
		return []byte(fmt.Sprintf(`{"revision": %d, "k": %d}`, rv, r.Intn(100)))
	case 5:
		return []byte(fmt.Sprintf(`{"k": [%d, "x"]}`, r.Intn(100)))
	case 6:
		return []byte(fmt.Sprintf("{\"a\": %d}\n[%d]\n", r.Intn(9), r.Intn(9)))
	case 7:
		return []byte("a: [\n")
	case 8:
		return []byte(`{"a": `)
	case 9:
		return []byte("x\x00y\n")
	case 10:
		return bytes.Repeat([]byte(fmt.Sprintf("line %d\n", r.Intn(10))), 1+r.Intn(800))
	}
	return []byte(fmt.Sprintf("word%d", r.Intn(100)))
}

func (d *diffRun) pick(managedBias bool) string {
	dir := diffDirs[d.rnd.Intn(len(diffDirs))]
	f := diffFiles[d.rnd.Intn(len(diffFiles))]
	if managedBias && d.rnd.Intn(2) == 0 {
		f = diffFiles[3+d.rnd.Intn(len(diffFiles)-3)]
	}
	if d.rnd.Intn(20) == 0 {
		return diffDirs[1+d.rnd.Intn(len(diffDirs)-1)] // a directory where a file is expected
	}
	return path.Join(dir, f)
}

// writeFile opens, writes and closes, reporting the first failure. No
// process is forked from this one meanwhile (see writeMount).
func writeFile(p string, flags int, off int64, data []byte) (string, syscall.Errno) {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	fd, err := unix.Open(p, flags|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return "open", errnoOf(err)
	}
	if flags&unix.O_APPEND != 0 || off < 0 {
		_, err = unix.Write(fd, data)
	} else {
		_, err = unix.Pwrite(fd, data, off)
	}
	if err != nil {
		unix.Close(fd)
		return "write", errnoOf(err)
	}
	if err := unix.Close(fd); err != nil {
		return "close", errnoOf(err)
	}
	return "", 0
}

func (d *diffRun) step() {
	d.t.Helper()
	r := d.rnd
	switch n := r.Intn(100); {
	case n < 35:
		d.opWrite()
	case n < 43:
		d.opTruncate()
	case n < 58:
		d.opRename()
	case n < 66:
		d.opUnlink()
	case n < 69:
		rel := diffDirs[1+r.Intn(len(diffDirs)-1)]
		d.do("mkdir "+rel, func(root string) syscall.Errno { return errnoOf(unix.Mkdir(filepath.Join(root, rel), 0o755)) })
		d.sameState(rel)
	case n < 72:
		d.opRmdir()
	case n < 84:
		rel := d.pick(true)
		d.hist = append(d.hist, "read "+rel)
		d.sameState(rel)
		d.counts["read"]++
	case n < 92:
		rel := d.pick(false)
		d.hist = append(d.hist, "stat "+rel)
		ms, ps := statOf(d.m(rel), false), statOf(d.l(rel), false)
		if ms.errno != ps.errno || ms.typ != ps.typ || ms.size != ps.size {
			d.fail("stat %s: through the mount %s, plain %s", rel, ms, ps)
		}
		d.counts["stat"]++
	default:
		rel := diffDirs[r.Intn(len(diffDirs))]
		d.hist = append(d.hist, "readdir "+rel)
		d.sameListing(rel)
		d.counts["readdir"]++
	}
}

// do runs a plain operation on both trees and requires the same result.
func (d *diffRun) do(what string, op func(root string) syscall.Errno) syscall.Errno {
	d.t.Helper()
	d.hist = append(d.hist, what)
	d.counts[strings.Fields(what)[0]]++
	pe := op(d.pln)
	me := op(d.mnt)
	d.hist[len(d.hist)-1] += " → " + errName(pe)
	if pe != me {
		d.fail("%s: %s through the mount, %s plain", what, errName(me), errName(pe))
	}
	return pe
}

func (d *diffRun) opWrite() {
	d.t.Helper()
	r := d.rnd
	rel := d.pick(true)
	modes := []struct {
		name  string
		flags int
	}{
		{"trunc", unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC},
		{"trunc", unix.O_WRONLY | unix.O_CREAT | unix.O_TRUNC},
		{"excl", unix.O_WRONLY | unix.O_CREAT | unix.O_EXCL},
		{"rdwr", unix.O_RDWR},
		{"append", unix.O_WRONLY | unix.O_APPEND},
		{"notrunc", unix.O_WRONLY},
	}
	mode := modes[r.Intn(len(modes))]
	before := statOf(d.l(rel), true)
	cur := d.rev(rel)
	data := d.content(rel, cur)
	off := int64(-1)
	if mode.name == "rdwr" || mode.name == "notrunc" {
		off = int64(r.Intn(int(before.size) + 3))
	}
	what := fmt.Sprintf("write %s %s off %d %q", mode.name, rel, off, short(string(data)))
	d.hist = append(d.hist, what)
	d.counts["write"]++
	pstage, pe := writeFile(d.l(rel), mode.flags, off, data)
	d.hist[len(d.hist)-1] += " → plain " + errName(pe)
	if !diffManaged(rel) || pe != 0 {
		mstage, me := writeFile(d.m(rel), mode.flags, off, data)
		if me != pe || (pe != 0 && mstage != pstage) {
			d.fail("%s: %s at %s through the mount, %s at %s plain", what, errName(me), mstage, errName(pe), pstage)
		}
		d.sameState(rel)
		return
	}
	newData := readFile(d.t, d.l(rel))
	base := int64(-1)
	if mode.flags&unix.O_TRUNC == 0 && before.regular() {
		base = cur // the revision at open
	}
	v := d.predict(rel, before, newData, base)
	mstage, me := writeFile(d.m(rel), mode.flags, off, data)
	if me != 0 && mstage != "close" {
		d.fail("%s: %s at %s through the mount, want any refusal at close()", what, errName(me), mstage)
	}
	if base >= 0 {
		d.know[rel] = base // an open for writing without O_TRUNC is a read
	}
	d.check(what, rel, me, v, before)
	d.sameState(rel)
}

func (d *diffRun) opTruncate() {
	d.t.Helper()
	rel := d.pick(true)
	before := statOf(d.l(rel), true)
	n := int64(d.rnd.Intn(int(before.size) + 4))
	what := fmt.Sprintf("truncate %s %d", rel, n)
	d.hist = append(d.hist, what)
	d.counts["truncate"]++
	pe := errnoOf(unix.Truncate(d.l(rel), n))
	d.hist[len(d.hist)-1] += " → plain " + errName(pe)
	if !diffManaged(rel) || pe != 0 {
		me := errnoOf(unix.Truncate(d.m(rel), n))
		if me != pe {
			d.fail("%s: %s through the mount, %s plain", what, errName(me), errName(pe))
		}
		d.sameState(rel)
		return
	}
	v := d.predict(rel, before, readFile(d.t, d.l(rel)), -1)
	me := errnoOf(unix.Truncate(d.m(rel), n))
	d.check(what, rel, me, v, before)
	d.sameState(rel)
}

func (d *diffRun) opUnlink() {
	d.t.Helper()
	rel := d.pick(true)
	before := statOf(d.l(rel), true)
	cur := d.rev(rel)
	if d.do("unlink "+rel, func(root string) syscall.Errno { return errnoOf(unix.Unlink(filepath.Join(root, rel))) }) == 0 && diffManaged(rel) && before.regular() {
		d.tomb[rel] = cur
		d.ghost[rel] = before.data
	}
	d.sameState(rel)
}

// clearLocks removes the lock files in a directory of the mount (and its
// subdirectories): what stands between a plain rmdir and the mount's.
func (d *diffRun) clearLocks(rel string) bool {
	_, locks, e := listing(d.m(rel))
	if e != 0 {
		return false
	}
	names, _, _ := listing(d.m(rel))
	if len(names) > 0 || len(locks) == 0 {
		return false
	}
	for _, l := range locks {
		os.Remove(d.m(path.Join(rel, l)))
	}
	return true
}

func (d *diffRun) opRmdir() {
	d.t.Helper()
	rel := diffDirs[1+d.rnd.Intn(len(diffDirs)-1)]
	what := "rmdir " + rel
	d.hist = append(d.hist, what)
	d.counts["rmdir"]++
	pe := errnoOf(unix.Rmdir(d.l(rel)))
	me := errnoOf(unix.Rmdir(d.m(rel)))
	d.hist[len(d.hist)-1] += " → " + errName(pe)
	if pe == 0 && me == unix.ENOTEMPTY && d.clearLocks(rel) {
		d.counts["rmdir ENOTEMPTY for lock files"]++
		me = errnoOf(unix.Rmdir(d.m(rel)))
	}
	if me != pe {
		_, locks, _ := listing(d.m(rel))
		names, _, _ := listing(d.m(rel))
		bnames, _, _ := listing(d.p.backing(path.Join(d.sub, rel)))
		d.fail("%s: %s through the mount, %s plain (mount shows %v and lock files %v; the backing directory holds %v)", what, errName(me), errName(pe), names, locks, bnames)
	}
	d.sameState(rel)
}

func (d *diffRun) opRename() {
	d.t.Helper()
	r := d.rnd
	var src, dst string
	switch r.Intn(6) {
	case 0: // directories
		src, dst = diffDirs[1+r.Intn(len(diffDirs)-1)], diffDirs[1+r.Intn(len(diffDirs)-1)]
	case 1: // a directory onto a file name
		src, dst = diffDirs[1+r.Intn(len(diffDirs)-1)], d.pick(false)
	default:
		src, dst = d.pick(r.Intn(2) == 0), d.pick(true)
	}
	what := "rename " + src + " " + dst
	d.hist = append(d.hist, what)
	d.counts["rename"]++
	sb, db := statOf(d.l(src), true), statOf(d.l(dst), true)
	scur := d.rev(src)
	var moved map[string]int64
	if sb.typ == unix.S_IFDIR {
		moved = d.managedUnder(src)
	}
	pe := errnoOf(unix.Rename(d.l(src), d.l(dst)))
	d.hist[len(d.hist)-1] += " → plain " + errName(pe)
	commit := pe == 0 && src != dst && sb.regular() && diffManaged(dst) && !(db.regular() && sameFile(d.l(src), d.l(dst)))
	if !commit {
		me := errnoOf(unix.Rename(d.m(src), d.m(dst)))
		if pe == 0 && me == unix.ENOTEMPTY && db.typ == unix.S_IFDIR && d.clearLocks(dst) {
			d.counts["rename ENOTEMPTY for lock files"]++
			me = errnoOf(unix.Rename(d.m(src), d.m(dst)))
		}
		if me != pe {
			d.fail("%s: %s through the mount, %s plain", what, errName(me), errName(pe))
		}
		if pe == 0 && src != dst {
			if diffManaged(src) && sb.regular() {
				d.tomb[src] = scur
				d.ghost[src] = sb.data
			}
			if sb.typ == unix.S_IFDIR {
				d.movedDir(src, moved)
			}
		}
		d.sameState(src)
		d.sameState(dst)
		return
	}
	// A rename onto a managed name: a commit of dst with src's bytes.
	v := d.predict(dst, db, sb.data, -1)
	me := errnoOf(unix.Rename(d.m(src), d.m(dst)))
	if me == 0 && diffManaged(src) {
		d.tomb[src] = scur
		d.ghost[src] = sb.data
	}
	if v.errno != 0 {
		// Refused: the source stays where it was.
		d.setPlain(src, sb)
	}
	d.check(what, dst, me, v, db)
	d.sameState(src)
	d.sameState(dst)
}

// managedUnder lists the managed files under dir with their revisions.
func (d *diffRun) managedUnder(dir string) map[string]int64 {
	out := map[string]int64{}
	filepath.WalkDir(d.l(dir), func(p string, e os.DirEntry, err error) error {
		if err == nil && e.Type().IsRegular() {
			rel, _ := filepath.Rel(d.pln, p)
			if diffManaged(rel) {
				out[rel] = d.rev(rel)
			}
		}
		return nil
	})
	return out
}

// movedDir updates this test's bookkeeping after a directory was renamed:
// the names of the managed files it held keep their revisions (a file
// re-created under one continues the count), the files carry theirs along;
// kept names under it were finished by the rename.
func (d *diffRun) movedDir(src string, moved map[string]int64) {
	for k := range d.ghost {
		if strings.HasPrefix(k, src+"/") {
			delete(d.ghost, k)
		}
	}
	for rel, rev := range moved {
		d.tomb[rel] = rev
	}
}

func sameFile(a, b string) bool {
	var sa, sb unix.Stat_t
	return unix.Lstat(a, &sa) == nil && unix.Lstat(b, &sb) == nil && sa.Ino == sb.Ino && sa.Dev == sb.Dev
}

// TestDifferential runs PARACFS_DIFF_SEEDS random sequences (default 4) of
// PARACFS_DIFF_OPS operations (default 1000) each, through the mount and on
// a plain directory, each seed on a mount of its own.
func TestDifferential(t *testing.T) {
	t.Parallel()
	ops := envInt(t, "PARACFS_DIFF_OPS", 1000)
	seeds := envInt(t, "PARACFS_DIFF_SEEDS", 4)
	var list []int64
	if s := os.Getenv("PARACFS_DIFF_SEED"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("PARACFS_DIFF_SEED=%q", s)
		}
		list = []int64{v}
	} else {
		base := time.Now().UnixNano()
		for i := 0; i < seeds; i++ {
			list = append(list, base+int64(i)*7919)
		}
	}
	for _, seed := range list {
		t.Run(strconv.FormatInt(seed, 10), func(t *testing.T) {
			t.Parallel()
			runDifferential(t, seed, ops)
		})
	}
}

func runDifferential(t *testing.T, seed int64, ops int) {
	t.Logf("seed %d (PARACFS_DIFF_SEED=%d replays it)", seed, seed)
	p := newProject(t)
	mount(t, p)
	d := &diffRun{t: t, p: p, seed: seed, rnd: rand.New(rand.NewSource(seed)),
		sub: "diff", mnt: p.path("diff"), pln: filepath.Join(p.Root, "plain"),
		tomb: map[string]int64{}, know: map[string]int64{}, ghost: map[string][]byte{}, counts: map[string]int{},
		oracle: startRevOracle(t)}
	for _, dir := range []string{d.mnt, d.pln} {
		for _, sub := range diffDirs {
			if err := os.Mkdir(filepath.Join(dir, sub), 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	n0 := len(logLines(t, p.Dir))
	start := time.Now()
	for i := 0; i < ops; i++ {
		d.step()
		if i%25 == 24 {
			d.sameTree()
		}
	}
	d.sameTree()
	took := time.Since(start)
	commits, refusals := 0, 0
	ops2 := map[string]int{}
	for _, e := range logSince(t, p.Dir, n0) {
		if !strings.HasPrefix(e.Path, d.sub+"/") {
			continue
		}
		ops2[e.Op]++
		switch {
		case isCommitOp(e.Op):
			commits++
		case e.Op == "invalid" || e.Op == "conflict":
			refusals++
		}
	}
	if commits < d.commits || commits > d.commits+d.uncertain {
		t.Errorf("the log has %d commit lines for the test's files, the contract says %d (%d of them uncertain undos); log ops: %v", commits, d.commits, d.uncertain, ops2)
	}
	if refusals != d.refusals {
		t.Errorf("the log has %d refusal lines for the test's files, %d refusals were seen; log ops: %v", refusals, d.refusals, ops2)
	}
	var cs []string
	for k, v := range d.counts {
		cs = append(cs, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(cs)
	figure(t, "seed %d: %d operations in %s (%s); %d commits, %d refusals predicted and seen; log ops %v", seed, ops, took.Round(time.Millisecond), strings.Join(cs, ", "), d.commits, d.refusals, ops2)
}

// A managed file this process deleted is gone for it at once (the daemon
// keeps it visible to other processes for a grace period): like on a plain
// filesystem, the name is free for a directory, a symlink, a named pipe, a
// new file, or a file or directory renamed onto it, and its directory,
// empty for this process, can be replaced by a rename. Once something
// other than a file is made there, other processes see it at once.
func TestDifferentialDeletedNameIsFree(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	for _, tc := range []struct {
		name   string
		op     func(dir, x string) error
		others string // what another process's stat -c %F then shows
	}{
		{"mkdir", func(dir, x string) error { return os.Mkdir(x, 0o755) }, "directory"},
		{"symlink", func(dir, x string) error { return os.Symlink("elsewhere", x) }, "symbolic link"},
		{"mkfifo", func(dir, x string) error { return unix.Mkfifo(x, 0o644) }, "fifo"},
		{"create exclusive", func(dir, x string) error {
			f, err := os.OpenFile(x, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err != nil {
				return err
			}
			f.WriteString("b: 2\n")
			return f.Close()
		}, "regular file"},
		{"rename a file onto it without replacing", func(dir, x string) error {
			if err := writeMount(filepath.Join(dir, "new.tmp"), []byte("b: 2\n"), 0o644); err != nil {
				return err
			}
			return unix.Renameat2(unix.AT_FDCWD, filepath.Join(dir, "new.tmp"), unix.AT_FDCWD, x, unix.RENAME_NOREPLACE)
		}, "regular file"},
		{"rename a directory onto it", func(dir, x string) error {
			if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
				return err
			}
			return os.Rename(filepath.Join(dir, "sub"), x)
		}, "directory"},
		{"rename a directory over its emptied directory", func(dir, x string) error {
			other := filepath.Join(filepath.Dir(dir), filepath.Base(dir)+"-other")
			if err := os.Mkdir(other, 0o755); err != nil {
				return err
			}
			os.Remove(x + ".lock")         // the commit's lock file: see docs/reliability.md
			return unix.Rename(other, dir) // os.Rename refuses any directory over a directory
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, how := range []string{"unlink", "rename away"} {
				dir := p.path("memory/free-" + safeName(tc.name) + "-" + safeName(how))
				if err := os.Mkdir(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				x := filepath.Join(dir, "x.yaml")
				if err := writeMount(x, []byte("a: 1\n"), 0o644); err != nil {
					t.Fatal(err)
				}
				var err error
				if how == "unlink" {
					err = os.Remove(x)
				} else {
					err = os.Rename(x, filepath.Join(filepath.Dir(dir), safeName(tc.name)+".bak"))
				}
				if err != nil {
					t.Fatalf("%s: %v", how, err)
				}
				if _, err := os.Lstat(x); !os.IsNotExist(err) {
					t.Fatalf("after %s, lstat: %v, want ENOENT", how, err)
				}
				if err := tc.op(dir, x); err != nil {
					t.Errorf("after %s of x.yaml, %s: %s; on a plain filesystem the name is free (it is for lstat and readdir)", how, tc.name, errName(errnoOf(err)))
					continue
				}
				if tc.others == "" {
					continue
				}
				if r := run(t, dir, "stat", "-c", "%F", x); strings.TrimSpace(r.Stdout) != tc.others {
					t.Errorf("after %s of x.yaml and %s, another process's stat shows %q (%s), want %q", how, tc.name, r.Stdout, r.Stderr, tc.others)
				}
				if tc.others == "regular file" {
					if got, _ := os.ReadFile(x); string(got) != "b: 2\n" {
						t.Errorf("after %s of x.yaml and %s, x.yaml holds %q", how, tc.name, got)
					}
				}
			}
		})
	}
}

// A managed file renamed away to a scratch name stays visible to other
// processes under its old name for a grace period. Writing the new name in
// that window must neither change what the old name shows (nor log an
// "external" change of it), nor smuggle the new bytes back unvalidated
// when the file is renamed back: a rename onto a managed name is a commit.
func TestDifferentialRenamedAwayThenWritten(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const rel = "memory/context/away.json"
	orig := []byte(`{"a": 1}`)
	if res := pyWrite(t, p.Dir, rel, "trunc", orig); res.Errno != 0 {
		t.Fatal(res.Error)
	}
	n := len(logLines(t, p.Dir))
	const script = `import os, sys
p = sys.argv[1]
os.rename(p, p + ".bak")
with open(p + ".bak", "a") as f:
    f.write("garbage")
print("written", flush=True)
sys.stdin.readline()
try:
    os.rename(p + ".bak", p)
    print("0", flush=True)
except OSError as e:
    print(e.errno, flush=True)
`
	h, stderr := startHeld(t, p.Dir, "written", toolPython, "-c", script, rel)
	// Another process reads the old name meanwhile: the last committed
	// version, not the renamer's scratch edits.
	r := run(t, p.Dir, "cat", rel)
	if r.Code == 0 && r.Stdout != string(orig) {
		t.Errorf("another process reads %s while it is renamed away and its new name is written: %q, want the committed %q", rel, r.Stdout, orig)
	}
	h.stdin.Write([]byte("go\n"))
	line, err := readLineTimeout(h.out, eventWait)
	if err != nil {
		t.Fatalf("renamer: %v\n%s", err, stderr.String())
	}
	got, _ := os.ReadFile(p.path(rel))
	if line == "0" && !bytes.Equal(got, orig) {
		t.Errorf("renaming the edited file back onto %s succeeded and %s now holds %q: invalid JSON committed without validation (want EBADMSG, or the rename refused)", rel, rel, got)
	}
	for _, e := range forPath(logSince(t, p.Dir, n), rel) {
		if e.Op == "external" {
			t.Errorf("writing the scratch name a managed file was renamed to is logged as an outside change of the old name: %s", e)
		}
	}
}

// Deleting or renaming a managed file away and creating it again with the
// very bytes it had (vim's :w of an unchanged buffer: rename x to x~, write
// x, remove x~; git re-creating an unchanged file; a rename of a copy back
// onto it) leaves the file in place: for the writer at once (stat, listing,
// rename), and for everyone after the deletion's grace period (half a
// second in docs/commit.md) has passed, as on a plain filesystem.
func TestDifferentialRecreateSameBytes(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	data := []byte("a: 1\n")
	type pattern struct {
		name string
		run  func(dir, x string) error
	}
	create := func(x string) error { return writeMount(x, data, 0o644) }
	patterns := []pattern{
		{"unlink, create", func(dir, x string) error {
			if err := os.Remove(x); err != nil {
				return err
			}
			return create(x)
		}},
		{"rename away, create, unlink the backup (vim)", func(dir, x string) error {
			if err := os.Rename(x, x+"~"); err != nil {
				return err
			}
			if err := create(x); err != nil {
				return err
			}
			return os.Remove(x + "~")
		}},
		{"unlink, rename a copy onto it", func(dir, x string) error {
			if err := writeMount(filepath.Join(dir, "copy.tmp"), data, 0o644); err != nil {
				return err
			}
			if err := os.Remove(x); err != nil {
				return err
			}
			return os.Rename(filepath.Join(dir, "copy.tmp"), x)
		}},
		{"rename away, rename a copy onto it", func(dir, x string) error {
			if err := writeMount(filepath.Join(dir, "copy.tmp"), data, 0o644); err != nil {
				return err
			}
			if err := os.Rename(x, x+".bak"); err != nil {
				return err
			}
			return os.Rename(filepath.Join(dir, "copy.tmp"), x)
		}},
	}
	var xs []string
	for i, pt := range patterns {
		dir := p.path(fmt.Sprintf("memory/same%d", i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		x := filepath.Join(dir, "x.yaml")
		if err := create(x); err != nil {
			t.Fatal(err)
		}
		if err := pt.run(dir, x); err != nil {
			t.Errorf("%s: %v", pt.name, err)
			continue
		}
		xs = append(xs, x)
		names, _, _ := listing(dir)
		if got, err := os.ReadFile(x); err != nil || !bytes.Equal(got, data) || !strings.Contains(strings.Join(names, "/"), "x.yaml") {
			t.Errorf("%s: right after, x.yaml reads %q (%s); the listing is %v", pt.name, got, errName(errnoOf(err)), names)
		}
	}
	vimRel := ""
	if _, err := exec.LookPath("vim"); err == nil {
		vimRel = "memory/context/vim-unchanged.yaml"
		if err := create(p.path(vimRel)); err != nil {
			t.Fatal(err)
		}
		mustRun(t, p.Dir, "vim", "-N", "-u", "NONE", "-i", "NONE", "-es", "-c", "w", "-c", "q", vimRel)
	}
	// A marker's grace period, started after all of the above, ends with
	// a delete line: once it is logged, theirs have ended too (same
	// length, started earlier). No sleep stands in for that.
	const marker = "memory/grace-marker.yaml"
	if err := create(p.path(marker)); err != nil {
		t.Fatal(err)
	}
	n := len(logLines(t, p.Dir))
	if err := os.Rename(p.path(marker), p.path(marker+".bak")); err != nil {
		t.Fatal(err)
	}
	waitLogLine(t, p, n, "the delete of "+marker+" when its grace period ends", func(e logEntry) bool {
		return e.Path == marker && e.Op == "delete"
	})
	for i, x := range xs {
		if got, err := os.ReadFile(x); err != nil || !bytes.Equal(got, data) {
			t.Errorf("%s: after the grace period, x.yaml: %q, %s: a file re-created with its own bytes was deleted when the grace period ended", patterns[i].name, got, errName(errnoOf(err)))
		}
	}
	if vimRel != "" {
		if got, err := os.ReadFile(p.path(vimRel)); err != nil || !bytes.Equal(got, data) {
			t.Errorf("vim :w of an unchanged file through the mount: after the grace period the file is %q, %s", got, errName(errnoOf(err)))
		}
	}
}

// Renaming a directory renames the managed files in it away from their
// names, and a name keeps its revision (docs/commit.md): a file created
// again under one continues the count, also for a process that read the
// old file, whose write is not a conflict with a file it never saw. The
// files carry their revisions to their new names, and each move is one
// log line (docs/log.md).
func TestDifferentialDirRenameKeepsRevisions(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const rel = "memory/moving/x.yaml"
	if err := os.Mkdir(p.path("memory/moving"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if err := writeMount(p.path(rel), []byte(fmt.Sprintf("a: %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if r := rev(t, p.path(rel)); r != 2 {
		t.Fatalf("revision %d after 3 commits (0, 1, 2)", r)
	}
	readFile(t, p.path(rel)) // this process knows revision 2
	n := len(logLines(t, p.Dir))
	if err := os.Rename(p.path("memory/moving"), p.path("memory/moved")); err != nil {
		t.Fatal(err)
	}
	if r := rev(t, p.path("memory/moved/x.yaml")); r != 2 {
		t.Errorf("the moved file's revision is %d, want 2 (it carries its revision)", r)
	}
	if moves := logSince(t, p.Dir, n); len(moves) != 1 || moves[0].Op != "move" || moves[0].Path != "memory/moved/x.yaml" ||
		moves[0].From != rel || moves[0].Revision == nil || *moves[0].Revision != 2 {
		t.Errorf("log lines for the directory rename: %v, want one move line for memory/moved/x.yaml from %s at revision 2", moves, rel)
	}
	if err := writeMount(p.path("memory/moved/x.yaml"), []byte("a: moved\n"), 0o644); err != nil {
		t.Errorf("writing the moved file: %s", errName(errnoOf(err)))
	} else if r := rev(t, p.path("memory/moved/x.yaml")); r != 3 {
		t.Errorf("the moved file's next commit is revision %d, want 3", r)
	}
	if err := os.Mkdir(p.path("memory/moving"), 0o755); err != nil {
		t.Fatal(err)
	}
	err := writeMount(p.path(rel), []byte("a: new\n"), 0o644)
	if err != nil {
		t.Errorf("re-creating %s after its directory was renamed away, by the process that read the old file: %s, want success", rel, errName(errnoOf(err)))
	} else if r := rev(t, p.path(rel)); r != 3 {
		t.Errorf("the re-created %s is at revision %d, want 3: the name keeps its revision (2)", rel, r)
	}
	t.Logf("log lines for the directory rename and the re-creation: %v", logSince(t, p.Dir, n))
}
