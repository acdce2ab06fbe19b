package tests

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Two `paracfs mount DIR` started at the same moment: exactly one mounts,
// the other fails with a clear line, in every round. Before the lock on
// DIR itself, both could pass the mount table check and stack two daemons.
func TestOneDaemonPerDirConcurrentMounts(t *testing.T) {
	rounds := 100
	if testing.Short() {
		rounds = 10
	}
	p := newProject(t)
	for i := range rounds {
		var wg sync.WaitGroup
		res := make([]result, 2)
		for j := range res {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res[j] = paracfs(t, p.Root, "mount", p.Dir)
			}()
		}
		wg.Wait()
		ok, refused := 0, 0
		for _, r := range res {
			switch {
			case r.Code == 0:
				ok++
			case strings.Contains(r.Stderr, "already"):
				refused++
			default:
				t.Errorf("round %d: a mount failed for another reason: %s", i, r)
			}
		}
		if n := countMounts(p.Dir); ok != 1 || refused != 1 || n != 1 {
			t.Fatalf("round %d: %d mounted, %d refused, %d paracfs mounts on DIR; want exactly one of each:\n%s\n%s",
				i, ok, refused, n, res[0], res[1])
		}
		if pid := p.daemonPid(t); pid > 0 {
			p.addPid(pid)
		}
		if r := paracfs(t, p.Root, "unmount", p.Dir); r.Code != 0 {
			t.Fatalf("round %d: unmount: %s", i, r)
		}
	}
}

// A second mount through a symlink to DIR or another path to it
// (foreground or not) is refused, and unmount accepts the symlink too.
func TestOneDaemonPerDirThroughSymlink(t *testing.T) {
	p := newProject(t)
	link := filepath.Join(p.Root, "link-to-parac")
	if err := os.Symlink(p.Dir, link); err != nil {
		t.Fatal(err)
	}
	// Another path to DIR that is no symlink: a bind mount of its parent,
	// made before the mount (it shows DIR itself, not the FUSE mount).
	alias := filepath.Join(t.TempDir(), "alias")
	os.Mkdir(alias, 0o755)
	mustRun(t, p.Root, "mount", "--bind", p.Root, alias)
	t.Cleanup(func() { run(t, "/", "umount", "-l", alias) })
	mount(t, p)
	via := filepath.Join(alias, filepath.Base(p.Dir))
	for _, args := range [][]string{{"mount", link}, {"mount", "-f", link}, {"mount", via}, {"mount", "-f", via}} {
		r := paracfs(t, p.Root, args...)
		if r.Code == 0 || !strings.Contains(r.Stderr, "already") {
			t.Errorf("paracfs %s on a mounted DIR: %s; want a refusal saying it is already mounted", strings.Join(args, " "), r)
		}
		if n := countMounts(p.Dir); n != 1 {
			t.Fatalf("paracfs %s: %d mounts on DIR, want 1", strings.Join(args, " "), n)
		}
	}
	if r := paracfs(t, p.Root, "unmount", link); r.Code != 0 {
		t.Fatalf("paracfs unmount SYMLINK: %s", r)
	}
	if isMounted(p.Dir) {
		t.Fatal("still mounted after paracfs unmount SYMLINK")
	}
}
