package backing

import (
	"fmt"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A name with no committed version adopts the revision its content
// carries, and its bytes land as written: a copy is byte-identical.
func TestCommitNewNameAdoptsRevision(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	res := commit(t, d, "copy.yaml", stateYAML)
	if res.Rev != 11 || string(res.Data) != stateYAML {
		t.Errorf("a copy of revision 11: rev %d, changed %v; want 11 and the same bytes", res.Rev, string(res.Data) != stateYAML)
	}
	fileBytesIs(t, filepath.Join(root, "copy.yaml"), stateYAML)
	wantRev(t, d, "copy.yaml", 11)
	e := oneEntry(t, root, "create", "copy.yaml")
	if *e.Revision != 11 {
		t.Errorf("create line revision %d, want 11", *e.Revision)
	}
	// paracle's initial state: revision 0 stays 0, then goes on by one.
	commit(t, d, "state.yaml", "revision: 0\nphase: a\n")
	wantRev(t, d, "state.yaml", 0)
	fileBytesIs(t, filepath.Join(root, "state.yaml"), "revision: 0\nphase: a\n")
	if res := commit(t, d, "state.yaml", "revision: 1\nphase: b\n"); res.Rev != 1 {
		t.Errorf("paracle's first save: revision %d, want 1", res.Rev)
	}
	// A name deleted through the mount keeps its revision: re-created with
	// an older field, it is stale.
	if err := d.Remove("state.yaml", testCaller); err != nil {
		t.Fatal(err)
	}
	_, err := d.Commit(Write{Path: "state.yaml", Data: []byte("revision: 0\nphase: c\n"), Base: -1, Caller: testCaller})
	wantRefusal(t, err, OpConflict, syscall.EBUSY)
}

// A stale write whose bytes are a version of the name is a restore:
// committed as the next revision, as written (git then finds its bytes),
// logged with op restore.
func TestCommitStaleVersionIsRestore(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	const rel = "s.yaml"
	commit(t, d, rel, "revision: 0 # kept\nphase: a\n")
	commit(t, d, rel, "revision: 1 # kept\nphase: b\n")
	commit(t, d, rel, "revision: 2 # kept\nphase: c\n")

	// git checkout, a backup copied back: the bytes of revision 0, by a
	// writer that never read the file.
	res, err := d.Commit(Write{Path: rel, Data: []byte("revision: 0 # kept\nphase: a\n"), Base: -1, Caller: testCaller})
	if err != nil || res.Rev != 3 {
		t.Fatalf("restore of revision 0 = rev %d, %v; want 3", res.Rev, err)
	}
	fileBytesIs(t, filepath.Join(root, rel), "revision: 0 # kept\nphase: a\n")
	wantRev(t, d, rel, 3)
	e := oneEntry(t, root, OpRestore, rel)
	if *e.Revision != 3 || *e.OldRevision != 2 || e.From != rel+"@0" || !strings.Contains(e.Description, "restore of revision 0") {
		t.Errorf("restore line: %+v", e)
	}
	vs, _ := d.Versions(rel)
	if last := vs[len(vs)-1]; last.Rev != 3 || last.Op != OpRestore {
		t.Errorf("newest version %+v, want revision 3 by restore", last)
	}

	// Writing it again changes nothing.
	n := len(logEntries(t, root))
	if res := commit(t, d, rel, "revision: 0 # kept\nphase: a\n"); res.Rev != 3 || len(logEntries(t, root)) != n {
		t.Errorf("the restored bytes again: revision %d, %d new log lines; want 3, none", res.Rev, len(logEntries(t, root))-n)
	}

	// git stash: the writer read the current version, its bytes are an
	// older one: a restore too.
	res, err = d.Commit(Write{Path: rel, Data: []byte("revision: 1 # kept\nphase: b\n"), Base: 3, Caller: testCaller})
	if err != nil || res.Rev != 4 {
		t.Fatalf("restore from the current base = rev %d, %v; want 4", res.Rev, err)
	}
	if n := len(entriesFor(t, root, OpRestore, rel)); n != 2 {
		t.Errorf("%d restore lines, want 2", n)
	}

	// A writer that read revision 2 and writes bytes of a version
	// derived them from a stale copy: a conflict.
	_, err = d.Commit(Write{Path: rel, Data: []byte("revision: 2 # kept\nphase: c\n"), Base: 2, Caller: testCaller})
	wantRefusal(t, err, OpConflict, syscall.EBUSY)

	// Stale bytes that are no version of the name: a conflict that says how to
	// restore on purpose.
	_, err = d.Commit(Write{Path: rel, Data: []byte("revision: 0 # kept\nphase: z\n"), Base: -1, Caller: testCaller})
	r := wantRefusal(t, err, OpConflict, syscall.EBUSY)
	if !strings.Contains(r.Reason, "paracfs restore "+rel+"@REV") {
		t.Errorf("conflict reason %q does not say how to restore", r.Reason)
	}
	fileBytesIs(t, filepath.Join(root, rel), "revision: 1 # kept\nphase: b\n")
	wantRev(t, d, rel, 4)

	// The restored content still says revision 1: a writer that kept that
	// field (an edited copy of the current file) is not stale, and its
	// commit is stamped.
	res, err = d.Commit(Write{Path: rel, Data: []byte("revision: 1 # kept\nphase: e\n"), Base: -1, Caller: testCaller})
	if err != nil || res.Rev != 5 {
		t.Fatalf("an edit of the restored content = rev %d, %v; want 5", res.Rev, err)
	}
	fileBytesIs(t, filepath.Join(root, rel), "revision: 5 # kept\nphase: e\n")
	// Once that commit is no restore, the old number is stale again.
	_, err = d.Commit(Write{Path: rel, Data: []byte("revision: 1 # kept\nphase: f\n"), Base: -1, Caller: testCaller})
	wantRefusal(t, err, OpConflict, syscall.EBUSY)
}

// Without history there is nothing to restore: a stale write is refused.
func TestCommitStaleWithoutHistory(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{History: HistoryBounds{MaxVersions: -1}})
	commit(t, d, "s.yaml", "revision: 0\nphase: a\n")
	commit(t, d, "s.yaml", "revision: 1\nphase: b\n")
	_, err := d.Commit(Write{Path: "s.yaml", Data: []byte("revision: 0\nphase: a\n"), Base: -1, Caller: testCaller})
	wantRefusal(t, err, OpConflict, syscall.EBUSY)
}

// A writer that read the current version is never stale, whatever its
// content's field says: paracle after another writer dropped the field.
func TestCommitReadCurrentFieldDropped(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	const rel = "s.yaml"
	commit(t, d, rel, "revision: 0\nphase: a\n")
	commit(t, d, rel, "revision: 1\nphase: b\n")
	commit(t, d, rel, "phase: c\n") // the field dropped: revision 2
	res, err := d.Commit(Write{Path: rel, Data: []byte("revision: 1\nphase: d\n"), Base: 2, Caller: testCaller})
	if err != nil || res.Rev != 3 {
		t.Fatalf("paracle's save after a read of the current version = rev %d, %v; want 3", res.Rev, err)
	}
	fileBytesIs(t, filepath.Join(root, rel), "revision: 3\nphase: d\n")
	// Without that read the same bytes are stale.
	_, err = d.Commit(Write{Path: rel, Data: []byte("revision: 1\nphase: e\n"), Base: -1, Caller: testCaller})
	wantRefusal(t, err, OpConflict, syscall.EBUSY)
}

// BenchmarkRestoreLookup measures what a stale write costs before it is
// refused or taken as a restore: the sha256 of its bytes and a scan of the
// name's cached history index (100 versions, the default bound).
func BenchmarkRestoreLookup(b *testing.B) {
	root := b.TempDir()
	d, err := Open(root, Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for i := 0; i < 100; i++ {
		data := fmt.Sprintf("# note %d\n\n%s", i, stateYAML) // 1 KiB
		if _, err := d.Commit(Write{Path: "s.md", Data: []byte(data), Base: -1, Caller: testCaller}); err != nil {
			b.Fatal(err)
		}
	}
	stale := []byte("# note -1\n\n" + stateYAML)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, ok := d.restoredVersion("s.md", sha256hex(stale), 99, -1); ok {
			b.Fatal("found")
		}
	}
}

// A deleted file restored from its history comes back with the mode its
// version had, not a new file's 0644.
func TestRestoreDeletedKeepsMode(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	if _, err := d.Commit(Write{Path: "s.yaml", Data: []byte("pin: 1\n"), Base: -1, Caller: testCaller, Mode: 0o600}); err != nil {
		t.Fatal(err)
	}
	if err := d.Remove("s.yaml", testCaller); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Restore("s.yaml", 0, -1, testCaller); err != nil {
		t.Fatalf("restore: %v", err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, "s.yaml"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o600 {
		t.Errorf("restored file mode %#o, want the version's 0600", st.Mode&0o7777)
	}
}
