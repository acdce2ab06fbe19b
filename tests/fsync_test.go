package tests

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// A writer that fsyncs and then goes on writing through the same handle
// writes at its own offsets. When the fsync's commit stamped a revision of
// another length (9 became 10), the later bytes must still land after what
// the writer wrote, not one byte early over the stamped copy's end.
func TestWritesAfterFsyncKeepTheirOffsets(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const script = `import os, sys
p = sys.argv[1]
for r in range(1, 10):                 # revisions 1..9, each bumped by the writer
    with open(p, "w") as f:
        f.write("revision: %d\na: %d\n" % (r, r))
f = open(p, "w")
f.write("revision: 9\na: 1\n")         # kept the field: stamped 10 at the fsync
f.flush()
os.fsync(f.fileno())
f.write("b: 2\n")                      # at the writer's offset 17
f.close()                              # the second commit: 11
print(open(p).read(), end="")
`
	const rel = "memory/context/fsync.yaml"
	r := mustRun(t, p.Dir, "python3", "-c", script, rel)
	want := "revision: 11\na: 1\nb: 2\n"
	if r.Stdout != want {
		t.Errorf("after fsync then more writes the file reads %q, want %q", r.Stdout, want)
	}
	assertContent(t, p, rel, []byte(want))
	if got := rev(t, p.path(rel)); got != 11 {
		t.Errorf("revision = %d, want 11", got)
	}
	var commits []int64
	for _, e := range forPath(logLines(t, p.Dir), rel) {
		if e.Op == "commit" || e.Op == "create" {
			commits = append(commits, *e.Revision)
		} else {
			t.Errorf("unexpected log line: %s", e)
		}
	}
	if len(commits) != 11 || commits[9] != 10 || commits[10] != 11 {
		t.Errorf("commit revisions %v, want 1..11", commits)
	}
}

// The same when the stamp adds the field (a stamp_revision rule): the
// writer's later bytes follow its own, and the field is added once.
func TestWritesAfterFsyncWithAddedRevision(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	cfg := "rules:\n  - glob: notes/*.yaml\n    stamp_revision: true\n"
	if res := pyWrite(t, p.Dir, "paracfs.yaml", "trunc", []byte(cfg)); res.Errno != 0 {
		t.Fatalf("writing paracfs.yaml: %v", res)
	}
	const script = `import os, sys
p = sys.argv[1]
os.makedirs(os.path.dirname(p), exist_ok=True)
f = open(p, "w")
f.write("a: 1\n")
f.flush()
os.fsync(f.fileno())                   # revision 0 (a new name), added by the stamp
f.write("b: 2\n")
f.close()                              # revision 1
print(open(p).read(), end="")
`
	const rel = "notes/n.yaml"
	r := mustRun(t, p.Dir, "python3", "-c", script, rel)
	want := "revision: 1\na: 1\nb: 2\n"
	if r.Stdout != want {
		t.Errorf("after fsync then more writes the file reads %q, want %q", r.Stdout, want)
	}
	if got := rev(t, p.path(rel)); got != 1 {
		t.Errorf("revision = %d, want 1", got)
	}
}

// A refused write that grew the file leaves the size the writer and others
// see at the committed size, also while the handle is still open (the
// kernel's RELEASE comes after close() returns; a dup holds it open here).
func TestRefusedWriteLeavesTheSize(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const rel = "roadmap/roadmap.yaml"
	before := len(fixture(t, rel))
	const script = `import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDWR)
held = os.dup(fd)                       # keeps the handle open past close()
os.lseek(fd, 0, 2)
os.write(fd, b"broken: [\n" * 100)      # grows the file, invalid YAML
try:
    os.close(fd)
    print("closed")
except OSError as e:
    print("refused", e.errno)
print(os.stat(p).st_size)
os.close(held)
`
	r := mustRun(t, p.Dir, "python3", "-c", script, rel)
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 2 || lines[0] != "refused 74" {
		t.Fatalf("the invalid write: %q, want it refused with EBADMSG (74)", r.Stdout)
	}
	if lines[1] != strconv.Itoa(before) {
		t.Errorf("the writer's stat after the refusal says %s bytes, want the committed %d", lines[1], before)
	}
	if st, err := os.Stat(p.path(rel)); err != nil || st.Size() != int64(before) {
		t.Errorf("another process's stat: %v, %v; want %d bytes", st.Size(), err, before)
	}
}

// A file created through the mount whose first commit is refused does not
// exist, also for its writer while the handle is still open (before the
// kernel's RELEASE): stat and unlink say ENOENT, as on a directory where
// the file was never made.
func TestRefusedCreateDoesNotExist(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const script = `import os, sys
p = sys.argv[1]
fd = os.open(p, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o644)
held = os.dup(fd)                       # keeps the handle open past close()
os.write(fd, b"a: [\n")
try:
    os.close(fd)
    print("closed")
except OSError as e:
    print("refused", e.errno)
for call in (os.stat, os.unlink):
    try:
        call(p)
        print(call.__name__, "ok")
    except OSError as e:
        print(call.__name__, e.errno)
os.close(held)
`
	r := mustRun(t, p.Dir, "python3", "-c", script, "memory/context/new.yaml")
	if got, want := strings.TrimSpace(r.Stdout), "refused 74\nstat 2\nunlink 2"; got != want {
		t.Errorf("refused create, then stat and unlink by the writer:\n%s\nwant:\n%s", got, want)
	}
	if _, err := os.Lstat(p.backing("memory/context/new.yaml")); !os.IsNotExist(err) {
		t.Errorf("the refused file is in the backing directory: %v", err)
	}
}
