package tests

// Reading through the mount changes nothing on disk: no xattr, no new
// ctime on any backing file, whether a tool reads, stats or lists. So
// `tar -cf` of a freshly mounted tree does not find files "changed as we
// read it", and backups and rsync see files at rest.

import (
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// backingEntry is what a reader must leave as it was on one backing file.
type backingEntry struct {
	mode         uint32
	ino          uint64
	size         int64
	mtime, ctime unix.Timespec
	xattrs       string
}

// backingSnapshot records every entry of the backing directory outside
// paracfs's own data (.paracfs), read through the descriptor opened before
// the mount, never through the mount.
func backingSnapshot(t *testing.T, p *project) map[string]backingEntry {
	t.Helper()
	root := p.backing(".")
	out := map[string]backingEntry{}
	err := filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if rel == ".paracfs" {
			return filepath.SkipDir
		}
		var st unix.Stat_t
		if err := unix.Lstat(path, &st); err != nil {
			return err
		}
		out[rel] = backingEntry{mode: st.Mode, ino: st.Ino, size: st.Size, mtime: st.Mtim, ctime: st.Ctim, xattrs: xattrDump(path)}
		return nil
	})
	if err != nil {
		t.Fatalf("walking the backing directory: %v", err)
	}
	return out
}

// xattrDump is `getfattr -d -m -` of one file: every name with its value.
func xattrDump(path string) string {
	buf := make([]byte, 64<<10)
	n, err := unix.Llistxattr(path, buf)
	if err != nil || n == 0 {
		return ""
	}
	names := strings.Split(strings.TrimRight(string(buf[:n]), "\x00"), "\x00")
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		v := make([]byte, 64<<10)
		m, err := unix.Lgetxattr(path, name, v)
		if err != nil {
			fmt.Fprintf(&b, "%s (%v)\n", name, err)
			continue
		}
		fmt.Fprintf(&b, "%s=%q\n", name, v[:m])
	}
	return b.String()
}

// compareSnapshots reports every backing entry that a reader changed.
func compareSnapshots(t *testing.T, what string, before, after map[string]backingEntry) {
	t.Helper()
	for rel, b := range before {
		a, ok := after[rel]
		switch {
		case !ok:
			t.Errorf("%s removed %s from the backing directory", what, rel)
		case a.ctime != b.ctime:
			t.Errorf("%s changed the ctime of backing %s (%d.%09d -> %d.%09d)", what, rel, b.ctime.Sec, b.ctime.Nsec, a.ctime.Sec, a.ctime.Nsec)
		case a.xattrs != b.xattrs:
			t.Errorf("%s changed the xattrs of backing %s:\nbefore: %s\nafter:  %s", what, rel, b.xattrs, a.xattrs)
		case a != b:
			t.Errorf("%s changed backing %s: %+v -> %+v", what, rel, b, a)
		}
	}
	for rel := range after {
		if _, ok := before[rel]; !ok {
			t.Errorf("%s added %s to the backing directory", what, rel)
		}
	}
}

// tar, ls -lR, stat, cat, getfattr and a Python read of every file of a
// freshly mounted tree leave every backing file as it was, and tar exits 0.
func TestReadingChangesNothingOnDisk(t *testing.T) {
	t.Parallel()
	needTool(t, "tar", "getfattr", "python3")
	p := newProject(t)
	mount(t, p)
	before := backingSnapshot(t, p) // the mount itself may add paracfs's own folder
	n := len(logLines(t, p.Dir))

	archive := filepath.Join(p.Root, "tree.tar")
	if r := run(t, p.Root, "tar", "-cf", archive, ".parac"); r.Code != 0 {
		t.Fatalf("tar -cf of the freshly mounted tree: %s", r)
	}
	mustRun(t, p.Root, "ls", "-lRa", ".parac")
	mustRun(t, p.Root, "find", ".parac", "-type", "f", "-exec", "stat", "{}", "+")
	mustRun(t, p.Root, "find", ".parac", "-type", "f", "-exec", "cat", "{}", "+")
	mustRun(t, p.Root, "getfattr", "-R", "-d", "-m", "-", ".parac")
	mustRun(t, p.Root, "python3", "-c", `
import os, sys
for d, _, fs in os.walk(sys.argv[1]):
    for f in fs:
        p = os.path.join(d, f)
        os.stat(p)
        with open(p, "rb") as h:
            h.read()
        os.listxattr(p)
`, ".parac")
	if r := run(t, p.Root, "tar", "-cf", archive, ".parac"); r.Code != 0 {
		t.Fatalf("a second tar -cf of the mounted tree: %s", r)
	}
	compareSnapshots(t, "reading through the mount", before, backingSnapshot(t, p))
	if got := rev(t, p.path(stateRel)); got != 11 {
		t.Errorf("revision of %s through the mount: %d, want 11 (its revision field)", stateRel, got)
	}
	if lines := logSince(t, p.Dir, n); len(lines) != 0 {
		t.Errorf("reading logged %d lines:%s", len(lines), edDescribe(lines))
	}
}

// A change behind the mount's back noticed by a read is counted (one
// external line, the revision up by one) without writing the backing
// file, and it stays counted once across a remount: the revision does not
// go back, and no second external line appears.
func TestExternalChangeNoticedByReadWritesNothing(t *testing.T) {
	t.Parallel()
	needTool(t, "sed", "python3")
	p := newProject(t)
	mp := edMountElsewhere(t, p)
	const rel = "roadmap/roadmap.yaml"
	readFile(t, filepath.Join(mp, rel)) // known to the daemon as it is now
	r0 := rev(t, filepath.Join(mp, rel))
	n := len(logLines(t, p.Dir))
	content := externalWrite(t, p, "sed-i", rel, "timeline: 2026-Q4", "timeline: 2027-Q1")
	before := backingSnapshot(t, p)

	if got := readFile(t, filepath.Join(mp, rel)); string(got) != string(content) {
		t.Fatalf("read through the mount after the external change: %s", lineDiff(got, content))
	}
	if got := rev(t, filepath.Join(mp, rel)); got != r0+1 {
		t.Errorf("revision after the external change: %d, want %d", got, r0+1)
	}
	checkExternalLine(t, p, n, rel, r0, content)
	after := backingSnapshot(t, p)
	delete(before, logRel) // which got the external line
	delete(after, logRel)
	compareSnapshots(t, "noticing an external change by a read", before, after)

	unmountAll(t, p.Root)
	mp = filepath.Join(p.Root, "mnt")
	os.Remove(mp)
	mp = edMountElsewhere(t, p)
	m := len(logLines(t, p.Dir))
	readFile(t, filepath.Join(mp, rel))
	if got := rev(t, filepath.Join(mp, rel)); got != r0+1 {
		t.Errorf("revision after a remount: %d, want %d: the external change must count once", got, r0+1)
	}
	if lines := logSince(t, p.Dir, m); len(lines) != 0 {
		t.Errorf("reading after a remount logged %d lines:%s", len(lines), edDescribe(lines))
	}
	// The next commit goes on from there and stamps the file itself.
	mustRun(t, mp, "sed", "-i", "s/timeline: 2027-Q1/timeline: 2027-Q2/", rel)
	if got := rev(t, filepath.Join(mp, rel)); got != r0+2 {
		t.Errorf("revision after a commit: %d, want %d", got, r0+2)
	}
	if x := xattrDump(p.backing(rel)); !strings.Contains(x, "user.paracfs.rev=") {
		t.Errorf("a commit did not stamp backing %s: xattrs %q", rel, x)
	}
}

// pyPendingScript creates a managed file with NamedTemporaryFile, writes
// and flushes it (nothing committed yet), reads it back by name in the same
// process (json.load(open(f.name)), os.stat, a thread's read), and only
// commits it (close) when told to.
const pyPendingScript = `
import json, os, sys, tempfile, threading
d = sys.argv[1]
f = tempfile.NamedTemporaryFile("w", suffix=".json", dir=d, delete=False)
json.dump({"created": "pending", "n": 1}, f)
f.flush()
out = {"name": f.name}
try:
    out["loaded"] = json.load(open(f.name))
    out["size"] = os.stat(f.name).st_size
    got = {}
    th = threading.Thread(target=lambda: got.update(json.load(open(f.name))))
    th.start(); th.join()
    out["thread"] = got
except OSError as e:
    out["error"] = "%s: %s" % (e.__class__.__name__, e)
print(json.dumps(out), flush=True)
sys.stdin.readline()
f.close()
print("closed", flush=True)
sys.stdin.readline()
`

// The process writing a new managed file reads it by name before it
// commits; other processes get ENOENT until the commit, then see it.
func TestPendingFileVisibleToItsWriter(t *testing.T) {
	t.Parallel()
	needTool(t, "python3", "stat", "cat")
	p := newProject(t)
	mount(t, p)
	dir := p.path("memory/context")
	h := startPiped(t, p.Root, &syncBuffer{}, "python3", "-c", pyPendingScript, dir)
	line, err := readLineTimeout(h.out, eventWait)
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	var res struct {
		Name   string         `json:"name"`
		Loaded map[string]any `json:"loaded"`
		Thread map[string]any `json:"thread"`
		Size   int64          `json:"size"`
		Error  string         `json:"error"`
	}
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		t.Fatalf("python3 printed %q: %v", line, err)
	}
	want := `{"created": "pending", "n": 1}`
	if res.Error != "" || res.Loaded["created"] != "pending" || res.Thread["created"] != "pending" || res.Size != int64(len(want)) {
		t.Errorf("NamedTemporaryFile written and flushed, then read back by name in the same process: %s", line)
	}
	rel, _ := filepath.Rel(p.Dir, res.Name)

	// Another process: not there yet.
	if r := run(t, p.Root, "stat", res.Name); r.Code == 0 || !strings.Contains(r.Stderr, "No such file") {
		t.Errorf("stat %s by another process before the commit: %s, want ENOENT", rel, r)
	}
	if r := run(t, p.Root, "cat", res.Name); r.Code == 0 || !strings.Contains(r.Stderr, "No such file") {
		t.Errorf("cat %s by another process before the commit: %s, want ENOENT", rel, r)
	}
	if r := mustRun(t, p.Root, "ls", "-a", dir); strings.Contains(r.Stdout, filepath.Base(res.Name)) {
		t.Errorf("ls of %s by another process lists %s before the commit:\n%s", dir, rel, r.Stdout)
	}
	if _, err := os.Stat(p.backing(rel)); !os.IsNotExist(err) {
		t.Errorf("backing %s exists before the commit: %v", rel, err)
	}

	io.WriteString(h.stdin, "commit\n")
	if line, err := readLineTimeout(h.out, eventWait); err != nil || line != "closed" {
		t.Fatalf("python3 close: %q %v", line, err)
	}
	if r := mustRun(t, p.Root, "cat", res.Name); r.Stdout != want {
		t.Errorf("cat %s by another process after the commit: %q, want %q", rel, r.Stdout, want)
	}
	if r := mustRun(t, p.Root, "ls", dir); !strings.Contains(r.Stdout, filepath.Base(res.Name)) {
		t.Errorf("ls of %s after the commit does not list %s:\n%s", dir, rel, r.Stdout)
	}
	io.WriteString(h.stdin, "done\n")
	h.cmd.Wait()
}

// The whole idiom, NamedTemporaryFile(suffix=".json") used as a context
// manager, works in one go: written, flushed, loaded by name, then removed.
func TestNamedTemporaryJSONRoundTrip(t *testing.T) {
	t.Parallel()
	needTool(t, "python3")
	p := newProject(t)
	mount(t, p)
	r := mustRun(t, p.Root, "python3", "-c", `
import json, os, sys, tempfile
with tempfile.NamedTemporaryFile("w", suffix=".json", dir=sys.argv[1]) as f:
    json.dump({"ok": True}, f)
    f.flush()
    print(json.load(open(f.name))["ok"], os.path.exists(f.name))
    name = f.name
print(os.path.exists(name))
`, p.path("memory"))
	if r.Stdout != "True True\nFalse\n" {
		t.Errorf("NamedTemporaryFile round trip through the mount printed %q, want %q\nstderr: %s", r.Stdout, "True True\nFalse\n", r.Stderr)
	}
}

// findLocks lists the *.lock files under dir, relative to it.
func findLocks(t *testing.T, dir string) []string {
	t.Helper()
	r := mustRun(t, dir, "find", ".", "-name", "*.lock")
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if l != "" {
			out = append(out, strings.TrimPrefix(l, "./"))
		}
	}
	sort.Strings(out)
	return out
}

// pyParacleSave is paracle's save through its own lock file: filelock's
// flock on path.lock (created by the client), read, bump the revision,
// write path.tmp, os.replace onto path.
const pyParacleSave = `
import fcntl, os, sys, yaml
p = sys.argv[1]
fd = os.open(p + ".lock", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
with open(p) as f:
    doc = yaml.safe_load(f)
doc["revision"] = doc.get("revision", 0) + 1
doc["saves"] = doc.get("saves", 0) + 1
with open(p + ".tmp", "w") as f:
    yaml.safe_dump(doc, f, sort_keys=False)
os.replace(p + ".tmp", p)
fcntl.flock(fd, fcntl.LOCK_UN)
os.close(fd)
`

// 50 commits to 10 files through the mount, by several tools, leave no
// lock file of paracfs's own beside them, mounted or not: only the one a
// paracle-style client made for itself.
func TestCommitsLeaveNoLockFiles(t *testing.T) {
	t.Parallel()
	needTool(t, "python3", "sed", "find")
	p := newProject(t)
	if got := findLocks(t, p.Dir); len(got) != 0 {
		t.Fatalf("the fixture already holds lock files: %v", got)
	}
	mount(t, p)
	var rels []string
	for i := 0; i < 10; i++ {
		rels = append(rels, fmt.Sprintf("memory/context/f%d.yaml", i))
	}
	const paracleRel = "memory/context/f0.yaml" // the one a client locks itself
	for i := 0; i < 50; i++ {
		rel := rels[i%10]
		path := p.path(rel)
		switch {
		case i < 10:
			mustRun(t, p.Root, "python3", "-c", pyOverwrite, path, fmt.Sprintf("revision: 0\nn: %d\n", i))
		case rel == paracleRel:
			mustRun(t, p.Root, "python3", "-c", pyParacleSave, path)
		case i%3 == 0:
			mustRun(t, p.Root, "sed", "-i", fmt.Sprintf("s/^n: .*/n: %d/", i), path)
		case i%3 == 1:
			mustRun(t, p.Root, "python3", "-c", `
import os, sys
p = sys.argv[1]
with open(p) as f:
    s = f.read()
with open(p + ".tmp", "w") as f:
    f.write(s + "# save %s\n" % sys.argv[2])
os.replace(p + ".tmp", p)
`, path, itoa(i))
		default:
			mustRun(t, p.Root, "sh", "-c", "echo '# appended "+itoa(i)+"' >> "+path)
		}
	}
	// The first commit creates each file at revision 0 (a new name takes
	// its content's revision, none here), and each later one adds 1.
	for _, rel := range rels {
		if got, want := rev(t, p.path(rel)), int64(4); got != want && rel != paracleRel {
			t.Errorf("%s: revision %d after 5 commits, want %d", rel, got, want)
		}
	}
	if r := rev(t, p.path(paracleRel)); r != 4 {
		t.Errorf("%s: revision %d after 5 commits, want 4", paracleRel, r)
	}
	want := []string{paracleRel + ".lock"}
	if got := findLocks(t, p.Dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("find %s -name '*.lock' through the mount: %v, want %v", p.Dir, got, want)
	}
	unmountAll(t, p.Root)
	if got := findLocks(t, p.Dir); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("find %s -name '*.lock' once unmounted: %v, want %v", p.Dir, got, want)
	}
}

// inSyscall reports whether process pid is inside a rename system call
// (rename, renameat, renameat2 on x86_64), as /proc/PID/syscall shows.
func inRename(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b))
	return len(f) > 0 && (f[0] == "82" || f[0] == "264" || f[0] == "316")
}

// A paracle-style client holding current_state.yaml.lock, a file it made
// itself through the mount, holds off `sed -i`'s commit until it lets go:
// sed reaches its rename and waits there, the file unchanged, until the
// client releases; then the commit lands.
func TestClientLockFileHoldsOffCommit(t *testing.T) {
	t.Parallel()
	needTool(t, "python3", "sed")
	if b, err := os.ReadFile("/proc/self/syscall"); err != nil || len(b) == 0 {
		t.Skip("needs /proc/PID/syscall")
	}
	p := newProject(t)
	mount(t, p, "--lock-timeout", "120s")
	if _, err := os.Lstat(p.backing(stateRel + ".lock")); !os.IsNotExist(err) {
		t.Fatalf("%s.lock exists before the client made it: %v", stateRel, err)
	}
	n := len(logLines(t, p.Dir))
	holder := startPiped(t, p.Root, &syncBuffer{}, "python3", "-c", `
import fcntl, os, sys, time
fd = os.open(sys.argv[1] + ".lock", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
at = time.time_ns()
fcntl.flock(fd, fcntl.LOCK_UN)
print("released", at, flush=True)
sys.stdin.readline()
`, p.path(stateRel))
	if line, err := readLineTimeout(holder.out, eventWait); err != nil || line != "locked" {
		t.Fatalf("client: %q %v", line, err)
	}
	sed := edStartBg(t, p.Root, "sed", "-i", "s/blockers: \\[\\]/blockers: [held]/", p.path(stateRel))
	// Event: sed is inside its rename onto the file, which commits.
	for !inRename(sed.cmd.Process.Pid) {
		select {
		case <-sed.done:
			t.Fatalf("sed -i finished while the client held %s.lock: %v\nstderr: %s", stateRel, sed.err, sed.out.String())
		case <-time.After(2 * time.Millisecond):
		}
	}
	edAssertContentAt(t, p.backing(stateRel), fixture(t, stateRel))
	if lines := logSince(t, p.Dir, n); len(lines) != 0 {
		t.Errorf("log lines while the client held the lock:%s", edDescribe(lines))
	}
	select {
	case <-sed.done:
		t.Fatalf("sed -i finished while the client held %s.lock", stateRel)
	default:
	}
	io.WriteString(holder.stdin, "release\n")
	line, err := readLineTimeout(holder.out, eventWait)
	var releasedNs int64
	if _, serr := fmt.Sscanf(line, "released %d", &releasedNs); err != nil || serr != nil {
		t.Fatalf("client: %q %v %v", line, err, serr)
	}
	released := time.Unix(0, releasedNs).Truncate(time.Microsecond)
	<-sed.done
	if sed.err != nil {
		t.Fatalf("sed -i after the client released the lock: %v\nstderr: %s", sed.err, sed.out.String())
	}
	want := replace(t, replace(t, fixture(t, stateRel), "blockers: []", "blockers: [held]"), "revision: 11", "revision: 12")
	edAssertContent(t, p, stateRel, want)
	lines := logSince(t, p.Dir, n)
	if len(lines) != 1 || lines[0].Op != "commit" {
		t.Fatalf("want one commit line after the release, got %d:%s", len(lines), edDescribe(lines))
	}
	// The order of events: the client let go, then the commit landed.
	if at, err := time.Parse(time.RFC3339Nano, lines[0].Timestamp); err != nil || at.Before(released) {
		t.Errorf("the commit was logged at %s, before the client released %s.lock at %s (%v)",
			lines[0].Timestamp, stateRel, released.Format(time.RFC3339Nano), err)
	}
	io.WriteString(holder.stdin, "done\n")
	holder.cmd.Wait()
	if got := findLocks(t, p.Dir); strings.Join(got, " ") != stateRel+".lock" {
		t.Errorf("lock files: %v, want only the client's %s.lock", got, stateRel)
	}
}

// Another process's O_EXCL create of a name being written and not
// committed yet fails with EEXIST, as on any filesystem, though the name
// is not visible to it otherwise.
func TestPendingFileExclusiveCreate(t *testing.T) {
	t.Parallel()
	needTool(t, "python3")
	p := newProject(t)
	mount(t, p)
	path := p.path("memory/context/excl.json")
	h := startPiped(t, p.Root, &syncBuffer{}, "python3", "-c", `
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
os.write(fd, b'{"first": true}')
print("created", flush=True)
sys.stdin.readline()
os.close(fd)
print("closed", flush=True)
`, path)
	if line, err := readLineTimeout(h.out, eventWait); err != nil || line != "created" {
		t.Fatalf("first creator: %q %v", line, err)
	}
	r := run(t, p.Root, "python3", "-c", `
import errno, os, sys
try:
    os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    print("created")
except OSError as e:
    print(errno.errorcode[e.errno])
try:
    os.stat(sys.argv[1])
    print("visible")
except OSError as e:
    print(errno.errorcode[e.errno])
`, path)
	if r.Stdout != "EEXIST\nENOENT\n" {
		t.Errorf("another process's O_EXCL create, then stat, of a name not committed yet: %q, want EEXIST then ENOENT\n%s", r.Stdout, r.Stderr)
	}
	io.WriteString(h.stdin, "commit\n")
	if line, err := readLineTimeout(h.out, eventWait); err != nil || line != "closed" {
		t.Fatalf("first creator close: %q %v", line, err)
	}
	h.cmd.Wait()
	edAssertContentAt(t, path, []byte(`{"first": true}`))
}
