package tests

import (
	"os"
	"path/filepath"
	"strings"
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
