package backing

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// A change made directly in the backing directory counts as a commit of
// its own: the revision goes up by one, the log says "external", and a
// write derived from the older version is a conflict.
func TestExternalChange(t *testing.T) {
	for _, how := range []string{"in place", "replaced"} {
		t.Run(how, func(t *testing.T) {
			root := newRoot(t)
			d := openDir(t, root, Config{})
			const rel = "config/logging.yaml"
			os.MkdirAll(filepath.Join(root, "config"), 0o755)
			commit(t, d, rel, "level: info\n")
			commit(t, d, rel, "level: debug\n")
			wantRev(t, d, rel, 1)
			p := filepath.Join(root, rel)
			time.Sleep(10 * time.Millisecond) // a new mtime even on coarse clocks
			switch how {
			case "in place":
				mustWrite(t, p, "level: warn\n", 0o644)
			case "replaced":
				mustWrite(t, p+".new", "level: warn\n", 0o644)
				if err := os.Rename(p+".new", p); err != nil {
					t.Fatal(err)
				}
			}
			data, rev, err := d.ReadFile(rel)
			if err != nil || string(data) != "level: warn\n" || rev != 2 {
				t.Fatalf("ReadFile after an external change = %q, %d, %v; want the new bytes at revision 2", data, rev, err)
			}
			e := oneEntry(t, root, "external", rel)
			if e.Revision == nil || *e.Revision != 2 || e.OldRevision == nil || *e.OldRevision != 1 || e.SHA256 != sha("level: warn\n") {
				t.Errorf("external line: %s", e.Raw)
			}
			wantRev(t, d, rel, 2) // noticed once: no second bump
			if n := len(entriesFor(t, root, "external", rel)); n != 1 {
				t.Errorf("%d external lines, want 1", n)
			}
			// A writer that read revision 1 through the mount is stale.
			_, err = d.Commit(Write{Path: rel, Data: []byte("level: error\n"), Base: 1, Caller: testCaller})
			wantRefusal(t, err, OpConflict, syscall.EBUSY)
			fileBytesIs(t, p, "level: warn\n")
			if _, err := d.Commit(Write{Path: rel, Data: []byte("level: error\n"), Base: 2, Caller: testCaller}); err != nil {
				t.Fatalf("a write based on the external version: %v", err)
			}
			wantRev(t, d, rel, 3)
		})
	}
}

// touch(1) changes the mtime but not the bytes: no new revision.
func TestTouchIsNoChange(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "a.yaml", "a: 1\n")
	later := time.Now().Add(time.Hour)
	if err := os.Chtimes(filepath.Join(root, "a.yaml"), later, later); err != nil {
		t.Fatal(err)
	}
	wantRev(t, d, "a.yaml", 0)
	if n := len(entriesFor(t, root, "external", "a.yaml")); n != 0 {
		t.Errorf("%d external lines for a touch, want 0", n)
	}
}
