package backing

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// Lstat keeps descriptors of the directories it used; a directory renamed
// or removed and made anew through Dir must never be seen at its old name.
func TestLstatAfterDirectoryChanges(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	if err := os.MkdirAll(filepath.Join(root, "a/b"), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(root, "a/b/f.md"), "one\n", 0o644)
	if st, err := d.Lstat("a/b/f.md"); err != nil || st.Size != 4 {
		t.Fatalf("Lstat a/b/f.md = %v, size %d; want 4 bytes", err, st.Size)
	}

	if err := d.Rename("a/b", "a/c", 0, testCaller); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lstat("a/b/f.md"); err != unix.ENOENT {
		t.Errorf("Lstat a/b/f.md after renaming a/b away: %v, want ENOENT", err)
	}
	if st, err := d.Lstat("a/c/f.md"); err != nil || st.Size != 4 {
		t.Errorf("Lstat a/c/f.md = %v, size %d; want 4 bytes", err, st.Size)
	}

	if err := os.Remove(filepath.Join(root, "a/c/f.md")); err != nil {
		t.Fatal(err)
	}
	if err := d.Rmdir("a/c", testCaller); err != nil {
		t.Fatal(err)
	}
	if err := d.Mkdir("a/c", 0o755, testCaller); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(root, "a/c/f.md"), "second\n", 0o644)
	if st, err := d.Lstat("a/c/f.md"); err != nil || st.Size != 7 {
		t.Errorf("Lstat a/c/f.md in the new a/c = %v, size %d; want 7 bytes", err, st.Size)
	}

	// A symlink where a directory was is refused, not followed.
	if err := d.Rename("a/c", "a/d", 0, testCaller); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("d", filepath.Join(root, "a/c")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Lstat("a/c/f.md"); err == nil {
		t.Errorf("Lstat a/c/f.md through a symlink a/c succeeded, want a refusal")
	}
}
