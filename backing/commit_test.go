package backing

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/revision"
)

// stateYAML is shaped like paracle's current_state.yaml: comments, quoted
// and unquoted scalars, a revision field that is not the first key.
const stateYAML = `# Current project state. Written by CLI commands, the API server, git hooks and people.
version: "1.17"
snapshot_date: "2026-11-20"
revision: 11   # bumped by every save
project:
  name: orbit-notes
  phase: phase_3   # current
current_phase:
  id: phase_3
  progress: 40%   # "NN%" string, as the CLI writes it
  completed:
    - sync_engine
blockers: []
`

func TestCommitCreate(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	const rel = "memory/context/notes.yaml"
	const data = "title: hello\nitems: [1, 2]\n"
	c := Caller{Pid: 777, Uid: 1234, Gid: 5678, Command: "vim"}
	// The parent directory does not exist (the kernel never asks for that
	// through the mount): ENOENT, nothing created.
	if _, err := d.Commit(Write{Path: rel, Data: []byte(data), Base: -1, Caller: c, Mode: 0o640}); !errors.Is(err, unix.ENOENT) {
		t.Fatalf("Commit into a missing directory: %v, want ENOENT", err)
	}
	notExist(t, filepath.Join(root, "memory/context"))
	if err := os.MkdirAll(filepath.Join(root, "memory/context"), 0o755); err != nil {
		t.Fatal(err)
	}
	before := len(logEntries(t, root))

	res, err := d.Commit(Write{Path: rel, Data: []byte(data), Base: -1, Caller: c, Mode: 0o640})
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	if res.Rev != 0 || string(res.Data) != data {
		t.Errorf("Result = rev %d data %q, want rev 0 data %q", res.Rev, res.Data, data)
	}
	p := filepath.Join(root, rel)
	fileBytesIs(t, p, data)
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || st.Mode&0o7777 != 0o640 {
		t.Errorf("mode = %o, want regular 0640", st.Mode)
	}
	if st.Uid != 1234 || st.Gid != 5678 {
		t.Errorf("owner = %d:%d, want the caller's 1234:5678", st.Uid, st.Gid)
	}
	wantRev(t, d, rel, 0) // a new name without a revision field: 0
	wantStamp(t, p, 0, data)
	// No temp file is left beside it.
	ents, _ := os.ReadDir(filepath.Dir(p))
	for _, e := range ents {
		if IsTemp(e.Name()) {
			t.Errorf("temp file left: %s", e.Name())
		}
	}

	all := logEntries(t, root)
	if len(all) != before+1 {
		t.Fatalf("log has %d new lines, want 1", len(all)-before)
	}
	e := all[len(all)-1]
	if e.Op != "create" || e.ChangeType != "create" || e.Path != rel {
		t.Errorf("op/change_type/path = %q/%q/%q, want create/create/%s", e.Op, e.ChangeType, e.Path, rel)
	}
	if e.Revision == nil || *e.Revision != 0 || e.OldRevision == nil || *e.OldRevision != 0 {
		t.Errorf("revision/old_revision = %v/%v, want 0/0", ptrStr(e.Revision), ptrStr(e.OldRevision))
	}
	// A 0640 file: its sha256 stays out of the world-readable log.
	if e.Size == nil || *e.Size != int64(len(data)) || e.SHA256 != "" {
		t.Errorf("size/sha256 = %v/%s, want %d and none", ptrStr(e.Size), e.SHA256, len(data))
	}
	if e.ProcessID != 777 || e.Command != "vim" || e.UID == nil || *e.UID != 1234 {
		t.Errorf("process_id/command/uid = %d/%q/%v, want 777/vim/1234", e.ProcessID, e.Command, ptrStr(e.UID))
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000000-07:00", e.Timestamp); err != nil {
		t.Errorf("timestamp %q is not paracle's ISO 8601 with offset: %v", e.Timestamp, err)
	}
	if e.Description == "" {
		t.Error("log line has no description")
	}

	// An update is a "commit" from 0 to 1.
	const data2 = "title: hello again\nitems: [1, 2]\n"
	commit(t, d, rel, data2)
	e2 := oneEntry(t, root, "commit", rel)
	if *e2.Revision != 1 || *e2.OldRevision != 0 {
		t.Errorf("update revision/old_revision = %d/%d, want 1/0", *e2.Revision, *e2.OldRevision)
	}
	// The file (0640) is not readable by others, who may read the log: the
	// line names the changed key, not its values.
	if k, ok := e2.Keys["title"]; !ok || !k.Hidden || k.Old != nil || k.New != nil || e2.OldValue != nil || e2.NewValue != nil {
		t.Errorf("keys = %v, old_value/new_value = %v/%v, want title hidden and no values (a 0640 file)", e2.Keys, e2.OldValue, e2.NewValue)
	}
	// Readable by others: the values are logged.
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	commit(t, d, rel, "title: hello once more\nitems: [1, 2]\n")
	es := entriesFor(t, root, "commit", rel)
	e3 := es[len(es)-1]
	if k, ok := e3.Keys["title"]; !ok || k.Hidden || k.Old != "hello again" || k.New != "hello once more" {
		t.Errorf("keys = %v, want title: hello again → hello once more", e3.Keys)
	}
}

func TestCommitKeepsModeAndOwner(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "x.yaml", "a: 1\n")
	p := filepath.Join(root, "x.yaml")
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 4321, 8765); err != nil {
		t.Fatal(err)
	}
	// Committed by a root caller asking for another mode: the file keeps its own.
	if _, err := d.Commit(Write{Path: "x.yaml", Data: []byte("a: 2\n"), Base: -1, Caller: testCaller, Mode: 0o666}); err != nil {
		t.Fatal(err)
	}
	fileBytesIs(t, p, "a: 2\n")
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o600 {
		t.Errorf("mode = %o, want 0600 kept", st.Mode&0o7777)
	}
	if st.Uid != 4321 || st.Gid != 8765 {
		t.Errorf("owner = %d:%d, want 4321:8765 kept", st.Uid, st.Gid)
	}
	wantRev(t, d, "x.yaml", 1)
}

func TestCommitRevisionFieldStamped(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	const rel = "current_state.yaml"
	p := filepath.Join(root, rel)
	mustWrite(t, p, stateYAML, 0o644) // written behind paracfs: its revision is its field
	wantRev(t, d, rel, 11)

	// The writer changed progress and kept revision: 11.
	in := strings.Replace(stateYAML, "progress: 40%", "progress: 45%", 1)
	res, err := d.Commit(Write{Path: rel, Data: []byte(in), Base: -1, Caller: testCaller})
	if err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(in, "revision: 11   #", "revision: 12   #", 1)
	if want == in {
		t.Fatal("test bug: nothing replaced")
	}
	if res.Rev != 12 {
		t.Errorf("Rev = %d, want 12", res.Rev)
	}
	equalBytes(t, "Result.Data", res.Data, want)
	fileBytesIs(t, p, want)
	wantRev(t, d, rel, 12)
	e := oneEntry(t, root, "commit", rel)
	if *e.Revision != 12 || *e.OldRevision != 11 || e.SHA256 != sha(want) || *e.Size != int64(len(want)) {
		t.Errorf("log line revision/old/sha/size = %d/%d/%s/%d", *e.Revision, *e.OldRevision, e.SHA256, *e.Size)
	}
	if _, ok := e.Keys["current_phase"]; !ok {
		t.Errorf("log keys %v lack current_phase", e.Keys)
	}
}

func TestCommitRevisionFieldBumped(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	const rel = "current_state.yaml"
	p := filepath.Join(root, rel)
	mustWrite(t, p, stateYAML, 0o644)

	// paracle's save_state bumps the field itself: accepted as written.
	in := strings.Replace(stateYAML, "revision: 11", "revision: 12", 1)
	res, err := d.Commit(Write{Path: rel, Data: []byte(in), Base: -1, Caller: testCaller})
	if err != nil {
		t.Fatal(err)
	}
	if res.Rev != 12 {
		t.Errorf("Rev = %d, want 12", res.Rev)
	}
	fileBytesIs(t, p, in)
	wantRev(t, d, rel, 12)
	e := oneEntry(t, root, "commit", rel)
	if *e.Revision != 12 || *e.OldRevision != 11 {
		t.Errorf("log revision/old = %d/%d, want 12/11", *e.Revision, *e.OldRevision)
	}
}

func TestCommitRevisionFieldStale(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	const rel = "current_state.yaml"
	p := filepath.Join(root, rel)
	mustWrite(t, p, stateYAML, 0o644)

	in := strings.Replace(stateYAML, "revision: 11", "revision: 10", 1)
	_, err := d.Commit(Write{Path: rel, Data: []byte(in), Base: -1, Caller: testCaller})
	r := wantRefusal(t, err, OpConflict, syscall.EBUSY)
	fileBytesIs(t, p, stateYAML)
	wantRev(t, d, rel, 11)
	e := oneEntry(t, root, OpConflict, rel)
	wantRefusalLine(t, e, OpConflict, rel, syscall.EBUSY, in)
	wantKept(t, root, r, e, in)
	if e.Revision == nil || *e.Revision != 11 {
		t.Errorf("conflict line revision = %v, want the current 11", ptrStr(e.Revision))
	}
	if n := len(entriesFor(t, root, "commit", rel)); n != 0 {
		t.Errorf("%d commit lines after a conflict", n)
	}
}

func TestCommitRevisionFieldAhead(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	const rel = "current_state.yaml"
	p := filepath.Join(root, rel)
	mustWrite(t, p, stateYAML, 0o644)

	in := strings.Replace(stateYAML, "revision: 11", "revision: 13", 1)
	_, err := d.Commit(Write{Path: rel, Data: []byte(in), Base: -1, Caller: testCaller})
	r := wantRefusal(t, err, OpInvalid, syscall.EBADMSG)
	fileBytesIs(t, p, stateYAML)
	wantRev(t, d, rel, 11)
	e := oneEntry(t, root, OpInvalid, rel)
	wantRefusalLine(t, e, OpInvalid, rel, syscall.EBADMSG, in)
	wantKept(t, root, r, e, in)
}

func TestCommitBaseConflict(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	const rel = "notes.md"
	p := filepath.Join(root, rel)
	commit(t, d, rel, "# v1\n")
	_, base, err := d.ReadFile(rel)
	if err != nil || base != 0 {
		t.Fatalf("ReadFile = rev %d, %v; want 0", base, err)
	}
	commit(t, d, rel, "# v2\n") // someone else moved it on

	// Derived from revision 0, no revision field in the content.
	_, err = d.Commit(Write{Path: rel, Data: []byte("# v1 edited\n"), Base: base, Caller: testCaller})
	r := wantRefusal(t, err, OpConflict, syscall.EBUSY)
	fileBytesIs(t, p, "# v2\n")
	wantRev(t, d, rel, 1)
	e := oneEntry(t, root, OpConflict, rel)
	wantRefusalLine(t, e, OpConflict, rel, syscall.EBUSY, "# v1 edited\n")
	wantKept(t, root, r, e, "# v1 edited\n")

	// Derived from the current revision: accepted.
	res, err := d.Commit(Write{Path: rel, Data: []byte("# v2 edited\n"), Base: 1, Caller: testCaller})
	if err != nil || res.Rev != 2 {
		t.Fatalf("Commit with the current base = %d, %v; want 2", res.Rev, err)
	}
}

func TestCommitInvalid(t *testing.T) {
	for _, c := range []struct{ rel, good, bad string }{
		{"policies/policy.yaml", "rules:\n  - a\n", "rules: [a, b\n  - c: :\n"},
		{"config/mcp.json", "{\"servers\": []}\n", "{\"servers\": [}\n"},
		{"logs/events.jsonl", "{\"a\":1}\n{\"b\":2}\n", "{\"a\":1}\n{\"b\":\n"},
		{"logs/partial.jsonl", "{\"a\":1}\n", "{\"a\":1}\n{\"b\":2}"}, // last line not terminated
	} {
		t.Run(filepath.Base(c.rel), func(t *testing.T) {
			root := newRoot(t)
			if err := os.MkdirAll(filepath.Join(root, filepath.Dir(c.rel)), 0o755); err != nil {
				t.Fatal(err)
			}
			d := openDir(t, root, Config{})
			commit(t, d, c.rel, c.good)
			p := filepath.Join(root, c.rel)
			_, err := d.Commit(Write{Path: c.rel, Data: []byte(c.bad), Base: -1, Caller: testCaller})
			r := wantRefusal(t, err, OpInvalid, syscall.EBADMSG)
			fileBytesIs(t, p, c.good)
			wantRev(t, d, c.rel, 0)
			e := oneEntry(t, root, OpInvalid, c.rel)
			wantRefusalLine(t, e, OpInvalid, c.rel, syscall.EBADMSG, c.bad)
			wantKept(t, root, r, e, c.bad)
			if !strings.HasPrefix(r.Kept, MetaDir+"/rejected/"+filepath.Dir(c.rel)+"/"+filepath.Base(c.rel)+".") {
				t.Errorf("kept at %q, want it under the mirrored path", r.Kept)
			}
			if got := len(logEntries(t, root)); got != 2 {
				t.Errorf("log has %d lines, want 2 (create, invalid)", got)
			}
		})
	}
}

func TestCommitTooLarge(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{Limits: revision.Limits{MaxSize: 64}})
	commit(t, d, "x.yaml", "a: 1\n")
	big := "a: \"" + strings.Repeat("x", 100) + "\"\n"
	_, err := d.Commit(Write{Path: "x.yaml", Data: []byte(big), Base: -1, Caller: testCaller})
	r := wantRefusal(t, err, OpTooLarge, syscall.EFBIG)
	fileBytesIs(t, filepath.Join(root, "x.yaml"), "a: 1\n")
	wantRev(t, d, "x.yaml", 0)
	e := oneEntry(t, root, OpTooLarge, "x.yaml")
	wantRefusalLine(t, e, OpTooLarge, "x.yaml", syscall.EFBIG, big)
	wantKept(t, root, r, e, big)
}

// lockBacking takes flock(LOCK_EX) on a backing file by its real path, as
// paracle's library does, and returns the release.
func lockBacking(t *testing.T, p string) func() {
	t.Helper()
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		t.Fatalf("flock %s: %v", p, err)
	}
	var once sync.Once
	release := func() { once.Do(func() { f.Close() }) }
	t.Cleanup(release)
	return release
}

// isLocked reports whether someone holds an exclusive flock on p.
func isLocked(t *testing.T, p string) bool {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
	return err == unix.EWOULDBLOCK
}

func TestCommitLockTimeout(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{LockTimeout: 200 * time.Millisecond})
	const rel = "x.yaml"
	p := filepath.Join(root, rel)
	commit(t, d, rel, "a: 1\n")
	release := lockBacking(t, p+".lock")

	start := time.Now()
	_, err := d.Commit(Write{Path: rel, Data: []byte("a: 2\n"), Base: -1, Caller: testCaller})
	took := time.Since(start)
	r := wantRefusal(t, err, OpLockTimeout, syscall.ETIMEDOUT)
	// A lower bound only: it waited out the timeout. No upper bound: a
	// loaded machine is slow, and a wait that never ended would hang.
	if took < 190*time.Millisecond {
		t.Errorf("refused after %s, before the 200ms lock timeout", took)
	}
	fileBytesIs(t, p, "a: 1\n")
	wantRev(t, d, rel, 0)
	e := oneEntry(t, root, OpLockTimeout, rel)
	wantRefusalLine(t, e, OpLockTimeout, rel, syscall.ETIMEDOUT, "a: 2\n")
	wantKept(t, root, r, e, "a: 2\n")

	// Remove waits for the same lock.
	err = d.Remove(rel, testCaller)
	wantRefusal(t, err, OpLockTimeout, syscall.ETIMEDOUT)
	fileBytesIs(t, p, "a: 1\n")

	// Once released, the commit goes through.
	release()
	res, err := d.Commit(Write{Path: rel, Data: []byte("a: 3\n"), Base: -1, Caller: testCaller})
	if err != nil || res.Rev != 1 {
		t.Fatalf("Commit after release = %d, %v; want rev 1", res.Rev, err)
	}
	if isLocked(t, p+".lock") {
		t.Error("P.lock still locked after the commit returned")
	}
}

func TestCommitInsideCallersLock(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{LockTimeout: 200 * time.Millisecond})
	const rel = "x.yaml"
	p := filepath.Join(root, rel)
	commit(t, d, rel, "a: 1\n")
	lockBacking(t, p+".lock") // the caller's own critical section

	var asked []string
	c := testCaller
	c.HoldsLock = func(lockRel string) bool {
		asked = append(asked, lockRel)
		return lockRel == rel+".lock"
	}
	start := time.Now()
	res, err := d.Commit(Write{Path: rel, Data: []byte("a: 2\n"), Base: -1, Caller: c})
	took := time.Since(start)
	if err != nil {
		t.Fatalf("Commit inside the caller's lock: %v", err)
	}
	// Had it waited for P.lock, held all along, it would have timed out.
	t.Logf("commit inside the caller's lock took %s", took)
	if res.Rev != 1 {
		t.Errorf("Rev = %d, want 1", res.Rev)
	}
	fileBytesIs(t, p, "a: 2\n")
	if len(asked) == 0 || asked[0] != rel+".lock" {
		t.Errorf("HoldsLock asked about %q, want %q", asked, rel+".lock")
	}
	if !isLocked(t, p+".lock") {
		t.Error("the caller's lock was released by the commit")
	}
	oneEntry(t, root, "commit", rel)
	if n := len(entriesFor(t, root, OpLockTimeout, "")); n != 0 {
		t.Errorf("%d lock_timeout lines", n)
	}
}

func TestRevisionSurvivesReopen(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	const rel = "notes.md" // no revision field: only the xattr knows
	p := filepath.Join(root, rel)
	commit(t, d, rel, "# one\n")
	commit(t, d, rel, "# two\n")
	commit(t, d, rel, "# three\n")
	wantRev(t, d, rel, 2)
	wantStamp(t, p, 2, "# three\n")
	if err := d.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := d.Commit(Write{Path: rel, Data: []byte("x"), Base: -1, Caller: testCaller}); !errors.Is(err, unix.ESHUTDOWN) {
		t.Errorf("Commit after Close: %v, want ESHUTDOWN", err)
	}

	d2 := openDir(t, root, Config{})
	wantRev(t, d2, rel, 2)
	data, rev, err := d2.ReadFile(rel)
	if err != nil || rev != 2 || string(data) != "# three\n" {
		t.Errorf("ReadFile = %q rev %d, %v; want \"# three\\n\" rev 2", data, rev, err)
	}
	res := commit(t, d2, rel, "# four\n")
	if res.Rev != 3 {
		t.Errorf("Rev after reopen = %d, want 3", res.Rev)
	}
}

// TestConcurrentIncrements: read-modify-write through Commit with the base
// read by ReadFile, retried on conflict, loses no update.
func TestConcurrentIncrements(t *testing.T) {
	const workers, each = 8, 50
	root := newRoot(t)
	d := openDir(t, root, Config{})
	const rel = "counter.yaml"
	commit(t, d, rel, "counter: 0\n") // revision 1
	start, _ := d.Revision(rel)

	var wg sync.WaitGroup
	errs := make(chan error, workers)
	var conflicts sync.Map
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			c := Caller{Pid: 1000 + w, Command: "worker"}
			for i := 0; i < each; {
				data, rev, err := d.ReadFile(rel)
				if err != nil {
					errs <- err
					return
				}
				var n int
				if _, err := fmt.Sscanf(string(data), "counter: %d\n", &n); err != nil {
					errs <- err
					return
				}
				_, err = d.Commit(Write{Path: rel, Data: []byte(fmt.Sprintf("counter: %d\n", n+1)), Base: rev, Caller: c})
				var r *Refusal
				if errors.As(err, &r) && r.Op == OpConflict {
					v, _ := conflicts.LoadOrStore(w, new(int))
					*v.(*int)++
					continue
				}
				if err != nil {
					errs <- err
					return
				}
				i++
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("worker: %v", err)
	}
	fileBytesIs(t, filepath.Join(root, rel), fmt.Sprintf("counter: %d\n", workers*each))
	wantRev(t, d, rel, start+workers*each)
	if n := len(entriesFor(t, root, "commit", rel)); n != workers*each {
		t.Errorf("%d commit lines, want %d", n, workers*each)
	}
	nc := 0
	conflicts.Range(func(_, v any) bool { nc += *v.(*int); return true })
	if got := len(entriesFor(t, root, OpConflict, rel)); got != nc {
		t.Errorf("%d conflict lines, %d conflicts seen by the workers", got, nc)
	}
	t.Logf("%d commits, %d conflicts retried", workers*each, nc)
}

func TestCommitSymlinkNotFollowed(t *testing.T) {
	root := newRoot(t)
	outside := t.TempDir()
	secret := filepath.Join(outside, "secret.yaml")
	mustWrite(t, secret, "secret: 1\n", 0o644)
	d := openDir(t, root, Config{})

	link := filepath.Join(root, "x.yaml")
	if err := os.Symlink(secret, link); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.ReadFile("x.yaml"); err == nil {
		t.Error("ReadFile of a symlink succeeded, want an error")
	} else if !errors.Is(err, unix.ELOOP) {
		t.Errorf("ReadFile of a symlink: %v, want ELOOP", err)
	}
	if _, err := d.Revision("x.yaml"); !errors.Is(err, unix.ELOOP) {
		t.Errorf("Revision of a symlink: %v, want ELOOP", err)
	}
	res, err := d.Commit(Write{Path: "x.yaml", Data: []byte("a: 1\n"), Base: -1, Caller: testCaller})
	if err != nil {
		t.Fatalf("Commit over a symlink: %v", err)
	}
	if res.Rev != 0 {
		t.Errorf("Rev = %d, want 0 (a new name)", res.Rev)
	}
	fi, err := os.Lstat(link)
	if err != nil || !fi.Mode().IsRegular() {
		t.Errorf("x.yaml after the commit: %v, %v; want a regular file replacing the link", fi, err)
	}
	fileBytesIs(t, link, "a: 1\n")
	fileBytesIs(t, secret, "secret: 1\n")

	// A parent component that is a symlink out of DIR is never followed.
	if err := os.Symlink(outside, filepath.Join(root, "sub")); err != nil {
		t.Fatal(err)
	}
	_, err = d.Commit(Write{Path: "sub/y.yaml", Data: []byte("b: 1\n"), Base: -1, Caller: testCaller})
	if !errors.Is(err, unix.ELOOP) || Errno(err) != syscall.ELOOP {
		t.Errorf("Commit through a symlinked parent: %v (errno %v), want ELOOP", err, Errno(err))
	}
	notExist(t, filepath.Join(outside, "y.yaml"))

	// A lock file that is a symlink out of DIR is not followed either: the
	// commit fails rather than create or lock a file outside.
	if err := os.Symlink(filepath.Join(outside, "evil.lock"), filepath.Join(root, "z.yaml.lock")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Commit(Write{Path: "z.yaml", Data: []byte("c: 1\n"), Base: -1, Caller: testCaller}); err == nil {
		t.Error("Commit with a symlinked P.lock succeeded")
	} else if !errors.Is(err, unix.ELOOP) {
		t.Errorf("Commit with a symlinked P.lock: %v, want ELOOP", err)
	}
	notExist(t, filepath.Join(outside, "evil.lock"))
	notExist(t, filepath.Join(root, "z.yaml"))
	_, err = d.Commit(Write{Path: "sub/secret.yaml", Data: []byte("secret: 2\n"), Base: -1, Caller: testCaller})
	if !errors.Is(err, unix.ELOOP) {
		t.Errorf("Commit onto an outside file through a symlinked parent: %v, want ELOOP", err)
	}
	fileBytesIs(t, secret, "secret: 1\n")
	if _, _, err := d.ReadFile("sub/secret.yaml"); !errors.Is(err, unix.ELOOP) {
		t.Errorf("ReadFile through a symlinked parent: %v, want ELOOP", err)
	}
	if err := d.Remove("sub/secret.yaml", testCaller); !errors.Is(err, unix.ELOOP) {
		t.Errorf("Remove through a symlinked parent: %v, want ELOOP", err)
	}
	fileBytesIs(t, secret, "secret: 1\n")
	if n := len(entriesFor(t, root, "", "sub/y.yaml")) + len(entriesFor(t, root, "", "sub/secret.yaml")); n != 0 {
		t.Errorf("%d log lines for paths through the symlink", n)
	}
}

// TestCommitLimitsKeepSetFields: a Limits field left zero takes its
// default; the fields that are set are kept (revision.Limits: "A zero or
// negative field means its default").
func TestCommitLimitsKeepSetFields(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{Limits: revision.Limits{MaxDepth: 3}})
	if got := d.Config().Limits.MaxDepth; got != 3 {
		t.Errorf("Config().Limits.MaxDepth = %d, want the configured 3", got)
	}
	const deep = "a:\n  b:\n    c:\n      d:\n        e: 1\n"
	if _, err := revision.Parse(revision.YAML, []byte(deep), revision.Limits{MaxDepth: 3}); err == nil {
		t.Fatal("test bug: revision.Parse accepts the document under MaxDepth 3")
	}
	_, err := d.Commit(Write{Path: "deep.yaml", Data: []byte(deep), Base: -1, Caller: testCaller})
	if err == nil {
		t.Fatal("a 5-deep document was committed under MaxDepth 3")
	}
	wantRefusal(t, err, OpInvalid, syscall.EBADMSG)
	notExist(t, filepath.Join(root, "deep.yaml"))
}

// TestConflictLineNamesBase: a conflict's log line carries, as
// old_revision, the base the write was derived from (changelog.Entry:
// "OldRevision is the revision before the change (or, for a conflict, the
// base the write was derived from)"), and as revision the current one.
func TestConflictLineNamesBase(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "n.md", "# 1\n")
	commit(t, d, "n.md", "# 2\n")
	commit(t, d, "n.md", "# 3\n")
	_, err := d.Commit(Write{Path: "n.md", Data: []byte("# from 1\n"), Base: 1, Caller: testCaller})
	wantRefusal(t, err, OpConflict, syscall.EBUSY)
	e := oneEntry(t, root, OpConflict, "n.md")
	if e.Revision == nil || *e.Revision != 2 {
		t.Errorf("conflict line revision = %v, want the current 2", ptrStr(e.Revision))
	}
	if e.OldRevision == nil || *e.OldRevision != 1 {
		t.Errorf("conflict line old_revision = %v, want the base 1", ptrStr(e.OldRevision))
	}

	// Base from the content's revision field.
	mustWrite(t, filepath.Join(root, "s.yaml"), stateYAML, 0o644)
	stale := strings.Replace(stateYAML, "revision: 11", "revision: 9", 1)
	_, err = d.Commit(Write{Path: "s.yaml", Data: []byte(stale), Base: -1, Caller: testCaller})
	wantRefusal(t, err, OpConflict, syscall.EBUSY)
	e = oneEntry(t, root, OpConflict, "s.yaml")
	if e.OldRevision == nil || *e.OldRevision != 9 {
		t.Errorf("conflict line old_revision = %v, want the content's 9", ptrStr(e.OldRevision))
	}
}

// Committing the very bytes already committed, from the current revision,
// changes nothing: no new revision, no log line. From a stale revision it
// is still a conflict: equal bytes can hide a lost update.
func TestCommitSameBytesIsNoChange(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "a.yaml", "revision: 0\na: 1\n")
	commit(t, d, "a.yaml", "revision: 1\na: 2\n")
	n := len(logEntries(t, root))
	res, err := d.Commit(Write{Path: "a.yaml", Data: []byte("revision: 1\na: 2\n"), Base: 1, Caller: testCaller})
	if err != nil || res.Rev != 1 {
		t.Fatalf("rewriting the current bytes: rev %d, %v; want 1, nil", res.Rev, err)
	}
	wantRev(t, d, "a.yaml", 1)
	if got := len(logEntries(t, root)); got != n {
		t.Errorf("%d new log lines for an unchanged file, want 0", got-n)
	}
	_, err = d.Commit(Write{Path: "a.yaml", Data: []byte("revision: 1\na: 2\n"), Base: 0, Caller: testCaller})
	wantRefusal(t, err, OpConflict, syscall.EBUSY)
}

// carriedXattrsFd lists what a commit carries to the next version: the
// user's xattrs, not paracfs's own; many names take a second listing.
func TestCarriedXattrsFd(t *testing.T) {
	p := filepath.Join(t.TempDir(), "a.yaml")
	if err := os.WriteFile(p, []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(p, revXattr, []byte("3"), 0); err != nil {
		t.Skipf("no user xattrs here: %v", err)
	}
	want := map[string]string{"user.note": "kept"}
	for i := 0; i < 40; i++ { // past the first listing's buffer
		want[fmt.Sprintf("user.n%02d", i)] = strings.Repeat("v", i)
	}
	for k, v := range want {
		if err := unix.Setxattr(p, k, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	fd, err := unix.Open(p, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	got, ok := carriedXattrsFd(fd)
	if !ok {
		t.Fatal("not listed")
	}
	if len(got) != len(want) {
		t.Errorf("%d kept, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if string(got[k]) != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, ok := got[revXattr]; ok {
		t.Errorf("paracfs's own %s was kept", revXattr)
	}
}
