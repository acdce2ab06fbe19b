package tests

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A user who can write DIR plants symlinks where paracfs keeps its data.
// Root (the mount command, the daemon, the offline CLI) must follow none
// of them: the mount fails with a line that names the link, and nothing
// outside DIR is created or appended to.
func TestPlantedLinksAreNotFollowed(t *testing.T) {
	t.Run("daemon.log", func(t *testing.T) {
		p := newProject(t)
		victim := filepath.Join(p.Root, "victim.txt")
		os.WriteFile(victim, []byte("untouched\n"), 0o644)
		os.MkdirAll(p.path(".paracfs"), 0o755)
		if err := os.Symlink(victim, p.path(".paracfs/daemon.log")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unmountAll(t, p.Root) })
		r := paracfs(t, p.Root, "mount", p.Dir)
		if r.Code == 0 || !strings.Contains(r.Stderr, "symlink") {
			t.Errorf("mount with .paracfs/daemon.log a symlink: %s\nwant a refusal naming the symlink", r)
		}
		if got := string(readFile(t, victim)); got != "untouched\n" {
			t.Errorf("the symlink's target was written: %q", got)
		}
	})
	t.Run(".paracfs", func(t *testing.T) {
		p := newProject(t)
		elsewhere := filepath.Join(p.Root, "elsewhere")
		os.Mkdir(elsewhere, 0o755)
		if err := os.Symlink(elsewhere, p.path(".paracfs")); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unmountAll(t, p.Root) })
		for _, args := range [][]string{{"mount", p.Dir}, {"mount", "-f", p.Dir}} {
			r := paracfs(t, p.Root, args...)
			if r.Code == 0 || !strings.Contains(r.Stderr, ".paracfs") {
				t.Errorf("paracfs %s with .paracfs a symlink: %s\nwant a refusal naming .paracfs", strings.Join(args, " "), r)
			}
			if isMounted(p.Dir) {
				t.Fatalf("paracfs %s mounted DIR with .paracfs a symlink", strings.Join(args, " "))
			}
		}
		if es, _ := os.ReadDir(elsewhere); len(es) != 0 {
			t.Errorf("root created %d entries through the planted .paracfs link: %v", len(es), es)
		}
	})
	// paracfs's data folder beside DIR made by another user (DIR's owner
	// included): its owner could swap its folders for theirs and read
	// every version of every file. A hard link planted in it (to a file
	// of root's, as a user may where fs.protected_hardlinks is 0; root
	// makes it here) is not appended to.
	t.Run("sibling of another user", func(t *testing.T) {
		p := newProject(t)
		victim := filepath.Join(p.Root, "victim.txt")
		if err := os.WriteFile(victim, []byte("untouched\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(p.meta(), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(victim, p.meta("daemon.log")); err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{p.meta(), p.Dir} { // DIR's owner too
			if err := os.Chown(path, nobodyUID, nobodyGID); err != nil {
				t.Fatal(err)
			}
		}
		t.Cleanup(func() { unmountAll(t, p.Root) })
		for _, args := range [][]string{{"mount", "--allow-other", p.Dir}, {"mount", "-f", "--allow-other", p.Dir}} {
			r := paracfs(t, p.Root, args...)
			if r.Code == 0 || !strings.Contains(r.Stderr, "belongs to uid 65534") {
				t.Errorf("paracfs %s with %s nobody's: %s\nwant a refusal naming its owner", strings.Join(args, " "), p.meta(), r)
			}
			if isMounted(p.Dir) {
				t.Fatalf("paracfs %s mounted DIR with its data folder nobody's", strings.Join(args, " "))
			}
		}
		if got := string(readFile(t, victim)); got != "untouched\n" {
			t.Errorf("root appended to a file hard-linked into nobody's data folder: %q", got)
		}
		if es, _ := os.ReadDir(p.meta()); len(es) != 1 {
			t.Errorf("root made entries in nobody's data folder: %v", es)
		}
	})
	// A data folder of root's that everyone may write: anyone could
	// remove or replace the versions kept there. Refused the same way.
	t.Run("sibling writable by everyone", func(t *testing.T) {
		p := newProject(t)
		if err := os.Mkdir(p.meta(), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p.meta(), 0o777); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unmountAll(t, p.Root) })
		for _, args := range [][]string{{"mount", "--allow-other", p.Dir}, {"mount", "-f", "--allow-other", p.Dir}} {
			r := paracfs(t, p.Root, args...)
			if r.Code == 0 || !strings.Contains(r.Stderr, "writable by its group or by everyone (mode 0777)") || !strings.Contains(r.Stderr, "chmod go-w") {
				t.Errorf("paracfs %s with %s mode 0777: %s\nwant a refusal naming the mode and the fix", strings.Join(args, " "), p.meta(), r)
			}
			if isMounted(p.Dir) {
				t.Fatalf("paracfs %s mounted DIR with its data folder writable by everyone", strings.Join(args, " "))
			}
		}
		if es, _ := os.ReadDir(p.meta()); len(es) != 0 {
			t.Errorf("paracfs made entries in a data folder everyone may write: %v", es)
		}
		if err := os.Chmod(p.meta(), 0o755); err != nil {
			t.Fatal(err)
		}
		mount(t, p)
	})
	// A FIFO planted at daemon.log (in DIR/.paracfs, an older paracfs's
	// place, which anyone who may write DIR can make): the mount fails at
	// once rather than hang on its open.
	t.Run("daemon.log a FIFO", func(t *testing.T) {
		p := newProject(t)
		if err := os.Mkdir(p.path(".paracfs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(p.path(".paracfs/daemon.log"), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unmountAll(t, p.Root) })
		if r := paracfs(t, p.Root, "mount", p.Dir); r.Code == 0 || !strings.Contains(r.Stderr, "daemon.log") {
			t.Errorf("mount with .paracfs/daemon.log a FIFO: %s\nwant a refusal naming it", r)
		}
	})
	// A DIR/.paracfs made by another user beside the data folder (an older
	// paracfs's place, which anyone who may write DIR can make): the
	// offline command line reads and drops from the data folder, not
	// from it, and the next mount merges none of it into the data folder.
	t.Run("DIR/.paracfs of another user", func(t *testing.T) {
		toolNeedPython(t)
		p := newProject(t)
		openToOthers(t, p)
		mount(t, p)
		if err := writeMount(p.path("project.yaml"), []byte("a: [\n"), 0o644); err == nil {
			t.Fatal("invalid YAML was committed")
		}
		real := rejectedList(t, p)
		if len(real) != 1 {
			t.Fatalf("kept refusals: %+v, want one", real)
		}
		unmountCmd(t, p)
		if err := os.Chmod(p.Dir, 0o777); err != nil {
			t.Fatal(err)
		}
		if r := runAsNobody(t, p.Dir, toolPython, "-c", `import os
os.makedirs(".paracfs/rejected")
os.makedirs(".paracfs/history/evil", 0o777)
os.makedirs(".paracfs/objects")
open(".paracfs/rejected/project.yaml.20260101-000000.000000.pid1.invalid", "w").write("planted: 1\n")
open(".paracfs/objects/planted", "w").write("planted: 1\n")`); r.Code != 0 {
			t.Fatalf("nobody plants DIR/.paracfs: %s", r)
		}
		rows := rejectedList(t, p)
		if len(rows) != 1 || rows[0].ID != real[0].ID {
			t.Fatalf("paracfs rejected, DIR unmounted beside a planted DIR/.paracfs: %+v, want the one kept in the data folder: %+v", rows, real)
		}
		if r := paracfs(t, p.Root, "rejected", "drop", rows[0].ID, p.Dir); r.Code != 0 {
			t.Fatalf("paracfs rejected drop: %s", r)
		}
		if _, err := os.Lstat(p.meta(strings.TrimPrefix(real[0].Kept, ".paracfs/"))); !os.IsNotExist(err) {
			t.Errorf("the dropped kept file is still in the data folder: %v", err)
		}
		mount(t, p)
		unmountCmd(t, p)
		filepath.WalkDir(p.meta(), func(path string, de os.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if info, err := de.Info(); err == nil && info.Sys().(*syscall.Stat_t).Uid == nobodyUID {
				t.Errorf("nobody's %s joined the data folder", path)
			}
			return nil
		})
	})
	t.Run("rejected drop", func(t *testing.T) {
		p := newProject(t)
		mount(t, p)
		if err := writeMount(p.path("project.yaml"), []byte("a: [\n"), 0o644); err == nil {
			t.Fatal("invalid YAML was committed")
		}
		rows := rejectedList(t, p)
		if len(rows) != 1 {
			t.Fatalf("kept refusals: %+v, want one", rows)
		}
		unmountCmd(t, p)
		victim := filepath.Join(p.Root, "victim.txt")
		os.WriteFile(victim, []byte("untouched\n"), 0o644)
		logp := p.path("memory/logs/state_changes.jsonl")
		os.Rename(logp, logp+".real")
		if err := os.Symlink(victim, logp); err != nil {
			t.Fatal(err)
		}
		paracfs(t, "/", "rejected", "drop", rows[0].ID, p.Dir)
		paracfs(t, "/", "log", "prune", "--keep-days", "1", p.Dir)
		if got := string(readFile(t, victim)); got != "untouched\n" {
			t.Errorf("an offline command wrote through the symlinked change log: %q", got)
		}
	})
}
