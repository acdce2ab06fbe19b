package tests

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The differential test of everyday tools (docs/tools.md, "Everyday tools,
// side by side"): each case is a bash script run twice, with the same
// environment, once in a plain copy of testdata/parac and once through a
// mount of another copy. Afterwards both trees (and the scratch
// directories the script used outside them) are walked and compared: exit
// status, stdout and stderr (paths normalised), the bytes, type, mode,
// owner, link count, symlink target, mtime, user.* xattrs and ACLs of
// every name, which names share an inode, and whether each name that
// existed before kept its inode number.
//
// The one difference the contract makes is allowed: a managed file that
// existed before the case may differ in its top-level `revision:` line
// only, the mount's value being higher (it was stamped by the commits, or
// after a restore). `.paracfs/` and the change log are left out of the
// walk; `user.paracfs.*` xattrs are left out of the comparison.
//
// Cases that diverge today are listed in knownDivergent with the part of
// the work they wait for. The test fails when a case not listed diverges,
// and when a listed case no longer does: it must then leave the table.

// Fixed times given to every file of both copies, and to the sources
// outside them, so that a tool preserving times is seen to the nanosecond.
var (
	toolDiffStamp    = time.Date(2020, 1, 2, 3, 4, 5, 123456789, time.UTC)
	toolDiffSrcStamp = time.Date(2021, 2, 3, 4, 5, 6, 987654321, time.UTC)
)

// toolCase is one script, run in both copies.
type toolCase struct {
	name string
	// script runs under `bash -c` with the copy root (DIR) as its cwd and
	// these variables: D (DIR), X (a scratch directory beside DIR, on the
	// same filesystem, holding src/: the fixture without its change log,
	// plus notes.txt and extra.yaml, all with fixed times), S (the same on
	// /dev/shm, another filesystem). HOME is $X/home; git's identity and
	// dates are fixed.
	script string
	// sortedLines names files written by concurrent writers: their lines
	// are compared as a multiset.
	sortedLines []string
	// ignoreBytes names files whose bytes are expected to differ for a
	// reason outside paracfs (git's index caches device and inode numbers).
	ignoreBytes []string
	// ignoreUnder names directories whose content is expected to differ
	// because of a difference allowed elsewhere (git's objects of a
	// commit that holds a stamped revision line).
	ignoreUnder []string
	// asNobody, when set, is a script root runs on both sides first (to
	// give names to nobody, make shared or private directories); script
	// then runs as the user nobody, and the mount is --allow-other. X, S
	// and HOME belong to nobody.
	asNobody string
}

// toolSide is one of the two runs of a case.
type toolSide struct {
	root    string // DIR
	x, s    string
	before  map[string]unix.Stat_t // before the script
	held    []int                  // O_PATH descriptors on DIR's names
	res     result
	entries map[string]toolEntry
}

// toolEntry is what one name holds after the script.
type toolEntry struct {
	err    string // of lstat or reading
	typ    uint32
	perm   uint32
	uid    uint32
	gid    uint32
	nlink  uint64
	ino    uint64
	size   int64
	mtime  time.Time
	ctime  unix.Timespec
	data   []byte
	link   string
	xattrs map[string]string // user.* but user.paracfs.*
	acl    string            // access ACL, then "default:" and the default ACL
}

// toolDiffRun runs one case on both sides and returns what differed.
func toolDiffRun(t *testing.T, c toolCase) []string {
	t.Helper()
	plainRoot, err := os.MkdirTemp(runDir, "tooldiff-plain-"+safeName(c.name)+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if os.Getenv("PARACFS_KEEP") == "" {
			os.RemoveAll(plainRoot)
		}
	})
	plain := &toolSide{root: filepath.Join(plainRoot, ".parac")}
	if err := copyTree("testdata/parac", plain.root); err != nil {
		t.Fatal(err)
	}
	toolDiffPrepare(t, plain, plainRoot)

	p := newProject(t)
	mnt := &toolSide{root: p.Dir}
	toolDiffPrepare(t, mnt, p.Root) // before the mount: on the backing
	if c.asNobody != "" {
		for _, d := range []string{testsBase, runDir, plainRoot, p.Root} {
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for _, sd := range []*toolSide{plain, mnt} {
			// The setup runs on the backing directory on the mount's side.
			r := run(t, sd.root, "bash", "-c", "set -e\n"+c.asNobody)
			if r.Code != 0 {
				t.Fatalf("the setup as root: %s", r)
			}
			for _, dir := range []string{sd.x, sd.s} {
				mustRun(t, dir, "chown", "-R", "nobody:nogroup", dir)
			}
			toolSetTimes(t, sd.root, toolDiffStamp)
		}
		mount(t, p, "--allow-other")
	} else {
		mount(t, p)
	}
	toolDiffResetRoot(t, p)

	// Both before-walks first, then the two runs: the mount side's walk
	// stats through the mount, as any reader does. The names of DIR are
	// held open (O_PATH) on both sides: in the plain copy so that ext4
	// cannot give a replaced file's inode number to its successor ("kept
	// its inode number" is then true only for a file that was not
	// replaced), and through the mount so that the result does not depend
	// on when the kernel forgets an unused inode.
	for _, sd := range []*toolSide{plain, mnt} {
		sd.before = map[string]unix.Stat_t{}
		toolWalk(sd.x, "$X", func(rel, _ string, st *unix.Stat_t) { sd.before[rel] = *st })
		toolWalk(sd.s, "$S", func(rel, _ string, st *unix.Stat_t) { sd.before[rel] = *st })
		toolWalk(sd.root, "", func(rel, p string, st *unix.Stat_t) {
			sd.before[rel] = *st
			if fd, err := unix.Open(p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
				sd.held = append(sd.held, fd)
			}
		})
	}
	defer func() {
		for _, sd := range []*toolSide{plain, mnt} {
			for _, fd := range sd.held {
				unix.Close(fd)
			}
		}
	}()
	start := time.Now()
	for _, sd := range []*toolSide{plain, mnt} {
		sd.res = toolDiffScript(t, c, sd)
	}
	plain.entries = toolDiffCollect(t, plain)
	toolDiffAwaitGrace(t, plain, mnt)
	mnt.entries = toolDiffCollect(t, mnt)
	end := time.Now()
	return toolDiffCompare(c, plain, mnt, start, end)
}

// toolDiffResetRoot gives DIR its fixed time back after the mount made
// .paracfs/ in it (a first mount's doing, not a tool's), and waits until
// the mount shows it: the mtime, and the ctime the reset gave the backing
// DIR. The mtime alone may already be the fixed one (nothing moved it), so
// a stat served from the kernel's attribute cache, from before the reset,
// would pass for it, and the case would then see DIR's ctime move.
func toolDiffResetRoot(t *testing.T, p *project) {
	t.Helper()
	ts := unix.NsecToTimespec(toolDiffStamp.UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p.backing("."), []unix.Timespec{ts, ts}, 0); err != nil {
		t.Fatal(err)
	}
	var real unix.Stat_t
	if err := unix.Lstat(p.backing("."), &real); err != nil {
		t.Fatal(err)
	}
	for i := 0; ; i++ {
		var st unix.Stat_t
		if err := unix.Lstat(p.Dir, &st); err != nil {
			t.Fatal(err)
		}
		if st.Mtim == ts && st.Ctim == real.Ctim {
			return
		}
		if i == 200 {
			t.Logf("DIR's times through the mount are still %v, %v after resetting them on the backing", time.Unix(st.Mtim.Unix()), time.Unix(st.Ctim.Unix()))
			return
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// toolDiffAwaitGrace waits, for each managed file that is gone from the
// plain copy but still shows through the mount, until its grace period
// ends (docs/commit.md: a delete or a rename away takes effect for other
// processes after half a second, longer while the daemon is busy), or
// gives up after 20 seconds and lets the comparison show the name.
func toolDiffAwaitGrace(t *testing.T, plain, mnt *toolSide) {
	t.Helper()
	var wait []string
	toolWalk(mnt.root, "", func(rel, _ string, st *unix.Stat_t) {
		if _, ok := plain.entries[rel]; !ok && st.Mode&unix.S_IFMT == unix.S_IFREG && toolManagedName(filepath.Base(rel)) {
			wait = append(wait, rel)
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for _, rel := range wait {
		for time.Now().Before(deadline) {
			var st unix.Stat_t
			if unix.Lstat(filepath.Join(mnt.root, rel), &st) != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

// toolDiffPrepare sets the fixed times on DIR and makes X and S.
func toolDiffPrepare(t *testing.T, sd *toolSide, root string) {
	t.Helper()
	sd.x = filepath.Join(root, "x")
	s, err := os.MkdirTemp("/dev/shm", "paracfs-tooldiff-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(s) })
	sd.s = s
	for _, dir := range []string{sd.x, sd.s} {
		src := filepath.Join(dir, "src")
		if err := copyTree("testdata/parac", src); err != nil {
			t.Fatal(err)
		}
		os.Remove(filepath.Join(src, logRel))
		os.WriteFile(filepath.Join(src, "notes.txt"), []byte("plain notes\n"), 0o644)
		os.WriteFile(filepath.Join(src, "extra.yaml"), []byte("extra: true\nitems: [1, 2]\n"), 0o644)
		os.MkdirAll(filepath.Join(dir, "home"), 0o755)
		toolSetTimes(t, dir, toolDiffSrcStamp)
	}
	toolSetTimes(t, sd.root, toolDiffStamp)
}

// toolSetTimes gives every name under dir (dir included) the time ts,
// children before their parents.
func toolSetTimes(t *testing.T, dir string, ts time.Time) {
	t.Helper()
	var all []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil {
			all = append(all, p)
		}
		return nil
	})
	tv := []unix.Timespec{unix.NsecToTimespec(ts.UnixNano()), unix.NsecToTimespec(ts.UnixNano())}
	for i := len(all) - 1; i >= 0; i-- {
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, all[i], tv, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			t.Fatal(err)
		}
	}
}

// toolDiffScript runs the case's script on one side.
func toolDiffScript(t *testing.T, c toolCase, sd *toolSide) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-c", toolPrelude+c.script)
	if c.asNobody != "" {
		pre := asNobody(t)
		cmd = exec.CommandContext(ctx, pre[0], append(pre[1:], "bash", "-c", toolPrelude+c.script)...)
	}
	cmd.Dir = sd.root
	cmd.Env = []string{
		"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		"LC_ALL=C", "TZ=UTC", "HOME=" + filepath.Join(sd.x, "home"),
		"D=" + sd.root, "X=" + sd.x, "S=" + sd.s,
		"GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_AUTHOR_NAME=Ada", "GIT_AUTHOR_EMAIL=ada@example.org", "GIT_AUTHOR_DATE=2022-01-01T00:00:00Z",
		"GIT_COMMITTER_NAME=Ada", "GIT_COMMITTER_EMAIL=ada@example.org", "GIT_COMMITTER_DATE=2022-01-01T00:00:00Z",
	}
	return runCmd(t, ctx, cmd)
}

// toolWalk calls fn for every name under root but .paracfs/ and the change
// log, with its name (prefix joined to its path relative to root, "." for
// root itself when prefix is ""), its path and its lstat.
func toolWalk(root, prefix string, fn func(rel, path string, st *unix.Stat_t)) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		r, _ := filepath.Rel(root, p)
		if r == ".paracfs" || r == logRel {
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		var st unix.Stat_t
		if unix.Lstat(p, &st) == nil {
			fn(filepath.Join(prefix, r), p, &st)
		}
		return nil
	})
}

// toolDiffCollect walks DIR, X and S of one side.
func toolDiffCollect(t *testing.T, sd *toolSide) map[string]toolEntry {
	t.Helper()
	out := map[string]toolEntry{}
	for _, tree := range []struct{ dir, name string }{{sd.root, ""}, {sd.x, "$X"}, {sd.s, "$S"}} {
		toolWalk(tree.dir, tree.name, func(rel, p string, st *unix.Stat_t) {
			e := toolEntry{typ: st.Mode & unix.S_IFMT, perm: st.Mode & 0o7777, uid: st.Uid, gid: st.Gid,
				nlink: uint64(st.Nlink), ino: st.Ino, size: st.Size, mtime: time.Unix(st.Mtim.Unix()), ctime: st.Ctim}
			switch e.typ {
			case unix.S_IFREG:
				b, err := os.ReadFile(p)
				if err != nil {
					e.err = err.Error()
				}
				e.data = b
			case unix.S_IFLNK:
				e.link, _ = os.Readlink(p)
			}
			e.xattrs = toolXattrs(p)
			e.acl = toolACL(p, "system.posix_acl_access")
			if d := toolACL(p, "system.posix_acl_default"); d != "" {
				e.acl += " default:" + d
			}
			out[rel] = e
		})
	}
	return out
}

func toolXattrs(p string) map[string]string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(p, buf)
	if err != nil || n <= 0 {
		return nil
	}
	out := map[string]string{}
	for _, name := range strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00") {
		if !strings.HasPrefix(name, "user.") || strings.HasPrefix(name, "user.paracfs.") {
			continue
		}
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(p, name, v)
		if err != nil {
			out[name] = "(" + err.Error() + ")"
			continue
		}
		out[name] = string(v[:m])
	}
	return out
}

// toolACL reads a POSIX ACL xattr and writes it as getfacl's short form
// ("u::rw-,u:65534:rw-,g::r--,m::rw-,o::r--"); "" when there is none.
func toolACL(p, name string) string {
	buf := make([]byte, 4096)
	n, err := unix.Lgetxattr(p, name, buf)
	if err != nil || n < 4 {
		return ""
	}
	b := buf[:n]
	var parts []string
	for i := 4; i+8 <= len(b); i += 8 {
		tag := binary.LittleEndian.Uint16(b[i:])
		perm := binary.LittleEndian.Uint16(b[i+2:])
		id := binary.LittleEndian.Uint32(b[i+4:])
		rwx := []byte("---")
		if perm&4 != 0 {
			rwx[0] = 'r'
		}
		if perm&2 != 0 {
			rwx[1] = 'w'
		}
		if perm&1 != 0 {
			rwx[2] = 'x'
		}
		var q string
		switch tag {
		case 0x01:
			q = "u:"
		case 0x02:
			q = fmt.Sprintf("u:%d", id)
		case 0x04:
			q = "g:"
		case 0x08:
			q = fmt.Sprintf("g:%d", id)
		case 0x10:
			q = "m:"
		case 0x20:
			q = "o:"
		default:
			q = fmt.Sprintf("tag%#x:%d", tag, id)
		}
		parts = append(parts, q+":"+string(rwx))
	}
	return strings.Join(parts, ",")
}

// normalise replaces a side's own paths by $D, $X and $S.
func (sd *toolSide) normalise(b []byte) []byte {
	for _, r := range []struct{ from, to string }{{sd.root, "$D"}, {sd.x, "$X"}, {sd.s, "$S"}, {filepath.Dir(sd.root), "$ROOT"}} {
		b = bytes.ReplaceAll(b, []byte(r.from), []byte(r.to))
	}
	return b
}

var toolRevisionLine = regexp.MustCompile(`(?m)^revision: *([0-9]+) *$`)

// toolDiffCompare lists every difference between the two sides.
func toolDiffCompare(c toolCase, plain, mnt *toolSide, start, end time.Time) []string {
	var diffs []string
	add := func(format string, args ...any) { diffs = append(diffs, fmt.Sprintf(format, args...)) }

	if plain.res.Code != mnt.res.Code {
		add("exit status: plain %d, mount %d", plain.res.Code, mnt.res.Code)
	}
	for _, o := range []struct{ name, p, m string }{{"stdout", plain.res.Stdout, mnt.res.Stdout}, {"stderr", plain.res.Stderr, mnt.res.Stderr}} {
		pn, mn := string(plain.normalise([]byte(o.p))), string(mnt.normalise([]byte(o.m)))
		if pn != mn {
			add("%s differs:\n%s", o.name, toolLineDiff(pn, mn))
		}
	}

	names := map[string]bool{}
	for n := range plain.entries {
		names[n] = true
	}
	for n := range mnt.entries {
		names[n] = true
	}
	var sorted []string
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)

	timeClass := func(sd *toolSide, rel string, ts time.Time) string {
		b, ok := sd.before[rel]
		switch {
		case ok && ts.Equal(time.Unix(b.Mtim.Unix())):
			return "as before the case"
		case ts.Equal(toolDiffStamp):
			return "the copy's fixed time"
		case ts.Equal(toolDiffSrcStamp):
			return "the source's time"
		case !ts.Before(start.Add(-time.Second)) && !ts.After(end.Add(20*time.Millisecond)):
			// A second of slack before: tools that copy times to the
			// second (git clone --no-hardlinks) from files the script
			// made.
			return "now"
		}
		return ts.UTC().Format(time.RFC3339Nano)
	}
	links := func(sd *toolSide, rel string) string {
		e := sd.entries[rel]
		if e.typ == unix.S_IFDIR || e.nlink < 2 {
			return ""
		}
		var others []string
		for n, o := range sd.entries {
			if n != rel && o.typ != unix.S_IFDIR && o.ino == e.ino && toolTree(n) == toolTree(rel) {
				others = append(others, n)
			}
		}
		sort.Strings(others)
		return strings.Join(others, " ")
	}

	for _, rel := range sorted {
		if toolUnder(c.ignoreUnder, rel) {
			continue
		}
		pe, pok := plain.entries[rel]
		me, mok := mnt.entries[rel]
		show := rel
		if show == "." {
			show = "DIR"
		}
		if !pok || !mok {
			where := "only through the mount"
			e := me
			if pok {
				where, e = "only in the plain copy", pe
			}
			add("%s: %s (%s)", show, where, e.kind())
			continue
		}
		if pe.err != me.err {
			add("%s: reading: plain %q, mount %q", show, pe.err, me.err)
		}
		if pe.typ != me.typ {
			add("%s: type: plain %s, mount %s", show, pe.kind(), me.kind())
			continue
		}
		if pe.perm != me.perm {
			add("%s: mode: plain %04o, mount %04o", show, pe.perm, me.perm)
		}
		if pe.uid != me.uid || pe.gid != me.gid {
			add("%s: owner: plain %d:%d, mount %d:%d", show, pe.uid, pe.gid, me.uid, me.gid)
		}
		if pe.typ != unix.S_IFDIR && pe.nlink != me.nlink {
			add("%s: link count: plain %d, mount %d", show, pe.nlink, me.nlink)
		}
		if pl, ml := links(plain, rel), links(mnt, rel); pl != ml {
			add("%s: hard links: plain [%s], mount [%s]", show, pl, ml)
		}
		if pe.link != me.link {
			add("%s: symlink target: plain %q, mount %q", show, pe.link, me.link)
		}
		if !pe.mtime.Equal(me.mtime) {
			if pc, mc := timeClass(plain, rel, pe.mtime), timeClass(mnt, rel, me.mtime); pc != mc {
				what := "mtime"
				if pe.typ == unix.S_IFDIR {
					what = "directory mtime"
				}
				add("%s: %s: plain %s, mount %s", show, what, pc, mc)
			}
		}
		// ctime cannot be kept; whether it moved can: a reader that
		// moves it makes tar say "file changed as we read it".
		if pb, ok := plain.before[rel]; ok {
			if mb, ok := mnt.before[rel]; ok {
				if pc, mc := pb.Ctim != pe.ctime, mb.Ctim != me.ctime; pc != mc {
					what := "ctime"
					if pe.typ == unix.S_IFDIR {
						what = "directory ctime"
					}
					add("%s: %s: changed in the plain copy %v, through the mount %v", show, what, pc, mc)
				}
			}
		}
		if fmt.Sprint(pe.xattrs) != fmt.Sprint(me.xattrs) {
			add("%s: user xattrs: plain %v, mount %v", show, pe.xattrs, me.xattrs)
		}
		if pe.acl != me.acl {
			add("%s: ACL: plain %q, mount %q", show, pe.acl, me.acl)
		}
		// Only the promise a plain filesystem makes is checked: a name
		// whose file was not replaced keeps its inode number.
		pi, pb := plain.before[rel]
		mi, mb := mnt.before[rel]
		if pb && mb && pi.Ino == pe.ino && mi.Ino != me.ino {
			add("%s: inode number: kept in the plain copy, changed through the mount (%d, then %d)", show, mi.Ino, me.ino)
		}
		if pe.typ == unix.S_IFREG && !toolContains(c.ignoreBytes, rel) {
			if d := toolBytesDiff(c, rel, plain.normalise(pe.data), mnt.normalise(me.data), pb && mb && toolManagedName(filepath.Base(rel))); d != "" {
				add("%s: %s", show, d)
			}
		}
	}
	return diffs
}

func (e toolEntry) kind() string {
	switch e.typ {
	case unix.S_IFDIR:
		return "directory"
	case unix.S_IFREG:
		return fmt.Sprintf("file, %d bytes", len(e.data))
	case unix.S_IFLNK:
		return "symlink to " + e.link
	case unix.S_IFIFO:
		return "fifo"
	}
	return fmt.Sprintf("type %#o", e.typ)
}

// toolTree is which of DIR, X and S a name is in: inode numbers are
// compared within one only.
func toolTree(rel string) string {
	if strings.HasPrefix(rel, "$") {
		return rel[:2]
	}
	return ""
}

func toolUnder(dirs []string, rel string) bool {
	for _, d := range dirs {
		if rel == d || strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

func toolContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// toolBytesDiff compares the bytes of one file; stampable allows a
// difference in the top-level revision line alone, the mount's higher.
func toolBytesDiff(c toolCase, rel string, p, m []byte, stampable bool) string {
	if bytes.Equal(p, m) {
		return ""
	}
	if toolContains(c.sortedLines, rel) {
		ps, ms := strings.Split(string(p), "\n"), strings.Split(string(m), "\n")
		sort.Strings(ps)
		sort.Strings(ms)
		if strings.Join(ps, "\n") == strings.Join(ms, "\n") {
			return ""
		}
		return "lines differ (as a multiset):\n" + toolLineDiff(strings.Join(ps, "\n"), strings.Join(ms, "\n"))
	}
	if stampable {
		pr, mr := toolRevisionLine.FindSubmatch(p), toolRevisionLine.FindSubmatch(m)
		if pr != nil && mr != nil {
			pv, _ := strconv.ParseInt(string(pr[1]), 10, 64)
			mv, _ := strconv.ParseInt(string(mr[1]), 10, 64)
			strip := func(b []byte) []byte { return toolRevisionLine.ReplaceAll(b, []byte("revision: N")) }
			if mv > pv && bytes.Equal(strip(p), strip(m)) {
				return ""
			}
		}
	}
	return "bytes differ:\n" + toolLineDiff(string(p), string(m))
}

// toolLineDiff shows how two texts differ, line by line: "- " for a
// line only the plain copy has, "+ " for one only the mount has (a longest
// common subsequence: the outputs compared here are short).
func toolLineDiff(p, m string) string {
	a, z := strings.Split(p, "\n"), strings.Split(m, "\n")
	if len(a)*len(z) > 4_000_000 {
		return fmt.Sprintf("    (too long to show: %d and %d lines)", len(a), len(z))
	}
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(z)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(z) - 1; j >= 0; j-- {
			if a[i] == z[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	var out []string
	i, j := 0, 0
	for i < len(a) || j < len(z) {
		switch {
		case i < len(a) && j < len(z) && a[i] == z[j]:
			i, j = i+1, j+1
		case j < len(z) && (i == len(a) || lcs[i][j+1] >= lcs[i+1][j]):
			out = append(out, fmt.Sprintf("    + %q", z[j]))
			j++
		default:
			out = append(out, fmt.Sprintf("    - %q", a[i]))
			i++
		}
	}
	if len(out) > 24 {
		out = append(out[:24], fmt.Sprintf("    ... and %d more", len(out)-24))
	}
	return strings.Join(out, "\n")
}

// knownDiv is a case that differs today: why (the part of the work it
// waits for) and what it shows, as regular expressions. Every difference
// the case shows must match one of them, and each must still match one.
type knownDiv struct {
	why   string
	shows []string
}

// toolDiffCheck holds a case's differences against knownDivergent.
func toolDiffCheck(t *testing.T, name string, diffs []string) {
	t.Helper()
	k, known := knownDivergent[name]
	if !known {
		if len(diffs) > 0 {
			t.Errorf("the mount differs from a plain directory:\n  %s", strings.Join(diffs, "\n  "))
		}
		return
	}
	if len(diffs) == 0 {
		t.Errorf("now passes: remove it from knownDivergent (was: %s)", k.why)
		return
	}
	res := make([]*regexp.Regexp, len(k.shows))
	used := make([]bool, len(k.shows))
	for i, s := range k.shows {
		res[i] = regexp.MustCompile(s)
	}
	var unlisted []string
	for _, d := range diffs {
		ok := false
		for i, re := range res {
			if re.MatchString(d) {
				ok, used[i] = true, true
			}
		}
		if !ok {
			unlisted = append(unlisted, d)
		}
	}
	if len(unlisted) > 0 {
		t.Errorf("the mount differs from a plain directory in ways knownDivergent does not list (it lists: %s):\n  %s",
			k.why, strings.Join(unlisted, "\n  "))
	}
	for i, u := range used {
		if !u {
			t.Errorf("no difference shows %q any more: remove it from knownDivergent[%q] (%s)", k.shows[i], name, k.why)
		}
	}
	if !t.Failed() {
		t.Logf("known divergence (%s):\n  %s", k.why, strings.Join(diffs, "\n  "))
	}
}

// TestToolDiff runs every case of toolDiffCases in a plain copy and through
// a mount, and requires the same results, except for the cases listed in
// knownDivergent, which must still diverge as listed.
func TestToolDiff(t *testing.T) {
	needTool(t, "rsync", "git", "perl", "tar", "setfattr", "getfattr", "setfacl", "getfacl", "patch", "gzip",
		"sqlite3", "zip", "unzip", "make", "ed", "ex", "gawk", "logrotate", "fallocate", "flock", "shred")
	toolNeedPython(t)
	seen := map[string]bool{}
	for _, c := range toolDiffCases {
		if seen[c.name] {
			t.Fatalf("two cases named %s", c.name)
		}
		seen[c.name] = true
	}
	for name, k := range knownDivergent {
		if !seen[name] {
			t.Errorf("knownDivergent names %s, which is no case", name)
		}
		if k.why == "" || len(k.shows) == 0 {
			t.Errorf("knownDivergent[%q] needs a reason and what the case shows", name)
		}
	}
	for _, c := range toolDiffCases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			toolDiffCheck(t, c.name, toolDiffRun(t, c))
		})
	}
}
