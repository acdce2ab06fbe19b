package tests

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// New names and restores (docs/revisions.md): a name with no committed
// version adopts the revision its content carries, so copies land
// byte-identical; a writer that read the current version is never stale;
// bytes identical to a version of the name are a restore. Driven with
// the tools users hit these with: cp, cp -a, mv, tar, rsync, git, python.

// revsOnly asserts that the log lines es hold exactly one line of rel, with
// op and revision rev, and returns it.
func revsOnly(t *testing.T, es []logEntry, rel, op string, rev int64) logEntry {
	t.Helper()
	lines := forPath(es, rel)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line for %s (op %s), got %d:\n%s", rel, op, len(lines), toolLines(lines))
	}
	e := lines[0]
	if e.Op != op || e.Revision == nil || *e.Revision != rev {
		t.Errorf("log line op/revision = %q/%s, want %q/%d\n%s", e.Op, ptrStr(e.Revision), op, rev, e)
	}
	return e
}

// A copy of the state file (revision: 11) to a new name lands
// byte-identical at revision 11, whatever the tool.
func TestRevsCopyToNewName(t *testing.T) {
	t.Parallel()
	toolNeedPython(t)
	needTool(t, "rsync")
	p := newProject(t)
	mount(t, p)
	state := fixture(t, stateRel)
	outside := filepath.Join(p.Root, "outside.yaml") // another filesystem than the mount
	if err := os.WriteFile(outside, state, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, dst string
		cmd       []string
	}{
		{"cp", "memory/context/copy.yaml", []string{"cp", stateRel, "memory/context/copy.yaml"}},
		{"cp -a", "memory/context/copy-a.yaml", []string{"cp", "-a", stateRel, "memory/context/copy-a.yaml"}},
		{"python shutil.copy2", "memory/context/copy-py.yaml", []string{toolPython, "-c",
			"import shutil, sys; shutil.copy2(sys.argv[1], sys.argv[2])", stateRel, "memory/context/copy-py.yaml"}},
		{"mv from another filesystem", "memory/context/moved.yaml", []string{"mv", outside, "memory/context/moved.yaml"}},
		{"rsync --inplace", "memory/context/copy-rsync.yaml", []string{"rsync", "--inplace", stateRel, "memory/context/copy-rsync.yaml"}},
	} {
		n := len(logLines(t, p.Dir))
		if r := run(t, p.Dir, c.cmd[0], c.cmd[1:]...); c.name == "cp -a" {
			revsCpRan(t, r)
		} else if r.Code != 0 {
			t.Errorf("%s: %s", c.name, r)
			continue
		}
		assertContent(t, p, c.dst, state)
		if got := rev(t, p.path(c.dst)); got != 11 {
			t.Errorf("%s: %s is at revision %d, want the 11 its content carries", c.name, c.dst, got)
		}
		lines := logSince(t, p.Dir, n)
		toolOnlyPaths(t, lines, c.dst)
		e := revsOnly(t, lines, c.dst, "create", 11)
		// rsync writes the new file 0600, and sets its mode after: a file
		// not everyone may read has no sum in the world-readable log.
		if want := sha256hex(state); e.SHA256 != want && (e.SHA256 != "" || !strings.Contains(e.Raw, `{"hidden":true}`)) {
			t.Errorf("%s: the create line's sha256 is not the copied bytes'\n%s", c.name, e)
		}
	}
	if _, err := os.Lstat(outside); !os.IsNotExist(err) {
		t.Errorf("mv left its source behind: %v", err)
	}
	// The original is untouched.
	assertContent(t, p, stateRel, state)
	if got := rev(t, p.path(stateRel)); got != 11 {
		t.Errorf("%s: revision %d after being copied, want 11", stateRel, got)
	}
}

// revsCpRan asserts that a cp that preserves permissions (-a, -p) exited 0,
// as on a plain directory: copying from another filesystem, it sets an
// ACL (fsetxattr system.posix_acl_access) on each new file before closing
// it, which the mount applies to the file's first commit.
func revsCpRan(t *testing.T, r result) {
	t.Helper()
	if r.Code != 0 {
		t.Errorf("cp: %s", r)
	}
}

// revsSameTree asserts that every regular file under src is in the mount
// under dst, byte-identical, and that the state file's copy is at the
// revision its content carries.
func revsSameTree(t *testing.T, p *project, src, dst string) {
	t.Helper()
	n := 0
	err := filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		want, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		got, err := os.ReadFile(p.path(filepath.Join(dst, rel)))
		if err != nil {
			t.Errorf("%s/%s is missing: %v", dst, rel, err)
		} else if !bytes.Equal(got, want) {
			t.Errorf("%s/%s is not byte-identical to its source:\n got: %s\nwant: %s", dst, rel, short(string(got)), short(string(want)))
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 10 {
		t.Fatalf("test bug: only %d files under %s", n, src)
	}
	if got := rev(t, p.path(filepath.Join(dst, stateRel))); got != 11 {
		t.Errorf("%s/%s is at revision %d, want 11", dst, stateRel, got)
	}
	if got := rev(t, p.path(filepath.Join(dst, "project.yaml"))); got != 0 {
		t.Errorf("%s/project.yaml (no revision field) is at revision %d, want 0", dst, got)
	}
}

// Whole trees of paracle files copied into the mount: every file lands,
// byte-identical, by cp -a, tar -x, rsync -a and git clone.
func TestRevsTreeCopies(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	src := filepath.Join(p.Root, "src")
	if err := copyTree("testdata/parac", src); err != nil {
		t.Fatal(err)
	}
	mount(t, p)

	t.Run("cp -r", func(t *testing.T) {
		mustRun(t, p.Root, "cp", "-r", src, p.path("cp-r"))
		revsSameTree(t, p, src, "cp-r")
	})
	t.Run("cp -a", func(t *testing.T) {
		revsCpRan(t, run(t, p.Root, "cp", "-a", src, p.path("cp-a")))
		revsSameTree(t, p, src, "cp-a")
	})
	t.Run("tar -x", func(t *testing.T) {
		needTool(t, "tar")
		archive := filepath.Join(p.Root, "tree.tar")
		mustRun(t, src, "tar", "-cf", archive, ".")
		if err := os.Mkdir(p.path("tar"), 0o755); err != nil {
			t.Fatal(err)
		}
		mustRun(t, p.path("tar"), "tar", "-xf", archive)
		revsSameTree(t, p, src, "tar")
	})
	t.Run("rsync -a", func(t *testing.T) {
		needTool(t, "rsync")
		mustRun(t, p.Root, "rsync", "-a", src+"/", p.path("rsync")+"/")
		revsSameTree(t, p, src, "rsync")
		// Again with --inplace over the same names: nothing changed.
		n := len(logLines(t, p.Dir))
		mustRun(t, p.Root, "rsync", "-a", "--inplace", "--checksum", src+"/", p.path("rsync")+"/")
		revsSameTree(t, p, src, "rsync")
		if lines := logSince(t, p.Dir, n); len(lines) != 0 {
			t.Errorf("rsync of unchanged files logged:\n%s", toolLines(lines))
		}
	})
	t.Run("git clone", func(t *testing.T) {
		needTool(t, "git")
		repo := filepath.Join(p.Root, "repo")
		if err := copyTree(src, repo); err != nil {
			t.Fatal(err)
		}
		g := []string{"-c", "user.name=paracfs tests", "-c", "user.email=tests@paracfs.invalid", "-c", "init.defaultBranch=main",
			"-c", "commit.gpgSign=false", "-c", "core.hooksPath=/dev/null"}
		mustRun(t, repo, "git", append(g, "init", "-q")...)
		mustRun(t, repo, "git", append(g, "add", "-A", "-f", ".")...)
		mustRun(t, repo, "git", append(g, "commit", "-qm", "paracle files")...)
		r := run(t, p.Root, "git", append(g, "clone", "-q", repo, p.path("clone"))...)
		if r.Code != 0 || r.Stderr != "" {
			t.Errorf("git clone into the mount: %s", r)
		}
		revsSameTree(t, p, src, "clone")
		// (Untracked files aside: the commits' P.lock files.)
		if st := mustRun(t, p.path("clone"), "git", "status", "--porcelain", "--untracked-files=no"); st.Stdout != "" {
			t.Errorf("git status in the clone shows changes:\n%s", st.Stdout)
		}
	})
}

// paracleCycles is paracle's library in a few lines: under a flock on
// P.lock (what filelock does), write P.tmp and os.replace it onto P; a
// save reads the file, expects the revision it loaded, and writes it plus
// one. It creates P with revision 0, then runs n load → bump → save
// cycles, and prints the revisions it loaded, then the final one as read
// back and as the mount's xattr says.
const paracleCycles = `import fcntl, os, sys, yaml
p, n = sys.argv[1], int(sys.argv[2])
def locked(fn):
    fd = os.open(p + ".lock", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return fn()
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
def load():
    with open(p) as f:
        return yaml.safe_load(f)
def save(state):
    with open(p + ".tmp", "w") as f:
        yaml.safe_dump(state, f, sort_keys=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(p + ".tmp", p)
def cycle(expect):
    state = load()
    if state.get("revision", 0) != expect:
        sys.exit("load: revision %r, expected %d" % (state.get("revision"), expect))
    state["saves"] = state.get("saves", 0) + 1
    state["revision"] = expect + 1
    save(state)
locked(lambda: save({"revision": 0, "project": "orbit", "saves": 0}))
seen = [load()["revision"]]
for i in range(n):
    locked(lambda: cycle(i))
    seen.append(load()["revision"])
print(" ".join(map(str, seen)))
print(os.getxattr(p, "user.paracfs.revision").decode())
`

// paracle's initial state is written with revision: 0 and must read 0;
// then each load → bump → save reads the revision it saved last.
func TestRevsParacleFromZero(t *testing.T) {
	t.Parallel()
	toolNeedPython(t, "yaml")
	p := newProject(t)
	mount(t, p)
	const rel, cycles = "memory/context/agent_state.yaml", 100
	n := len(logLines(t, p.Dir))
	r := run(t, p.Dir, toolPython, "-c", paracleCycles, rel, itoa(cycles))
	if r.Code != 0 {
		t.Fatalf("paracle-style saves: %s", r)
	}
	var want []string
	for i := 0; i <= cycles; i++ {
		want = append(want, itoa(i))
	}
	out := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(out) != 2 || out[0] != strings.Join(want, " ") || out[1] != itoa(cycles) {
		t.Fatalf("revisions loaded, then the xattr:\n%s\nwant:\n%s\n%d", r.Stdout, strings.Join(want, " "), cycles)
	}
	if got := rev(t, p.path(rel)); got != cycles {
		t.Errorf("revision %d after %d saves, want %d", got, cycles, cycles)
	}
	lines := forPath(logSince(t, p.Dir, n), rel)
	if len(lines) != cycles+1 {
		t.Fatalf("%d log lines for %s, want %d (the creation, then one per save)", len(lines), rel, cycles+1)
	}
	for i, e := range lines {
		wantOp := "commit"
		if i == 0 {
			wantOp = "create"
		}
		if e.Op != wantOp || e.Revision == nil || *e.Revision != int64(i) || e.From != rel+".tmp" {
			t.Errorf("log line %d: op/revision/from = %q/%s/%q, want %q/%d/%q\n%s", i, e.Op, ptrStr(e.Revision), e.From, wantOp, i, rel+".tmp", e)
		}
	}
	if b := readFile(t, p.path(rel)); !bytes.HasPrefix(b, []byte(fmt.Sprintf("revision: %d\n", cycles))) {
		t.Errorf("%s after the saves:\n%s", rel, b)
	}
}

// paracleLoadSave is one paracle load → save of the state file: it reads
// it, takes a missing revision field as 0, and writes it plus one.
const paracleLoadSave = `import fcntl, os, sys, yaml
p = sys.argv[1]
fd = os.open(p + ".lock", os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
with open(p) as f:
    state = yaml.safe_load(f)
loaded = state.get("revision", 0)
state["revision"] = loaded + 1
state["metrics"]["test_count"] += 1
with open(p + ".tmp", "w") as f:
    yaml.safe_dump(state, f, sort_keys=False)
os.replace(p + ".tmp", p)
print(loaded)
`

// revsBlindWrite overwrites a file without reading it first.
const revsBlindWrite = `import sys
with open(sys.argv[1], "w") as f:
    f.write(sys.argv[2])
`

// A writer drops the revision field; paracle's next load → save writes
// revision: 1, and succeeds, because it read the current version.
func TestRevsFieldDroppedThenParacle(t *testing.T) {
	t.Parallel()
	toolNeedPython(t, "yaml")
	p := newProject(t)
	mount(t, p)
	dropped := replace(t, fixture(t, stateRel), "revision: 11\n", "")
	// A blind overwrite (never read the file): accepted, revision 12.
	mustRun(t, p.Dir, toolPython, "-c", revsBlindWrite, stateRel, string(dropped))
	assertContent(t, p, stateRel, dropped)
	if got := rev(t, p.path(stateRel)); got != 12 {
		t.Fatalf("revision %d after the field was dropped, want 12", got)
	}

	n := len(logLines(t, p.Dir))
	r := run(t, p.Dir, toolPython, "-c", paracleLoadSave, stateRel)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "0" {
		t.Fatalf("paracle's load → save after the field was dropped: %s\nlog:\n%s", r, toolLines(logSince(t, p.Dir, n)))
	}
	b := readFile(t, p.path(stateRel))
	if !bytes.Contains(b, []byte("revision: 13\n")) {
		t.Errorf("the save is not stamped revision 13:\n%s", b)
	}
	if got := rev(t, p.path(stateRel)); got != 13 {
		t.Errorf("revision %d after paracle's save, want 13", got)
	}
	e := revsOnly(t, logSince(t, p.Dir, n), stateRel, "commit", 13)
	if e.OldRevision == nil || *e.OldRevision != 12 {
		t.Errorf("old_revision %s, want 12\n%s", ptrStr(e.OldRevision), e)
	}
	// And the next load sees 13 and saves 14.
	if r := run(t, p.Dir, toolPython, "-c", paracleLoadSave, stateRel); r.Code != 0 || strings.TrimSpace(r.Stdout) != "13" {
		t.Errorf("the next load → save: %s", r)
	}
	if got := rev(t, p.path(stateRel)); got != 14 {
		t.Errorf("revision %d after the next save, want 14", got)
	}

	// A writer that never read the file, writing revision: 1, is stale.
	n = len(logLines(t, p.Dir))
	stale := replace(t, fixture(t, stateRel), "revision: 11\n", "revision: 1\n")
	r = run(t, p.Dir, toolPython, "-c", revsBlindWrite, stateRel, string(stale))
	if r.Code == 0 || !strings.Contains(r.Stderr, "Device or resource busy") {
		t.Errorf("a blind write of revision 1 over revision 14: %s, want EBUSY", r)
	}
	revsOnly(t, logSince(t, p.Dir, n), stateRel, "conflict", 14)
}

// revsRestored asserts that rel now holds want, byte for byte, at
// revision rev, committed by one restore line (since log line n) of the
// kept revision from.
func revsRestored(t *testing.T, p *project, n int, rel string, want []byte, rev_, from int64) {
	t.Helper()
	lines := logSince(t, p.Dir, n)
	toolOnlyPaths(t, lines, rel)
	assertContent(t, p, rel, want)
	if got := rev(t, p.path(rel)); got != rev_ {
		t.Errorf("%s: revision %d after the restore, want %d", rel, got, rev_)
	}
	e := revsOnly(t, lines, rel, "restore", rev_)
	if e.OldRevision == nil || *e.OldRevision != rev_-1 || e.SHA256 != sha256hex(want) || e.Size == nil || *e.Size != int64(len(want)) {
		t.Errorf("restore line old_revision/sha256/size wrong, want %d/%s/%d\n%s", rev_-1, sha256hex(want), len(want), e)
	}
	if !strings.Contains(e.Description, fmt.Sprintf("restore of revision %d", from)) {
		t.Errorf("restore line does not say it restores revision %d\n%s", from, e)
	}
	checkTimestamp(t, e)
}

// git puts back versions the mount kept: checkout of another branch and
// back, stash and stash pop, checkout -- of the state file. Each is a
// restore, committed as the next revision with git's very bytes, so git
// sees a clean tree and can switch back.
func TestRevsGitRestores(t *testing.T) {
	t.Parallel()
	t.Run("checkout of a file", func(t *testing.T) {
		t.Parallel()
		p := gitProject(t, false)
		toolBumpState(t, p)
		n := len(logLines(t, p.Dir))
		r := gitIn(t, p, "checkout", "--", ".parac/"+stateRel)
		if r.Code != 0 || r.Stderr != "" {
			t.Errorf("git checkout -- %s: %s", stateRel, r)
		}
		revsRestored(t, p, n, stateRel, fixture(t, stateRel), 13, 11)
		gitClean(t, p, "after git checkout --")
	})

	t.Run("branch switch and back", func(t *testing.T) {
		t.Parallel()
		p := gitProject(t, false)
		bumped := toolBumpState(t, p)
		mustGit(t, p, "checkout", "-q", "-b", "bumped")
		mustGit(t, p, "commit", "-qam", "bump the state")

		n := len(logLines(t, p.Dir))
		if r := gitIn(t, p, "checkout", "-q", "main"); r.Code != 0 || r.Stderr != "" {
			t.Fatalf("git checkout main: %s", r)
		}
		revsRestored(t, p, n, stateRel, fixture(t, stateRel), 13, 11)
		gitClean(t, p, "after switching to main")

		n = len(logLines(t, p.Dir))
		if r := gitIn(t, p, "checkout", "-q", "bumped"); r.Code != 0 || r.Stderr != "" {
			t.Fatalf("git checkout bumped (back): %s", r)
		}
		revsRestored(t, p, n, stateRel, bumped, 14, 12)
		gitClean(t, p, "after switching back")

		// paracle goes on from there: the content says 12, the file is
		// at 14; a load → save through the mount is not stale.
		toolNeedPython(t, "yaml")
		if r := run(t, p.Dir, toolPython, "-c", paracleLoadSave, stateRel); r.Code != 0 || strings.TrimSpace(r.Stdout) != "12" {
			t.Errorf("paracle's load → save after the switch: %s", r)
		}
		if got := rev(t, p.path(stateRel)); got != 15 {
			t.Errorf("revision %d after paracle's save, want 15", got)
		}
		if b := readFile(t, p.path(stateRel)); !bytes.Contains(b, []byte("\nrevision: 15\n")) {
			t.Errorf("paracle's save is not stamped revision 15:\n%s", b)
		}
	})

	t.Run("stash and stash pop", func(t *testing.T) {
		t.Parallel()
		p := gitProject(t, false)
		edited := toolBumpState(t, p)
		n := len(logLines(t, p.Dir))
		if r := gitIn(t, p, "stash", "-q"); r.Code != 0 || r.Stderr != "" {
			t.Fatalf("git stash: %s", r)
		}
		revsRestored(t, p, n, stateRel, fixture(t, stateRel), 13, 11)
		gitClean(t, p, "after git stash")

		n = len(logLines(t, p.Dir))
		if r := gitIn(t, p, "stash", "pop", "-q"); r.Code != 0 || r.Stderr != "" {
			t.Fatalf("git stash pop: %s", r)
		}
		revsRestored(t, p, n, stateRel, edited, 14, 12)
		if r := mustGit(t, p, "status", "--porcelain"); r.Stdout != " M .parac/"+stateRel+"\n" {
			t.Errorf("git status after git stash pop:\n%s\nwant the state file modified", r.Stdout)
		}
		if list := mustGit(t, p, "stash", "list"); list.Stdout != "" {
			t.Errorf("the stash is still there after its pop:\n%s", list.Stdout)
		}
	})
}

// A backup copied back is a restore; a stale write of bytes that are no
// version of the name is still refused, and its reason says how to restore.
func TestRevsBackupBackAndStaleWrite(t *testing.T) {
	t.Parallel()
	toolNeedPython(t)
	p := newProject(t)
	mount(t, p)
	backup := filepath.Join(p.Root, "current_state.yaml.bak")
	mustRun(t, p.Dir, "cp", stateRel, backup)
	toolBumpState(t, p) // revision 12
	bumped := readFile(t, p.path(stateRel))

	n := len(logLines(t, p.Dir))
	mustRun(t, p.Dir, "cp", backup, stateRel)
	revsRestored(t, p, n, stateRel, fixture(t, stateRel), 13, 11)

	// A copy of revision 12 taken before the restore, edited: stale.
	n = len(logLines(t, p.Dir))
	stale := replace(t, bumped, "impact: high", "impact: critical")
	r := run(t, p.Dir, toolPython, "-c", `import errno, sys
f = open(sys.argv[1], "w")
f.write(sys.argv[2])
try:
    f.close()
except OSError as e:
    print(errno.errorcode[e.errno])
`, stateRel, string(stale))
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "EBUSY" {
		t.Errorf("a stale write of new bytes: %s, want close() to fail with EBUSY", r)
	}
	lines := logSince(t, p.Dir, n)
	toolOnlyPaths(t, lines, stateRel)
	e := revsOnly(t, lines, stateRel, "conflict", 13)
	checkRefusalLine(t, p, e, stateRel, "conflict", "EBUSY", unknownPid, stale)
	if want := "paracfs restore " + stateRel + "@REV"; !strings.Contains(e.Reason, want) {
		t.Errorf("the conflict's reason does not say how to restore on purpose (%q):\n%s", want, e.Reason)
	}
	assertContent(t, p, stateRel, fixture(t, stateRel))
	if got := rev(t, p.path(stateRel)); got != 13 {
		t.Errorf("revision %d after a refused write, want 13", got)
	}

	// paracfs restore does it on purpose: revision 12 again, stamped 14.
	n = len(logLines(t, p.Dir))
	if r := paracfs(t, p.Root, "restore", p.path(stateRel)+"@12"); r.Code != 0 {
		t.Fatalf("paracfs restore: %s", r)
	}
	want := replace(t, bumped, "revision: 12", "revision: 14")
	assertContent(t, p, stateRel, want)
	revsOnly(t, logSince(t, p.Dir, n), stateRel, "restore", 14)
}
