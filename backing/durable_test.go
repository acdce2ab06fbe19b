package backing

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A refused write's kept bytes carry their sha256; a copy that a crash
// cut short is never applied, and its file stays untouched.
func TestKeptChecksum(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "x.yaml", "a: 1\n")
	_, err := d.Commit(Write{Path: "x.yaml", Data: []byte("a: [\n"), Base: -1, Caller: testCaller})
	r := wantRefusal(t, err, OpInvalid, syscall.EBADMSG)
	sum := make([]byte, 64)
	n, err := unix.Getxattr(bpath(root, r.Kept), keptSumXattr, sum)
	if err != nil || string(sum[:n]) != sha("a: [\n") {
		t.Fatalf("kept file's %s = %q, %v; want the sha256 of its bytes", keptSumXattr, sum[:n], err)
	}
	// The same refusal, valid by now, but its copy cut short: not applied.
	if err := os.WriteFile(bpath(root, r.Kept), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.ApplyKept(r.Kept, testCaller); err == nil {
		t.Fatalf("ApplyKept of a kept file cut to 0 bytes succeeded")
	}
	if got := string(mustRead(t, filepath.Join(root, "x.yaml"))); got == "" {
		t.Errorf("x.yaml emptied by the apply of a damaged copy")
	}
	// A whole copy applies (and is refused as stale: revision 0 once
	// revision 1 is current, in bytes never committed).
	commit(t, d, "x.yaml", "a: 2\n")
	_, err = d.Commit(Write{Path: "x.yaml", Data: []byte("a: 0\nrevision: 0\n"), Base: -1, Caller: testCaller})
	r = wantRefusal(t, err, OpConflict, syscall.EBUSY)
	if _, _, err := d.ApplyKept(r.Kept, testCaller); err == nil {
		t.Errorf("ApplyKept of a stale kept write succeeded")
	} else if errors.Is(err, errKeptDamaged) {
		t.Errorf("ApplyKept of a whole kept write: %v", err)
	}
}

// A log that a power cut left empty: every commit made since the log's
// mark gets a recover line at the next start.
func TestRecoverEmptyLog(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "x.yaml", "a: 1\n")
	commit(t, d, "x.yaml", "a: 2\n")
	commit(t, d, "n.md", "note\n")
	closeOnce(d)
	if err := os.Truncate(filepath.Join(root, DefaultLogPath), 0); err != nil {
		t.Fatal(err)
	}
	d2 := openDir(t, root, Config{})
	defer closeOnce(d2)
	for rel, rev := range map[string]int64{"x.yaml": 1, "n.md": 0} {
		es := entriesFor(t, root, "recover", rel)
		if len(es) != 1 || es[0].Revision == nil || *es[0].Revision != rev {
			t.Errorf("%s: recover lines %v, want one at revision %d", rel, es, rev)
		}
	}
	// The next start finds nothing more to recover.
	closeOnce(d2)
	d3 := openDir(t, root, Config{})
	defer closeOnce(d3)
	if es := entriesFor(t, root, "recover", "x.yaml"); len(es) != 1 {
		t.Errorf("after a second start: %d recover lines of x.yaml, want 1", len(es))
	}
}

// A log that a power cut took whole (it was created by the run the cut
// ended): the next start writes it again, with a recover line of each
// commit made since the log's mark.
func TestRecoverMissingLog(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "x.yaml", "a: 1\n")
	commit(t, d, "x.yaml", "a: 2\n")
	closeOnce(d)
	if err := os.Remove(filepath.Join(root, DefaultLogPath)); err != nil {
		t.Fatal(err)
	}
	d2 := openDir(t, root, Config{})
	defer closeOnce(d2)
	if es := entriesFor(t, root, "recover", "x.yaml"); len(es) != 1 || es[0].Revision == nil || *es[0].Revision != 1 {
		t.Errorf("recover lines %v, want one at revision 1", es)
	}
}

// A revision stamp forged beyond any count of commits is not believed:
// the file counts as changed behind the mount's back, logged once, and
// revisions go on from a plausible number, never wrapping.
func TestForgedRevisionStamp(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "x.md", "one\n")
	closeOnce(d)
	p := filepath.Join(root, "x.md")
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	forged := fmt.Sprintf("9223372036854775807 %s %d %d", sha("one\n"), st.Size, mtimeNs(&st))
	if err := unix.Setxattr(p, revXattr, []byte(forged), 0); err != nil {
		t.Fatal(err)
	}
	d2 := openDir(t, root, Config{})
	defer closeOnce(d2)
	var last int64
	for i, s := range []string{"two\n", "three\n", "four\n"} {
		res := commit(t, d2, "x.md", s)
		if res.Rev <= last || res.Rev > 10 {
			t.Errorf("commit %d after a forged stamp: revision %d (previous %d)", i, res.Rev, last)
		}
		last = res.Rev
	}
	if es := entriesFor(t, root, "external", "x.md"); len(es) != 1 {
		t.Errorf("%d external lines after a forged stamp, want 1: %v", len(es), es)
	}
}

// A batch reports every fsync's error: its own descriptors', a pending
// record's it flushes itself, and one that was flushed before (by its own
// goroutine), which it only waits for.
func TestSyncWithReportsEveryError(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "f"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())

	var s syncSet
	s.add(nil) // no pending record: nothing to flush
	if err := s.syncWith(fd); err != nil {
		t.Fatalf("a batch of one good file: %v", err)
	}

	bad := &pendingSync{fds: []int{-1}}
	s.add(bad)
	if err := s.syncWith(fd); !errors.Is(err, unix.EBADF) {
		t.Fatalf("a pending record that cannot be fsynced: %v, want EBADF", err)
	}
	if !bad.done {
		t.Fatal("the batch did not flush the pending record")
	}
	s.add(bad) // flushed already: its error stands
	if err := s.syncWith(fd); !errors.Is(err, unix.EBADF) {
		t.Fatalf("a pending record flushed before with an error: %v, want EBADF", err)
	}
	if err := s.syncWith(-1); err != nil {
		t.Fatalf("an empty batch: %v", err)
	}

	dup, err := unix.Dup(fd)
	if err != nil {
		t.Fatal(err)
	}
	s.fds = append(s.fds, dup)
	s.add(&pendingSync{fds: []int{-1}})
	if err := s.syncWith(-1); !errors.Is(err, unix.EBADF) {
		t.Fatalf("a batch of a file and a bad pending record: %v, want EBADF", err)
	}
	if len(s.fds) != 0 || len(s.also) != 0 {
		t.Fatalf("the batch was not emptied: %v, %v", s.fds, s.also)
	}
}

// fsync takes a read-only filesystem's success for a failure: ext4
// answers every fsync with success once an error remounted it read-only.
func TestFsyncOnReadOnlyFilesystem(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (a read-only bind mount)")
	}
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "f"))
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := fsync(int(mustOpen(t, filepath.Join(dir, "f")).Fd())); err != nil {
		t.Fatalf("fsync on a writable filesystem: %v", err)
	}
	ro := t.TempDir()
	if err := unix.Mount(dir, ro, "", unix.MS_BIND, ""); err != nil {
		t.Skipf("bind mount: %v", err)
	}
	defer unix.Unmount(ro, unix.MNT_DETACH)
	if err := unix.Mount("", ro, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only: %v", err)
	}
	if err := fsync(int(mustOpen(t, filepath.Join(ro, "f")).Fd())); err != unix.EROFS {
		t.Errorf("fsync on a read-only filesystem: %v, want EROFS", err)
	}
}

func mustOpen(t *testing.T, p string) *os.File {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// The journal probe after an fsync changes nothing on a healthy
// filesystem: no attribute appears, and the file's ctime stays.
func TestJournalAliveChangesNothing(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var before, after unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &before); err != nil {
		t.Fatal(err)
	}
	if err := fsync(int(f.Fd())); err != nil {
		t.Fatalf("fsync on a healthy filesystem: %v", err)
	}
	if err := unix.Fstat(int(f.Fd()), &after); err != nil {
		t.Fatal(err)
	}
	if after.Ctim != before.Ctim {
		t.Errorf("ctime moved from %v to %v: the probe changed the file", before.Ctim, after.Ctim)
	}
	if _, err := unix.Getxattr(p, probeXattr, nil); !errors.Is(err, unix.ENODATA) {
		t.Errorf("getxattr %s after the probe: %v, want ENODATA", probeXattr, err)
	}
}
