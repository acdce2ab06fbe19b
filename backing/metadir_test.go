package backing

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// bpath is rel's real path behind DIR: paracfs's data (MetaDir/...) is
// beside DIR, in MetaPath(root).
func bpath(root, rel string) string {
	if in, ok := metaRel(rel); ok {
		return filepath.Join(MetaPath(root), in)
	}
	return filepath.Join(root, rel)
}

func TestMetaPath(t *testing.T) {
	for in, want := range map[string]string{
		"/proj/.parac":  "/proj/.parac.paracfs",
		"/proj/.parac/": "/proj/.parac.paracfs",
		"/a/b":          "/a/.b.paracfs",
	} {
		if got := MetaPath(in); got != want {
			t.Errorf("MetaPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// Open keeps nothing of paracfs's own in DIR: its data is in the sibling,
// reachable by the same names through Dir.
func TestMetaDirBesideDIR(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "a.yaml", "a: 1\n")
	commit(t, d, "a.yaml", "a: 2\n")
	if _, err := os.Lstat(filepath.Join(root, MetaDir)); !os.IsNotExist(err) {
		t.Errorf("%s in DIR: %v, want none", MetaDir, err)
	}
	if b, err := os.ReadFile(filepath.Join(MetaPath(root), ".gitignore")); err != nil || !strings.Contains(string(b), "\n*\n") {
		t.Errorf("%s/.gitignore: %q %v", MetaPath(root), b, err)
	}
	if _, err := os.Stat(filepath.Join(MetaPath(root), "history", "a.yaml", HistoryIndex)); err != nil {
		t.Errorf("history of a.yaml not beside DIR: %v", err)
	}
	st, err := d.Lstat(MetaDir)
	if err != nil || st.Mode&0o170000 != 0o040000 {
		t.Errorf("Lstat(%s): %v %o", MetaDir, err, st.Mode)
	}
	ents, err := d.ReadDir(HistoryDir, true)
	if err != nil || len(ents) != 1 || ents[0].Name != "a.yaml" {
		t.Errorf("ReadDir(%s) = %v, %v", HistoryDir, ents, err)
	}
	top, _ := d.ReadDir(".", true)
	for _, e := range top {
		if e.Name == MetaDir {
			t.Errorf("DIR lists %s", MetaDir)
		}
	}
}

// An older layout's DIR/.paracfs moves beside DIR at Open, logged once;
// when the sibling exists already, what it lacks moves into it.
func TestMetaDirMigrates(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "a.yaml", "a: 1\n")
	closeOnce(d)
	if err := os.Rename(MetaPath(root), filepath.Join(root, MetaDir)); err != nil {
		t.Fatal(err)
	}
	d = openDir(t, root, Config{})
	if _, err := os.Lstat(filepath.Join(root, MetaDir)); !os.IsNotExist(err) {
		t.Errorf("%s still in DIR after Open: %v", MetaDir, err)
	}
	if _, err := os.Stat(filepath.Join(MetaPath(root), "history", "a.yaml", HistoryIndex)); err != nil {
		t.Errorf("history not moved: %v", err)
	}
	if es := entriesFor(t, root, "migrate", ""); len(es) != 1 || !strings.Contains(es[0].Description, MetaPath(root)) {
		t.Errorf("migrate lines: %v, want one naming %s", es, MetaPath(root))
	}
	commit(t, d, "b.yaml", "b: 1\n")
	closeOnce(d)

	// Both: an old folder (with a.yaml's history and a kept file) and the
	// sibling (with b.yaml's).
	old := filepath.Join(root, MetaDir)
	mustWrite(t, filepath.Join(old, "history", "a.yaml", "9.yaml"), "x: 9\n", 0o644)
	mustWrite(t, filepath.Join(old, "rejected", "c.yaml.kept"), "bad\n", 0o644)
	mustWrite(t, filepath.Join(old, ".gitignore"), "old\n", 0o644)
	openDir(t, root, Config{})
	if _, err := os.Lstat(old); !os.IsNotExist(err) {
		t.Errorf("%s still in DIR after the merge: %v", MetaDir, err)
	}
	fileBytesIs(t, filepath.Join(MetaPath(root), "history", "a.yaml", "9.yaml"), "x: 9\n")
	fileBytesIs(t, filepath.Join(MetaPath(root), "rejected", "c.yaml.kept"), "bad\n")
	if _, err := os.Stat(filepath.Join(MetaPath(root), "history", "b.yaml", HistoryIndex)); err != nil {
		t.Errorf("b.yaml's history lost in the merge: %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(MetaPath(root), ".gitignore")); string(b) == "old\n" {
		t.Errorf("the old .gitignore replaced the sibling's")
	}
	if es := entriesFor(t, root, "migrate", ""); len(es) != 2 {
		t.Errorf("migrate lines: %d, want 2", len(es))
	}
}

// A symlink at the sibling's name, or at DIR/.paracfs, is refused.
func TestMetaDirSymlinkRefused(t *testing.T) {
	for _, at := range []string{"sibling", "in DIR"} {
		root := newRoot(t)
		target := t.TempDir()
		link := MetaPath(root)
		if at == "in DIR" {
			link = filepath.Join(root, MetaDir)
		}
		if err := os.Symlink(target, link); err != nil {
			t.Fatal(err)
		}
		d, err := Open(root, Config{})
		if err == nil {
			d.Close()
			t.Errorf("%s: Open with a symlink at %s succeeded", at, link)
			continue
		}
		if !strings.Contains(err.Error(), filepath.Base(link)) {
			t.Errorf("%s: %v, want it to name %s", at, err, link)
		}
		if es, _ := os.ReadDir(target); len(es) != 0 {
			t.Errorf("%s: created %v through the link", at, es)
		}
	}
}
