package backing

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// tombstones reads .paracfs/tombstones.json (empty if missing).
func tombstones(t *testing.T, root string) map[string]int64 {
	t.Helper()
	m := map[string]int64{}
	b, err := os.ReadFile(bpath(root, tombstonesFile))
	if errors.Is(err, os.ErrNotExist) {
		return m
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v\n%s", tombstonesFile, err, b)
	}
	return m
}

func TestRemoveLeavesTombstone(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	const rel = "roadmap.yaml"
	p := filepath.Join(root, rel)
	commit(t, d, rel, "phases: [1]\n")
	commit(t, d, rel, "phases: [1, 2]\n")
	commit(t, d, rel, "phases: [1, 2, 3]\n")

	if err := d.Remove(rel, testCaller); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	notExist(t, p)
	e := oneEntry(t, root, "delete", rel)
	if e.Revision == nil || *e.Revision != 2 || e.ProcessID != testCaller.Pid || e.Command != testCaller.Command {
		t.Errorf("delete line revision/pid/command = %v/%d/%q, want 2/%d/%q", ptrStr(e.Revision), e.ProcessID, e.Command, testCaller.Pid, testCaller.Command)
	}
	if got := tombstones(t, root)[rel]; got != 2 {
		t.Errorf("tombstone of %s = %d, want 2 (%v)", rel, got, tombstones(t, root))
	}
	wantRev(t, d, rel, 2)
	if _, rev, err := d.ReadFile(rel); !errors.Is(err, unix.ENOENT) || rev != 2 {
		t.Errorf("ReadFile of the deleted name = rev %d, %v; want 2, ENOENT", rev, err)
	}
	if err := d.Remove(rel, testCaller); !errors.Is(err, unix.ENOENT) {
		t.Errorf("second Remove: %v, want ENOENT", err)
	}

	// Re-created: the count goes on.
	res := commit(t, d, rel, "phases: []\n")
	if res.Rev != 3 {
		t.Errorf("re-created at revision %d, want 3", res.Rev)
	}
	wantRev(t, d, rel, 3)
	c := entriesFor(t, root, "", rel)
	last := c[len(c)-1]
	if *last.Revision != 3 || *last.OldRevision != 2 {
		t.Errorf("re-create line revision/old_revision = %d/%d, want 3/2", *last.Revision, *last.OldRevision)
	}
	if _, ok := tombstones(t, root)[rel]; ok {
		t.Errorf("tombstone kept after the name exists again: %v", tombstones(t, root))
	}

	// Also across a reopen.
	if err := d.Remove(rel, testCaller); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2 := openDir(t, root, Config{})
	wantRev(t, d2, rel, 3)
	if res := commit(t, d2, rel, "phases: [9]\n"); res.Rev != 4 {
		t.Errorf("re-created after reopen at revision %d, want 4", res.Rev)
	}
	if n := len(entriesFor(t, root, "delete", rel)); n != 2 {
		t.Errorf("%d delete lines, want 2", n)
	}
}

func TestRemoveScratchNotLogged(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	mustWrite(t, filepath.Join(root, "4913"), "", 0o644)
	mustWrite(t, filepath.Join(root, "x.yaml.swp"), "junk", 0o644)
	for _, rel := range []string{"4913", "x.yaml.swp"} {
		if err := d.Remove(rel, testCaller); err != nil {
			t.Errorf("Remove(%s): %v", rel, err)
		}
		notExist(t, filepath.Join(root, rel))
	}
	if n := len(logEntries(t, root)); n != 0 {
		t.Errorf("%d log lines for scratch files", n)
	}
	if n := len(tombstones(t, root)); n != 0 {
		t.Errorf("tombstones for scratch files: %v", tombstones(t, root))
	}
}

func TestRenameScratchOntoManaged(t *testing.T) {
	for _, c := range []struct {
		name     string
		src, dst string
		exists   bool // dst exists before
		op       string
		rev      int64
	}{
		{"sed", "sedAb12Cd", "current_state.yaml", true, "commit", 1},
		{"paracle", "memory/context/current_state.yaml.tmp", "memory/context/current_state.yaml", true, "commit", 1},
		{"new", "memory/new.json.tmp", "memory/new.json", false, "create", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := newRoot(t)
			if err := os.MkdirAll(filepath.Join(root, "memory/context"), 0o755); err != nil {
				t.Fatal(err)
			}
			d := openDir(t, root, Config{})
			old := "{\"a\": 1}\n"
			if c.exists {
				old = "a: 1\n"
				commit(t, d, c.dst, old)
			}
			before := len(logEntries(t, root))
			const data = "{\"a\": 2}\n" // JSON is YAML too
			mustWrite(t, filepath.Join(root, c.src), data, 0o640)

			if err := d.Rename(c.src, c.dst, 0, testCaller); err != nil {
				t.Fatalf("Rename: %v", err)
			}
			notExist(t, filepath.Join(root, c.src))
			fileBytesIs(t, filepath.Join(root, c.dst), data)
			wantRev(t, d, c.dst, c.rev)
			all := logEntries(t, root)
			if len(all) != before+1 {
				t.Fatalf("%d new log lines, want exactly 1", len(all)-before)
			}
			e := all[len(all)-1]
			if e.Op != c.op || e.Path != c.dst || e.From != c.src {
				t.Errorf("op/path/from = %q/%q/%q, want %q/%q/%q", e.Op, e.Path, e.From, c.op, c.dst, c.src)
			}
			wantOld := c.rev - 1
			if !c.exists {
				wantOld = 0 // a new name: nothing before it
			}
			// A 0640 file: its sha256 stays out of the world-readable log.
			if *e.Revision != c.rev || *e.OldRevision != wantOld || e.SHA256 != "" {
				t.Errorf("revision/old/sha = %d/%d/%s", *e.Revision, *e.OldRevision, e.SHA256)
			}
			if !c.exists {
				fi, _ := os.Stat(filepath.Join(root, c.dst))
				if fi.Mode().Perm() != 0o640 {
					t.Errorf("new target mode %o, want the source's 0640", fi.Mode().Perm())
				}
			}
		})
	}
}

func TestRenameInvalidSourceRefused(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	const dst = "current_state.yaml"
	commit(t, d, dst, "a: 1\n")
	const bad = "a: [1\n"
	src := filepath.Join(root, "current_state.yaml.tmp")
	mustWrite(t, src, bad, 0o644)

	err := d.Rename("current_state.yaml.tmp", dst, 0, testCaller)
	r := wantRefusal(t, err, OpInvalid, syscall.EBADMSG)
	fileBytesIs(t, src, bad)
	fileBytesIs(t, filepath.Join(root, dst), "a: 1\n")
	wantRev(t, d, dst, 0)
	e := oneEntry(t, root, OpInvalid, dst)
	wantRefusalLine(t, e, OpInvalid, dst, syscall.EBADMSG, bad)
	wantKept(t, root, r, e, bad)
	if n := len(logEntries(t, root)); n != 2 {
		t.Errorf("%d log lines, want 2 (create, invalid)", n)
	}

	// A stale source (revision field behind) is a conflict, also left alone.
	commit(t, d, "s.yaml", "revision: 0\nx: 1\n")
	commit(t, d, "s.yaml", "revision: 1\nx: 2\n")
	stale := filepath.Join(root, "s.yaml.tmp")
	mustWrite(t, stale, "revision: 0\nx: 3\n", 0o644)
	err = d.Rename("s.yaml.tmp", "s.yaml", 0, testCaller)
	wantRefusal(t, err, OpConflict, syscall.EBUSY)
	fileBytesIs(t, stale, "revision: 0\nx: 3\n")
	fileBytesIs(t, filepath.Join(root, "s.yaml"), "revision: 1\nx: 2\n")
}

func TestRenameManagedToScratch(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	const rel = "notes.md"
	commit(t, d, rel, "# one\n")
	commit(t, d, rel, "# two\n")

	// vim's backup dance: notes.md → notes.md~
	if err := d.Rename(rel, rel+"~", 0, testCaller); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	notExist(t, filepath.Join(root, rel))
	fileBytesIs(t, filepath.Join(root, rel+"~"), "# two\n")
	e := oneEntry(t, root, "delete", rel)
	if e.Revision == nil || *e.Revision != 1 {
		t.Errorf("delete line revision = %v, want 1", ptrStr(e.Revision))
	}
	if !strings.Contains(e.Description, rel+"~") {
		t.Errorf("delete line description %q does not name the new name", e.Description)
	}
	if got := tombstones(t, root)[rel]; got != 1 {
		t.Errorf("tombstone = %d, want 1", got)
	}
	// The new file under the name continues the count.
	if res := commit(t, d, rel, "# three\n"); res.Rev != 2 {
		t.Errorf("re-created at %d, want 2", res.Rev)
	}
}

func TestRenameManagedOntoManaged(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "a.yaml", "a: 1\n")
	commit(t, d, "a.yaml", "a: 2\n")
	commit(t, d, "b.yaml", "b: 1\n")
	before := len(logEntries(t, root))
	if err := d.Rename("a.yaml", "b.yaml", 0, testCaller); err != nil {
		t.Fatal(err)
	}
	notExist(t, filepath.Join(root, "a.yaml"))
	fileBytesIs(t, filepath.Join(root, "b.yaml"), "a: 2\n")
	wantRev(t, d, "b.yaml", 1) // b.yaml goes on from its own revision 0
	wantRev(t, d, "a.yaml", 1) // the source's name keeps its revision
	all := logEntries(t, root)
	if len(all) != before+1 {
		t.Fatalf("%d new log lines, want 1", len(all)-before)
	}
	if e := all[len(all)-1]; e.Op != "rename" || e.From != "a.yaml" || e.Path != "b.yaml" {
		t.Errorf("op/from/path = %q/%q/%q, want rename/a.yaml/b.yaml", e.Op, e.From, e.Path)
	}
}

// A version of the old name committed while a rename is under way (after
// the rename read it, before it removes the name) is a file written after
// the rename: it stays, with its revision, and the new name has the bytes
// the rename read.
func TestRenameKeepsAVersionCommittedMeanwhile(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "a.yaml", "a: 1\n")
	commit(t, d, "b.yaml", "b: 1\n")
	afterRenameCommit = func(string) {
		afterRenameCommit = nil
		commit(t, d, "a.yaml", "a: written meanwhile\n")
	}
	t.Cleanup(func() { afterRenameCommit = nil })
	if err := d.Rename("a.yaml", "b.yaml", 0, testCaller); err != nil {
		t.Fatal(err)
	}
	fileBytesIs(t, filepath.Join(root, "b.yaml"), "a: 1\n")
	fileBytesIs(t, filepath.Join(root, "a.yaml"), "a: written meanwhile\n")
	wantRev(t, d, "a.yaml", 1)
}

func TestChangeLogAppendOnly(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "x.yaml", "a: 1\n") // creates the log
	logp := filepath.Join(root, DefaultLogPath)
	orig := mustRead(t, logp)

	check := func(what string, err error) {
		t.Helper()
		if Errno(err) != syscall.EPERM {
			t.Errorf("%s: %v, want EPERM", what, err)
		}
		var r *Refusal
		if errors.As(err, &r) && r.Op != OpAppendOnly {
			t.Errorf("%s: refusal op %q, want %q", what, r.Op, OpAppendOnly)
		}
		now := mustRead(t, logp)
		if !bytes.HasPrefix(now, orig) {
			t.Fatalf("%s rewrote the log:\n%s", what, now)
		}
	}
	const rewrite = "{\"timestamp\":\"2026-01-01T00:00:00.000000+00:00\",\"process_id\":1,\"change_type\":\"x\",\"description\":\"forged\"}\n"
	_, err := d.Commit(Write{Path: DefaultLogPath, Data: []byte(rewrite), Base: -1, Caller: testCaller})
	wantRefusal(t, err, OpAppendOnly, syscall.EPERM)
	check("Commit onto the log", err)

	mustWrite(t, filepath.Join(root, "memory/logs/forged.jsonl"), rewrite, 0o644)
	check("Rename onto the log", d.Rename("memory/logs/forged.jsonl", DefaultLogPath, 0, testCaller))
	fileBytesIs(t, filepath.Join(root, "memory/logs/forged.jsonl"), rewrite)
	mustWrite(t, filepath.Join(root, "sedXYZ"), rewrite, 0o644)
	check("Rename of a scratch file onto the log", d.Rename("sedXYZ", DefaultLogPath, 0, testCaller))
	check("Rename of the log away", d.Rename(DefaultLogPath, "memory/logs/old.jsonl", 0, testCaller))
	notExist(t, filepath.Join(root, "memory/logs/old.jsonl"))
	check("Remove of the log", d.Remove(DefaultLogPath, testCaller))

	n := len(entriesFor(t, root, OpAppendOnly, ""))
	if n != 5 {
		t.Errorf("%d append_only log lines, want 5", n)
	}
	for _, e := range entriesFor(t, root, OpAppendOnly, "") {
		if e.Path != DefaultLogPath || e.Errno != "EPERM" {
			t.Errorf("append_only line path/errno = %q/%q", e.Path, e.Errno)
		}
	}
	for _, e := range logEntries(t, root) {
		if e.Description == "forged" {
			t.Errorf("forged line reached the log: %s", e.Raw)
		}
	}
}

func TestAppendLog(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	logp := filepath.Join(root, DefaultLogPath)

	// paracle appends its own entries: created on the first line.
	const lines = "{\"timestamp\":\"2026-11-19T09:12:03.114512\",\"process_id\":9,\"change_type\":\"progress\",\"description\":\"one\",\"old_value\":null,\"new_value\":null,\"revision\":3}\n" +
		"{\"timestamp\":\"2026-11-19T09:12:04.000000\",\"process_id\":9,\"change_type\":\"progress\",\"description\":\"two\",\"old_value\":\"30%\",\"new_value\":\"35%\",\"revision\":4}\n"
	if err := d.AppendLog([]byte(lines), testCaller); err != nil {
		t.Fatalf("AppendLog: %v", err)
	}
	fileBytesIs(t, logp, lines)
	commit(t, d, "x.yaml", "a: 1\n")
	if err := d.AppendLog([]byte(lines), testCaller); err != nil {
		t.Fatalf("second AppendLog: %v", err)
	}
	all := logEntries(t, root)
	if len(all) != 5 || all[0].Description != "one" || all[1].Description != "two" || all[2].Op != "create" || all[4].Description != "two" {
		var raw []string
		for _, e := range all {
			raw = append(raw, string(e.Raw))
		}
		t.Fatalf("log after appends:\n%s", strings.Join(raw, "\n"))
	}
	good := mustRead(t, logp)

	// A partial line is refused, and nothing of it reaches the log.
	const partial = "{\"timestamp\":\"2026-11-19T09:12:05\",\"process_id\":9,\"change_type\":\"progress\",\"description\":\"three\""
	err := d.AppendLog([]byte(partial), testCaller)
	if err == nil {
		t.Fatal("AppendLog of a partial line succeeded")
	}
	if Errno(err) != syscall.EBADMSG && Errno(err) != syscall.EPERM {
		t.Errorf("AppendLog of a partial line: %v (errno %v), want EBADMSG or EPERM", err, Errno(err))
	}
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("want a *Refusal, got %T", err)
	}
	now := mustRead(t, logp)
	if !bytes.HasPrefix(now, good) || !bytes.HasSuffix(now, []byte("\n")) {
		t.Errorf("log after a refused partial line:\n%s", now)
	}
	if bytes.Contains(now[len(good):], []byte(`"description":"three"`)) {
		t.Errorf("the partial line reached the log: %s", now[len(good):])
	}
	refused := logEntries(t, root)[5]
	if refused.Op != r.Op || refused.Path != DefaultLogPath || refused.Kept != r.Kept {
		t.Errorf("refusal line op/path/kept = %q/%q/%q, want %q/%q/%q", refused.Op, refused.Path, refused.Kept, r.Op, DefaultLogPath, r.Kept)
	}
	wantKept(t, root, r, refused, partial)

	// A complete line that is not JSON is refused too.
	before := mustRead(t, logp)
	if err := d.AppendLog([]byte("not json\n"), testCaller); err == nil {
		t.Error("AppendLog of a non-JSON line succeeded")
	}
	if now := mustRead(t, logp); bytes.Contains(now[len(before):], []byte("not json\n")) {
		t.Error("non-JSON line reached the log")
	}
}

func TestMetaDirReadOnly(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	_, err := d.Commit(Write{Path: MetaDir + "/tombstones.json", Data: []byte("{}\n"), Base: -1, Caller: testCaller})
	wantRefusal(t, err, OpReadOnly, syscall.EPERM)
	if err := d.Remove(MetaDir+"/.gitignore", testCaller); Errno(err) != syscall.EPERM {
		t.Errorf("Remove in %s: %v, want EPERM", MetaDir, err)
	}
	mustWrite(t, filepath.Join(root, "sedQQ"), "{}\n", 0o644)
	if err := d.Rename("sedQQ", MetaDir+"/tombstones.json", 0, testCaller); Errno(err) != syscall.EPERM {
		t.Errorf("Rename into %s: %v, want EPERM", MetaDir, err)
	}
	notExist(t, filepath.Join(bpath(root, MetaDir), "tombstones.json"))
	fileBytesIs(t, filepath.Join(bpath(root, MetaDir), ".gitignore"), "# paracfs metadata: refused writes, history, daemon log\n*\n")
}

// TestRenameParacleSaveState is paracle's save_state through the mount: it
// takes current_state.yaml.lock, writes current_state.yaml.tmp with the
// revision it bumped itself, and os.replace()s it onto the managed name
// inside its own critical section.
func TestRenameParacleSaveState(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{LockTimeout: 200 * time.Millisecond})
	const rel = "memory/context/current_state.yaml"
	p := filepath.Join(root, rel)
	mustWrite(t, p, stateYAML, 0o644) // revision 11, from its field
	lockBacking(t, p+".lock")
	c := testCaller
	c.Command = "python3"
	c.HoldsLock = func(lockRel string) bool { return lockRel == rel+".lock" }

	saved := strings.Replace(stateYAML, "revision: 11", "revision: 12", 1)
	saved = strings.Replace(saved, "progress: 40%", "progress: 45%", 1)
	mustWrite(t, p+".tmp", saved, 0o644)
	if err := d.Rename(rel+".tmp", rel, 0, c); err != nil {
		t.Fatalf("Rename: %v", err)
	}
	fileBytesIs(t, p, saved)
	notExist(t, p+".tmp")
	wantRev(t, d, rel, 12)
	e := oneEntry(t, root, "commit", rel)
	if e.From != rel+".tmp" || *e.Revision != 12 || *e.OldRevision != 11 || e.Command != "python3" {
		t.Errorf("from/revision/old/command = %q/%d/%d/%q", e.From, *e.Revision, *e.OldRevision, e.Command)
	}

	// A second save_state from a stale copy (revision 11 → 12 again) is a
	// conflict: the field says 12 while the file is at 12, so it is
	// stamped; one that still says 11 bumped to 12 from an older read is
	// caught by the field being behind.
	stale := strings.Replace(stateYAML, "revision: 11", "revision: 10", 1)
	mustWrite(t, p+".tmp", stale, 0o644)
	err := d.Rename(rel+".tmp", rel, 0, c)
	wantRefusal(t, err, OpConflict, syscall.EBUSY)
	fileBytesIs(t, p, saved)
	fileBytesIs(t, p+".tmp", stale)
}

func TestRenameFlags(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "a.yaml", "a: 1\n")
	mustWrite(t, filepath.Join(root, "sedAA"), "a: 2\n", 0o644)
	if err := d.Rename("sedAA", "a.yaml", unix.RENAME_NOREPLACE, testCaller); !errors.Is(err, unix.EEXIST) {
		t.Errorf("RENAME_NOREPLACE onto an existing managed file: %v, want EEXIST", err)
	}
	if err := d.Rename("sedAA", "a.yaml", unix.RENAME_EXCHANGE, testCaller); !errors.Is(err, unix.EINVAL) {
		t.Errorf("RENAME_EXCHANGE with a managed file: %v, want EINVAL", err)
	}
	fileBytesIs(t, filepath.Join(root, "a.yaml"), "a: 1\n")
	fileBytesIs(t, filepath.Join(root, "sedAA"), "a: 2\n")
	wantRev(t, d, "a.yaml", 0)
	if n := len(logEntries(t, root)); n != 1 {
		t.Errorf("%d log lines, want 1", n)
	}
	// Scratch to scratch passes straight through, unlogged.
	if err := d.Rename("sedAA", "sedBB", 0, testCaller); err != nil {
		t.Fatal(err)
	}
	fileBytesIs(t, filepath.Join(root, "sedBB"), "a: 2\n")
	if n := len(logEntries(t, root)); n != 1 {
		t.Errorf("%d log lines after a scratch rename, want 1", n)
	}
}

// RenameAway leaves the managed name in place and gives the scratch name a
// file of its own: writing it changes nothing under the managed name, and
// only an unchanged copy put back undoes the rename without a commit.
func TestRenameAwayCopies(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	const rel, bak = "x.json", "x.json.bak"
	commit(t, d, rel, `{"a": 1}`)
	ino, err := d.RenameAway(rel, bak, testCaller)
	if err != nil {
		t.Fatal(err)
	}
	var kept, copied syscall.Stat_t
	if err := syscall.Lstat(filepath.Join(root, rel), &kept); err != nil || kept.Ino != ino {
		t.Fatalf("the managed name is not kept: %v (inode %d, want %d)", err, kept.Ino, ino)
	}
	if err := syscall.Lstat(filepath.Join(root, bak), &copied); err != nil || copied.Ino == kept.Ino {
		t.Fatalf("the scratch name shares the managed file's inode (%v)", err)
	}
	fileBytesIs(t, filepath.Join(root, bak), `{"a": 1}`)
	if _, err := unix.Lgetxattr(filepath.Join(root, bak), revXattr, make([]byte, 256)); err != unix.ENODATA {
		t.Errorf("the scratch copy carries the revision stamp (getxattr: %v, want ENODATA)", err)
	}
	if ok, err := d.UndoRenameAway(bak, rel, ino); !ok || err != nil {
		t.Fatalf("putting back the unchanged copy: %v %v, want an undo", ok, err)
	}
	notExist(t, filepath.Join(root, bak))

	if ino, err = d.RenameAway(rel, bak, testCaller); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(filepath.Join(root, bak), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("garbage")
	f.Close()
	fileBytesIs(t, filepath.Join(root, rel), `{"a": 1}`)
	wantRev(t, d, rel, 0)
	if ok, _ := d.UndoRenameAway(bak, rel, ino); ok {
		t.Errorf("an edited copy put back was taken as an undo")
	}
	fileBytesIs(t, filepath.Join(root, bak), `{"a": 1}garbage`)
}

// A directory rename carries the revisions of the managed files inside
// to their new names, leaves the old names theirs, and logs each move.
func TestRenameDirCarriesRevisions(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	if err := os.MkdirAll(filepath.Join(root, "a/sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	commit(t, d, "a/x.yaml", "x: 1\n")
	commit(t, d, "a/x.yaml", "x: 2\n")
	commit(t, d, "a/sub/y.json", `{"y": 1}`)
	mustWrite(t, filepath.Join(root, "a/sub/z.md"), "# never committed\n", 0o644)
	mustWrite(t, filepath.Join(root, "a/notes.txt"), "scratch\n", 0o644)
	// Written by hand under a name whose tombstone holds revision 1.
	commit(t, d, "a/w.md", "# 0\n")
	commit(t, d, "a/w.md", "# 1\n")
	if err := d.Remove("a/w.md", testCaller); err != nil {
		t.Fatal(err)
	}
	// ... while DIR was not mounted: its revision is the tombstone's,
	// remembered for the run only.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(root, "a/w.md"), "# by hand\n", 0o644)
	d = openDir(t, root, Config{})
	wrev := int64(1)
	wantRev(t, d, "a/w.md", wrev)
	ctime := func(rel string) unix.Timespec {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(root, rel), &st); err != nil {
			t.Fatal(err)
		}
		return st.Ctim
	}
	zc, wc := ctime("a/sub/z.md"), ctime("a/w.md")
	before := len(logEntries(t, root))
	if err := d.Rename("a", "b", 0, testCaller); err != nil {
		t.Fatal(err)
	}
	// Moving a directory leaves the files inside untouched.
	if ctime("b/sub/z.md") != zc || ctime("b/w.md") != wc {
		t.Errorf("a directory rename moved the ctime of files paracfs never committed")
	}
	wantRev(t, d, "b/w.md", wrev)
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d = openDir(t, root, Config{})
	wantRev(t, d, "b/w.md", wrev) // after a restart too, though nothing is stamped on it
	wantRev(t, d, "b/x.yaml", 1)
	wantRev(t, d, "b/sub/y.json", 0)
	wantRev(t, d, "b/sub/z.md", 0)
	wantRev(t, d, "a/x.yaml", 1) // the old names keep theirs
	wantRev(t, d, "a/sub/y.json", 0)
	if res := commit(t, d, "b/x.yaml", "x: 3\n"); res.Rev != 2 {
		t.Errorf("the moved file's next commit is revision %d, want 2", res.Rev)
	}
	var moves []string
	for _, e := range logEntries(t, root)[before:] {
		if e.Op == "move" {
			moves = append(moves, e.From+" → "+e.Path)
		}
	}
	want := []string{"a/sub/y.json → b/sub/y.json", "a/sub/z.md → b/sub/z.md", "a/w.md → b/w.md", "a/x.yaml → b/x.yaml"}
	if strings.Join(moves, ", ") != strings.Join(want, ", ") {
		t.Errorf("move lines %v, want %v", moves, want)
	}
}

// A removal keeps the version it removes when the history lacks it (the
// file written before the mount, or changed behind its back), so that it
// can be restored: on a plain directory rm loses it, but paracfs's
// history promises every version a name held.
func TestRemoveKeepsUnrecordedVersion(t *testing.T) {
	root := newRoot(t)
	mustWrite(t, filepath.Join(root, "before.md"), "# written before the mount\n", 0o644)
	d := openDir(t, root, Config{})
	const ext = "state.yaml"
	commit(t, d, ext, "step: 1\n")
	// Behind the mount's back, with a different size and mtime.
	mustWrite(t, filepath.Join(root, ext), "step: 2 # by hand\n", 0o644)
	future := time.Now().Add(time.Hour)
	os.Chtimes(filepath.Join(root, ext), future, future)
	for _, c := range []struct{ rel, want string }{
		{"before.md", "# written before the mount\n"},
		{ext, "step: 2 # by hand\n"},
	} {
		if err := d.Remove(c.rel, testCaller); err != nil {
			t.Fatalf("Remove %s: %v", c.rel, err)
		}
		notExist(t, filepath.Join(root, c.rel))
		vs, err := d.Versions(c.rel)
		if err != nil || len(vs) == 0 {
			t.Fatalf("versions of removed %s: %v %v", c.rel, vs, err)
		}
		last := vs[len(vs)-1]
		got, _, err := d.ReadVersion(c.rel, last.Rev)
		if err != nil || string(got) != c.want {
			t.Errorf("newest kept version of removed %s (rev %d) = %q, %v; want %q", c.rel, last.Rev, got, err, c.want)
		}
		del := oneEntry(t, root, "delete", c.rel)
		if *del.Revision != last.Rev {
			t.Errorf("%s deleted at revision %d, newest kept version is %d", c.rel, *del.Revision, last.Rev)
		}
	}
}
