package tests

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// paracfs's own data lives beside DIR (Root/.parac.paracfs for
// Root/.parac), never in it: issue #11, part 7 (Footprint).

// footprint lists what in DIR, or in git's view of the project, is
// paracfs's own: `ls -a DIR`, `find DIR` and `git status` at the
// project's root must show nothing of it.
func footprint(t *testing.T, p *project, when string) {
	t.Helper()
	ls := mustRun(t, p.Root, "ls", "-a", p.Dir)
	for _, name := range strings.Fields(ls.Stdout) {
		if strings.Contains(name, "paracfs") {
			t.Errorf("%s: ls -a DIR shows %q:\n%s", when, name, ls.Stdout)
		}
	}
	find := mustRun(t, p.Root, "find", p.Dir)
	for _, l := range strings.Split(find.Stdout, "\n") {
		if strings.Contains(filepath.Base(l), "paracfs") {
			t.Errorf("%s: find DIR lists %q", when, l)
		}
	}
	git := mustRun(t, p.Root, "git", "status", "--porcelain", "--untracked-files=all")
	if strings.Contains(git.Stdout, "paracfs") {
		t.Errorf("%s: git status shows paracfs's own files:\n%s", when, git.Stdout)
	}
}

// gitRepoAtRoot makes p.Root a git repository with DIR committed.
func gitRepoAtRoot(t *testing.T, p *project) {
	t.Helper()
	needTool(t, "git")
	for _, args := range [][]string{
		{"init", "-q"}, {"config", "user.email", "t@example.com"}, {"config", "user.name", "t"},
		{"add", "-A"}, {"commit", "-qm", "fixture"},
	} {
		mustRun(t, p.Root, "git", args...)
	}
}

// newRel is a managed file the tests make, committed twice (revisions 0, 1).
const newRel = "agents/footprint.yaml"

func TestFootprintNothingOfParacfsInDIR(t *testing.T) {
	p := newProject(t)
	gitRepoAtRoot(t, p)
	mount(t, p)
	for _, v := range []string{"a: 1\n", "a: 2\n"} {
		if err := writeMount(p.path(newRel), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := writeMount(p.path("project.yaml"), []byte("a: [\n"), 0o644); err == nil {
		t.Fatal("invalid YAML was committed")
	}
	// Mounted: the data is beside DIR, reachable through the mount by name
	// only.
	if st, err := os.Stat(p.meta("history")); err != nil || !st.IsDir() {
		t.Fatalf("no history beside DIR (%s): %v", p.meta("history"), err)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat("/proc/self/fd/"+itoa(p.backingFd)+"/.paracfs", &st); err != syscall.ENOENT {
		t.Errorf("DIR behind the mount holds .paracfs: %v, want ENOENT", err)
	}
	if _, err := os.Stat(p.path(".paracfs/control")); err != nil {
		t.Errorf(".paracfs/control through the mount: %v", err)
	}
	if b, err := os.ReadFile(historyFile(p, newRel, 1)); err != nil || string(b) != "a: 2\n" {
		t.Errorf("revision 1 through the mount's .paracfs/history: %q %v", b, err)
	}
	footprint(t, p, "mounted")
	if r := mustRun(t, p.Root, "git", "status", "--porcelain", "--untracked-files=all"); !strings.Contains(r.Stdout, newRel) {
		t.Errorf("git status through the mount misses %s:\n%s", newRel, r.Stdout)
	}
	mounted := paracfs(t, p.Dir, "history", p.path(newRel))
	if mounted.Code != 0 {
		t.Fatalf("paracfs history mounted: %s", mounted)
	}
	unmountCmd(t, p)

	// Unmounted: DIR is as clean, and the commands still find the data.
	footprint(t, p, "unmounted")
	if _, err := os.Lstat(p.path(".paracfs")); !os.IsNotExist(err) {
		t.Errorf("unmounted DIR holds .paracfs: %v", err)
	}
	r := paracfs(t, p.Root, "history", p.path(newRel))
	if r.Code != 0 || tableRows(r.Stdout) != tableRows(mounted.Stdout) || !strings.Contains(r.Stdout, ".parac.paracfs/history/") {
		t.Errorf("paracfs history unmounted: %s\nwant the rows of the mounted one, kept in .parac.paracfs/history/:\n%s", r, mounted.Stdout)
	}
	if r := paracfs(t, p.Root, "show", p.path(newRel)+"@1"); r.Code != 0 || r.Stdout != "a: 2\n" {
		t.Errorf("paracfs show unmounted: %s", r)
	}
	if r := paracfs(t, p.Root, "rejected", p.Dir); r.Code != 0 || !strings.Contains(r.Stdout, "project.yaml") {
		t.Errorf("paracfs rejected unmounted: %s, want the refused project.yaml", r)
	}
}

// tableRows is the output of paracfs history without its last line (which
// says where the versions are kept, a path that differs through the mount).
func tableRows(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	var out []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "versions kept in ") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// An older paracfs kept its data in DIR/.paracfs: the first mount moves
// it beside DIR, logs one migrate line, and the history reads the same.
func TestFootprintOldLayoutMigrates(t *testing.T) {
	p := newProject(t)
	mount(t, p)
	for _, v := range []string{"a: 1\n", "a: 2\n"} {
		if err := writeMount(p.path(newRel), []byte(v), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	unmountCmd(t, p)
	before := paracfs(t, p.Root, "history", "--json", p.path(newRel))
	if before.Code != 0 || strings.Count(before.Stdout, "\n") < 2 {
		t.Fatalf("paracfs history: %s", before)
	}
	// The layout of an older paracfs: its data inside DIR.
	if err := os.Rename(p.meta(), p.path(".paracfs")); err != nil {
		t.Fatal(err)
	}
	if r := paracfs(t, p.Root, "history", "--json", p.path(newRel)); r.Code != 0 || r.Stdout != before.Stdout {
		t.Errorf("paracfs history of the old layout, unmounted: %s\nwant %s", r, before.Stdout)
	}
	n := len(logLines(t, p.Dir))
	mount(t, p)
	if err := syscall.Access("/proc/self/fd/"+itoa(p.backingFd)+"/.paracfs", 0); err != syscall.ENOENT {
		t.Errorf("DIR/.paracfs after the first mount: %v, want it moved away", err)
	}
	if st, err := os.Stat(p.meta("history")); err != nil || !st.IsDir() {
		t.Errorf("no history beside DIR after the move: %v", err)
	}
	var migrate []logEntry
	for _, e := range logSince(t, p.Dir, n) {
		if e.Op == "migrate" {
			migrate = append(migrate, e)
		}
	}
	if len(migrate) != 1 || !strings.Contains(migrate[0].Description, p.meta()) || !strings.Contains(migrate[0].Description, p.path(".paracfs")) {
		t.Errorf("migrate lines: %v, want one naming %s and %s", migrate, p.path(".paracfs"), p.meta())
	}
	if !strings.Contains(p.daemonLog(), "moved paracfs's data from") {
		t.Errorf("daemon.log does not say the data moved:\n%s", p.daemonLog())
	}
	if r := paracfs(t, p.Dir, "history", "--json", p.path(newRel)); r.Code != 0 || r.Stdout != before.Stdout {
		t.Errorf("paracfs history after the move, mounted: %s\nwant %s", r, before.Stdout)
	}
	unmountCmd(t, p)
	if r := paracfs(t, p.Root, "history", "--json", p.path(newRel)); r.Code != 0 || r.Stdout != before.Stdout {
		t.Errorf("paracfs history after the move, unmounted: %s\nwant %s", r, before.Stdout)
	}
	// A second mount moves nothing.
	n = len(logLines(t, p.Dir))
	mount(t, p)
	for _, e := range logSince(t, p.Dir, n) {
		if e.Op == "migrate" {
			t.Errorf("a second mount logged %s", e)
		}
	}
}

// A symlink planted at the sibling's name is not followed: the mount fails
// naming it, and nothing is made where it points.
func TestFootprintPlantedSiblingLink(t *testing.T) {
	p := newProject(t)
	elsewhere := filepath.Join(p.Root, "elsewhere")
	if err := os.Mkdir(elsewhere, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(elsewhere, p.meta()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmountAll(t, p.Root) })
	for _, args := range [][]string{{"mount", p.Dir}, {"mount", "-f", p.Dir}} {
		r := paracfs(t, p.Root, args...)
		if r.Code == 0 || !strings.Contains(r.Stderr, ".parac.paracfs") || !strings.Contains(r.Stderr, "symlink") {
			t.Errorf("paracfs %s with %s a symlink: %s\nwant a refusal naming it", strings.Join(args, " "), p.meta(), r)
		}
		if isMounted(p.Dir) {
			t.Fatalf("paracfs %s mounted DIR with its data folder a symlink", strings.Join(args, " "))
		}
	}
	if es, _ := os.ReadDir(elsewhere); len(es) != 0 {
		t.Errorf("created %d entries through the planted link: %v", len(es), es)
	}
}

// DIR that is a mount point of its own (here a bind mount) cannot keep its
// data beside it on the same mount: the mount fails, saying so.
func TestFootprintDIRMountPointRefused(t *testing.T) {
	p := newProject(t)
	t.Cleanup(func() { unmountAll(t, p.Root) })
	mustRun(t, p.Root, "mount", "--bind", p.Dir, p.Dir)
	t.Cleanup(func() { syscall.Unmount(p.Dir, syscall.MNT_DETACH) })
	r := paracfs(t, p.Root, "mount", "-f", p.Dir)
	if r.Code == 0 || !strings.Contains(r.Stderr, "is a mount point") || !strings.Contains(r.Stderr, ".parac.paracfs") {
		t.Errorf("paracfs mount -f of a DIR that is a mount point: %s\nwant a refusal saying why", r)
	}
	if isMounted(p.Dir) {
		t.Errorf("paracfs mounted a DIR that is a mount point")
	}
}

// A parent of DIR the daemon cannot write in (here immutable, which stops
// root too): the first mount fails, naming the folder it could not make.
func TestFootprintParentNotWritable(t *testing.T) {
	needTool(t, "chattr")
	p := newProject(t)
	t.Cleanup(func() { unmountAll(t, p.Root) })
	mustRun(t, p.Root, "chattr", "+i", p.Root)
	t.Cleanup(func() { run(t, "/", "chattr", "-i", p.Root) })
	for _, args := range [][]string{{"mount", p.Dir}, {"mount", "-f", p.Dir}} {
		r := paracfs(t, "/", args...)
		if r.Code == 0 || !strings.Contains(r.Stderr, "cannot make "+p.meta()) || !strings.Contains(r.Stderr, "operation not permitted") {
			t.Errorf("paracfs %s with DIR's parent immutable: %s\nwant a refusal naming %s", strings.Join(args, " "), r, p.meta())
		}
		if isMounted(p.Dir) {
			t.Fatalf("paracfs %s mounted DIR without its data folder", strings.Join(args, " "))
		}
	}
}
