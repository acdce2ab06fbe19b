package backing

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"
)

const paracleLine = "{\"timestamp\":\"2026-11-19T09:12:03.114512\",\"process_id\":9,\"change_type\":\"progress\",\"description\":\"Updated phase progress from 30% to 35%\",\"old_value\":\"30%\",\"new_value\":\"35%\",\"revision\":9}\n"

const tornLine = "{\"timestamp\":\"2026-11-19T09:13:00.000000+00:00\",\"process_id\":9,\"chan"

// keptTorn returns the files kept for a torn log tail.
func keptTorn(t *testing.T, root string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(bpath(root, MetaDir), "rejected", "memory", "logs", filepath.Base(DefaultLogPath)+".*.torn"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestOpenRecovers(t *testing.T) {
	root := newRoot(t)
	// A first life: two committed files.
	d := openDir(t, root, Config{})
	if err := os.MkdirAll(filepath.Join(root, "memory/context"), 0o755); err != nil {
		t.Fatal(err)
	}
	commit(t, d, "x.yaml", "a: 1\n")
	commit(t, d, "x.yaml", "a: 2\n")
	commit(t, d, "memory/context/current_state.yaml", "revision: 0\nphase: 1\n")
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	// Killed in the middle of commits: temp files beside their targets in
	// several directories, and a torn last log line.
	temps := []string{
		".paracfs-tmp.x.yaml.abc123abc123",
		"memory/context/.paracfs-tmp.current_state.yaml.0123456789ab",
		"roadmap/.paracfs-tmp.roadmap.yaml.0f0f0f0f0f0f",
		MetaDir + "/.paracfs-tmp.tombstones.json.abcdefabcdef",
	}
	for _, p := range temps {
		mustWrite(t, bpath(root, p), "a: 3\n", 0o600)
	}
	// Look-alikes that are not the daemon's temp files stay.
	mustWrite(t, filepath.Join(root, "x.paracfs-tmp.yaml"), "keep\n", 0o644)
	// A user's files that only start with the prefix are the user's.
	userFiles := []string{".paracfs-tmp.notes", ".paracfs-tmp.x.yaml.abc", ".paracfs-tmp.x.yaml.ABC123ABC123", ".paracfs-tmp..abc123abc123x"}
	for _, p := range userFiles {
		mustWrite(t, filepath.Join(root, p), "mine\n", 0o644)
	}
	if err := os.Mkdir(filepath.Join(root, ".paracfs-tmp.dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	logp := filepath.Join(root, DefaultLogPath)
	f, err := os.OpenFile(logp, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(paracleLine + tornLine); err != nil {
		t.Fatal(err)
	}
	f.Close()
	good := mustRead(t, logp)
	good = good[:len(good)-len(tornLine)]

	var d2 *Dir
	if !withTimeout(t, time.Minute, "Open", func() { d2, err = Open(root, Config{}) }) {
		t.FailNow()
	}
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { closeOnce(d2) })

	for _, p := range temps {
		notExist(t, bpath(root, p))
	}
	fileBytesIs(t, filepath.Join(root, "x.paracfs-tmp.yaml"), "keep\n")
	for _, p := range userFiles {
		fileBytesIs(t, filepath.Join(root, p), "mine\n")
	}
	if fi, err := os.Stat(filepath.Join(root, ".paracfs-tmp.dir")); err != nil || !fi.IsDir() {
		t.Errorf("a directory with a temp-like name was removed: %v", err)
	}
	// The committed versions are untouched, revisions too.
	fileBytesIs(t, filepath.Join(root, "x.yaml"), "a: 2\n")
	wantRev(t, d2, "x.yaml", 1)
	fileBytesIs(t, filepath.Join(root, "memory/context/current_state.yaml"), "revision: 0\nphase: 1\n")
	wantRev(t, d2, "memory/context/current_state.yaml", 0)

	// The torn bytes are cut from the log and kept.
	now := mustRead(t, logp)
	if !bytes.HasPrefix(now, good) {
		t.Fatalf("log lost its good lines:\n%s", now)
	}
	if bytes.Contains(now, []byte(tornLine)) || !bytes.HasSuffix(now, []byte("\n")) {
		t.Errorf("torn line still in the log:\n%s", now)
	}
	kept := keptTorn(t, root)
	if len(kept) != 1 {
		t.Fatalf("torn bytes kept in %v, want one file", kept)
	}
	fileBytesIs(t, kept[0], tornLine)
	keptRel, _ := filepath.Rel(MetaPath(root), kept[0])
	keptRel = MetaDir + "/" + keptRel

	// recover lines say what was done.
	rec := entriesFor(t, root, "recover", "")
	var sawTorn, sawTemps bool
	for _, e := range rec {
		if strings.Contains(e.Description, "torn") && strings.Contains(e.Description, keptRel) {
			sawTorn = true
		}
		if strings.Contains(e.Description, "removed 4 temp file") {
			sawTemps = true
		}
		if e.Command != "paracfs" || e.ProcessID != os.Getpid() {
			t.Errorf("recover line command/pid = %q/%d, want paracfs/%d", e.Command, e.ProcessID, os.Getpid())
		}
	}
	if !sawTorn || !sawTemps {
		var raw []string
		for _, e := range rec {
			raw = append(raw, string(e.Raw))
		}
		t.Errorf("recover lines (torn %v, temps %v):\n%s", sawTorn, sawTemps, strings.Join(raw, "\n"))
	}

	// And it serves again: the next commit continues the count.
	if res := commit(t, d2, "x.yaml", "a: 4\n"); res.Rev != 2 {
		t.Errorf("Rev after recovery = %d, want 2", res.Rev)
	}
	nparacle := 0
	for _, e := range logEntries(t, root) {
		if e.ChangeType == "progress" && e.Op == "" {
			nparacle++
		}
	}
	if nparacle != 1 {
		t.Errorf("paracle's own lines: %d, want 1", nparacle)
	}
}

// TestOpenCleanAddsNothing: opening a clean directory writes no log line
// and creates no log.
func TestOpenCleanAddsNothing(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	notExist(t, filepath.Join(root, DefaultLogPath))
	notExist(t, filepath.Join(root, "memory"))
	if fi, err := os.Stat(bpath(root, MetaDir)); err != nil || !fi.IsDir() {
		t.Errorf("%s not created: %v", MetaDir, err)
	}
}

// TestTornLogRepairedAtFirstLine: the log did not exist at Open, then a
// writer behind the mount left it with a torn last line; the daemon's first
// log line must repair it (keep the torn bytes, log a recover line) and
// the commit must return.
func TestTornLogRepairedAtFirstLine(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	mustWrite(t, filepath.Join(root, DefaultLogPath), paracleLine+tornLine, 0o644)

	var err error
	if !withTimeout(t, time.Minute, "Commit (first log line over a torn log)", func() {
		_, err = d.Commit(Write{Path: "x.yaml", Data: []byte("a: 1\n"), Base: -1, Caller: testCaller})
	}) {
		// The commit is stuck holding d.inflight: Close would hang too.
		d.closeMu.Lock()
		d.closed = true // abandon it: openDir's cleanup must not wait forever
		d.closeMu.Unlock()
		t.FailNow()
	}
	if err != nil {
		t.Fatalf("Commit: %v", err)
	}
	now := mustRead(t, filepath.Join(root, DefaultLogPath))
	if !bytes.HasPrefix(now, []byte(paracleLine)) || bytes.Contains(now, []byte(tornLine)) {
		t.Errorf("log:\n%s", now)
	}
	if kept := keptTorn(t, root); len(kept) != 1 {
		t.Errorf("torn bytes kept in %v, want one file", kept)
	}
	oneEntry(t, root, "create", "x.yaml")
}

// TestOpenCorruptTombstones: a tombstones file that is not JSON is
// reported (recover line) and the names start anew; Open does not hang
// even when the log also has a torn tail, and the log is opened once.
func TestOpenCorruptTombstones(t *testing.T) {
	t.Run("clean log", func(t *testing.T) {
		root := newRoot(t)
		mustWrite(t, bpath(root, tombstonesFile), "{not json", 0o644)
		mustWrite(t, filepath.Join(root, DefaultLogPath), paracleLine, 0o644)

		// No garbage collection while counting descriptors: a leaked
		// *os.File would otherwise be closed by its finalizer.
		defer debug.SetGCPercent(debug.SetGCPercent(-1))
		logp := filepath.Join(root, DefaultLogPath)
		before := fdsOn(t, logp)
		var d *Dir
		var err error
		if !withTimeout(t, time.Minute, "Open", func() { d, err = Open(root, Config{}) }) {
			t.FailNow()
		}
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		if n := fdsOn(t, logp) - before; n != 1 {
			t.Errorf("the log is open %d times after Open, want 1 (a descriptor leaks)", n)
		}
		rec := entriesFor(t, root, "recover", "")
		if len(rec) != 1 || !strings.Contains(rec[0].Description, tombstonesFile) {
			t.Errorf("recover lines: %d, want 1 naming %s", len(rec), tombstonesFile)
		}
		if err := d.Close(); err != nil {
			t.Fatal(err)
		}
		if n := fdsOn(t, logp) - before; n != 0 {
			t.Errorf("the log is still open %d times after Close", n)
		}
	})
	t.Run("torn log", func(t *testing.T) {
		root := newRoot(t)
		mustWrite(t, bpath(root, tombstonesFile), "{not json", 0o644)
		mustWrite(t, filepath.Join(root, DefaultLogPath), paracleLine+tornLine, 0o644)
		var d *Dir
		var err error
		if !withTimeout(t, time.Minute, "Open with corrupt tombstones and a torn log", func() { d, err = Open(root, Config{}) }) {
			t.FailNow()
		}
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		defer d.Close()
		if kept := keptTorn(t, root); len(kept) != 1 {
			t.Errorf("torn bytes kept in %v, want one file", kept)
		}
	})
}

// fdsOn counts this process's descriptors open on p.
func fdsOn(t *testing.T, p string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink("/proc/self/fd/" + e.Name()); err == nil && target == p {
			n++
		}
	}
	return n
}

// A daemon killed between a commit's rename and its log line leaves a
// landed version with no line: the next start logs it once, as a recover
// line with its revision, size and sha256. Logged commits, and files
// changed behind the daemon's back, get no such line.
func TestOpenLogsUnloggedCommit(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "x.yaml", "a: 1\n")
	commit(t, d, "y.yaml", "b: 1\n")
	res := commit(t, d, "x.yaml", "a: 2\n")
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	// Cut the last line (x.yaml's revision 2) off the log, as if the daemon
	// had died before appending it.
	logp := filepath.Join(root, DefaultLogPath)
	b := mustRead(t, logp)
	cut := bytes.LastIndexByte(b[:len(b)-1], '\n') + 1
	if !strings.Contains(string(b[cut:]), `"x.yaml"`) {
		t.Fatalf("last log line is not x.yaml's: %s", b[cut:])
	}
	if err := os.WriteFile(logp, b[:cut], 0o644); err != nil {
		t.Fatal(err)
	}
	// A file changed behind the daemon's back is not a lost line.
	time.Sleep(10 * time.Millisecond)
	mustWrite(t, filepath.Join(root, "y.yaml"), "b: 9\n", 0o644)

	d2 := openDir(t, root, Config{})
	es := entriesFor(t, root, "recover", "x.yaml")
	if len(es) != 1 {
		t.Fatalf("want 1 recover line for x.yaml, got %d", len(es))
	}
	e := es[0]
	if e.Revision == nil || *e.Revision != res.Rev || e.SHA256 != sha("a: 2\n") || e.Size == nil || *e.Size != 5 {
		t.Errorf("recover line revision/sha256/size = %v/%s/%v, want %d/%s/5", ptrStr(e.Revision), e.SHA256, ptrStr(e.Size), res.Rev, sha("a: 2\n"))
	}
	if n := len(entriesFor(t, root, "recover", "y.yaml")); n != 0 {
		t.Errorf("%d recover lines for y.yaml, changed behind the daemon's back: want none", n)
	}
	closeOnce(d2)
	// Once logged, not again.
	d3 := openDir(t, root, Config{})
	if n := len(entriesFor(t, root, "recover", "x.yaml")); n != 1 {
		t.Errorf("after a second start: %d recover lines for x.yaml, want 1", n)
	}
	closeOnce(d3)
}
