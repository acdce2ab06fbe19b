package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// A full disk is a refusal like any other. DIR lives on a small tmpfs;
// a file beside it fills it. A shell's `echo >` then fails at write() with
// ENOSPC (bash says so, though it ignores close()), a program's write or
// close fails with ENOSPC, the file is untouched, no temp file is left,
// status shows the refusals, and once there is room again commits go on,
// with a log of whole lines and a history whose versions match their
// sha256.
// fullDisk mounts a project whose DIR lives on a tmpfs of size bytes, and
// returns it with a func that fills the tmpfs to its last byte (a file
// beside DIR) and one that frees that room again.
func fullDisk(t *testing.T, size string) (p *project, fillUp, free func()) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (a tmpfs mount)")
	}
	base, err := os.MkdirTemp(runDir, "fulldisk-")
	if err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(base, "disk")
	os.Mkdir(disk, 0o755)
	mustRun(t, base, "mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", disk)
	t.Cleanup(func() {
		releaseDisk(t, disk)
		os.RemoveAll(base)
	})
	p = &project{Root: disk, Dir: filepath.Join(disk, ".parac"), backingFd: -1, rootFd: -1}
	if err := copyTree("testdata/parac", p.Dir); err != nil {
		t.Fatal(err)
	}
	p.openBacking(t)
	t.Cleanup(func() { unix.Close(p.backingFd); unix.Close(p.rootFd) })
	mountWith(t, p, p.Root, "mount", p.Dir)
	fill := filepath.Join(disk, "fill")
	fillUp = func() {
		t.Helper()
		f, err := os.OpenFile(fill, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		chunk := make([]byte, 64<<10)
		for {
			if _, err := f.Write(chunk); err != nil {
				if errnoOf(err) != syscall.ENOSPC {
					t.Fatalf("filling the disk: %v", err)
				}
				break
			}
		}
		for _, n := range []int{4096, 512, 1} { // the last blocks
			for {
				if _, err := f.Write(chunk[:n]); err != nil {
					break
				}
			}
		}
	}
	return p, fillUp, func() { os.Remove(fill) }
}

func TestFullDisk(t *testing.T) {
	p, fillUp, free := fullDisk(t, "8m")
	const rel = "roadmap/roadmap.yaml"
	if err := os.WriteFile(p.path(rel), []byte("version: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, p.path(rel))
	fillUp()

	// A shell's redirection: write() fails, and bash says so.
	r := run(t, p.Root, "bash", "-c", "echo 'version: 2' > .parac/"+rel)
	if r.Code == 0 || !strings.Contains(r.Stderr, "write error: No space left on device") {
		t.Errorf("echo > %s on a full disk: %s; want bash's write error: No space left on device", rel, r)
	}
	// As on the disk itself.
	if plain := run(t, p.Root, "bash", "-c", "echo 'version: 2' > plain.yaml"); plain.Code != r.Code || !strings.Contains(plain.Stderr, "write error: No space left on device") {
		t.Errorf("echo > plain.yaml beside DIR on the same full disk: %s; through the mount: %s", plain, r)
	}
	assertContent(t, p, rel, before)

	// A program's write.
	err := os.WriteFile(p.path(rel), []byte("version: 3\n"), 0o644)
	if errnoOf(err) != syscall.ENOSPC {
		t.Errorf("write of %s on a full disk: %v, want ENOSPC", rel, err)
	}
	assertContent(t, p, rel, before)

	// Room at write(), none left at close(): the commit is refused.
	free()
	f, err := os.OpenFile(p.path(rel), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	big := bytes.Repeat([]byte("# padding to need room\n"), 20000)
	if _, err := f.Write(append([]byte("version: 4\n"), big...)); err != nil {
		t.Fatalf("write with room: %v", err)
	}
	fillUp()
	if err := f.Close(); errnoOf(err) != syscall.ENOSPC {
		t.Errorf("close of %s when the disk filled after the write: %v, want ENOSPC", rel, err)
	}
	assertContent(t, p, rel, before)
	if temps := findTemps(t, p.backing(".")); len(temps) > 0 {
		t.Errorf("temp files left by refused commits: %v", temps)
	}

	// The refusal's line: its bytes kept whole, or a reason saying they
	// could not be (the disk is full).
	if es := forPath(logLines(t, p.Dir), rel); len(es) == 0 || es[len(es)-1].Op != "no_space" {
		t.Errorf("the log's last line of %s after a close refused for lack of room: %v, want no_space", rel, es)
	} else if e := es[len(es)-1]; e.Kept == "" && !strings.Contains(e.Reason, "could not be kept") {
		t.Errorf("the refusal keeps no bytes and does not say why: %s", e.Raw)
	} else if e.Kept != "" && sha256hex(readFile(t, p.backing(e.Kept))) != sha256hex(append([]byte("version: 4\n"), big...)) {
		t.Errorf("the refusal's kept bytes in %s are not the refused write", e.Kept)
	}

	st := paracfs(t, p.Root, "status", "--wait", ownStatusWait, p.Dir)
	if !strings.Contains(st.Stdout, "no_space") {
		t.Errorf("paracfs status after refusals for lack of room shows none:\n%s", st)
	}

	// Room again: commits go on; the log is whole lines, the history
	// matches its sha256.
	free()
	if err := os.WriteFile(p.path(rel), []byte("version: 5\n"), 0o644); err != nil {
		t.Fatalf("commit once there is room again: %v", err)
	}
	lines := logLines(t, p.Dir)
	last := forPath(lines, rel)
	if len(last) == 0 || last[len(last)-1].Op != "commit" {
		t.Fatalf("the log's last line of %s after room came back: %v, want a commit", rel, last)
	}
	historyMatchesLog(t, p, rel, lines)
}

// historyMatchesLog checks that rel's history index lists each version
// with bytes matching its sha256, and that every commit the log has a line
// of is in the history with the same sha256.
func historyMatchesLog(t *testing.T, p *project, rel string, lines []logEntry) {
	t.Helper()
	idx, err := os.ReadFile(p.backing(".paracfs/history/" + rel + "/.index.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	listed := map[int64]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(idx)), "\n") {
		var v struct {
			Rev     int64  `json:"revision"`
			SHA256  string `json:"sha256"`
			Dropped bool   `json:"dropped"`
		}
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("history index line %q: %v", line, err)
			continue
		}
		if v.Dropped {
			continue
		}
		listed[v.Rev] = v.SHA256
		b, err := os.ReadFile(p.backing(".paracfs/history/" + rel + "/" + itoa(int(v.Rev)) + filepath.Ext(rel)))
		if err != nil || sha256hex(b) != v.SHA256 {
			t.Errorf("history of %s revision %d: %v, sha256 %s, index says %s", rel, v.Rev, err, sha256hex(b), v.SHA256)
		}
	}
	for _, e := range forPath(lines, rel) {
		if (e.Op == "commit" || e.Op == "create") && e.Revision != nil && listed[*e.Revision] != e.SHA256 {
			t.Errorf("the log has %s revision %d (sha256 %s), the history lists it as %q", rel, *e.Revision, e.SHA256, listed[*e.Revision])
		}
	}
}

// A log line cut short by a full disk is never glued to the next one:
// the daemon ends it before its next append, even while it runs. The log's
// last page is padded (an appender through the mount) so that the next
// line fits only in part, the disk filled, and a refused write's line is
// cut; once there is room, the next commit's line stands on a line of its
// own, whole.
func TestFullDiskLogNeverGlued(t *testing.T) {
	p, fillUp, free := fullDisk(t, "8m")
	const rel = "memory/knowledge/architecture.md"
	if err := os.WriteFile(p.path(rel), []byte("# before\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(p.backing(logRel))
	if err != nil {
		t.Fatal(err)
	}
	// A line of the appender's own that leaves 10 bytes in the page.
	room := int(4096-st.Size()%4096) - 10
	if room < 40 {
		room += 4096
	}
	pad := fmt.Sprintf(`{"change_type":"note","description":"%s"}`+"\n", strings.Repeat("p", room-len(`{"change_type":"note","description":""}`+"\n")))
	lf, err := os.OpenFile(p.path(logRel), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lf.Write([]byte(pad)); err != nil {
		t.Fatal(err)
	}
	lf.Close()
	if st, err := os.Stat(p.backing(logRel)); err != nil || st.Size()%4096 != 4086 {
		t.Fatalf("the padded log: %v, %v; want 10 bytes left in its last page", st.Size(), err)
	}
	fillUp()
	// Two refusals on the full disk: the first line is cut after 10
	// bytes, the second finds the cut line still open.
	for i := 0; i < 2; i++ {
		if err := os.WriteFile(p.path("project.yaml"), []byte("name: [\n"), 0o644); errnoOf(err) != syscall.ENOSPC && errnoOf(err) != syscall.EBADMSG {
			t.Errorf("an invalid write on a full disk: %v, want ENOSPC or EBADMSG", err)
		}
	}
	free()
	want := []byte("# after\n")
	if err := os.WriteFile(p.path(rel), want, 0o644); err != nil {
		t.Fatalf("a commit once there is room: %v", err)
	}
	b := readFile(t, p.backing(logRel))
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("the log does not end with a newline: %q", b[max(0, len(b)-300):])
	}
	var whole, cut int
	var last logEntry
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		var e logEntry
		if json.Unmarshal([]byte(line), &e) != nil {
			cut++
			if strings.Count(line, `"timestamp"`) > 1 || strings.Contains(line, "}{") {
				t.Errorf("a line glued to a cut one: %q", line)
			} else if len(line) > 10 {
				t.Errorf("a cut line of %d bytes, want the 10 that fit: %q", len(line), line)
			}
			continue
		}
		whole++
		last = e
	}
	t.Logf("the log after the full disk: %d whole lines, %d cut", whole, cut)
	if cut > 1 {
		t.Errorf("%d cut lines in the log, want at most the one the full disk cut", cut)
	}
	if last.Op != "commit" || last.Path != rel || last.SHA256 != sha256hex(want) {
		t.Errorf("the log's last line: %s; want the commit of %s once there was room", last.Raw, rel)
	}
	// A restart reads the log as it is and adds nothing wrong.
	if r := paracfs(t, p.Root, "log", "--json", "-n", "1", p.Dir); r.Code != 0 || !strings.Contains(r.Stdout, sha256hex(want)) {
		t.Errorf("paracfs log -n 1 after the cut line: %s", r)
	}
}

// A directory that took a file's name behind the mount's back while a
// writer held it open: the commit is refused with EISDIR, the directory
// untouched, the bytes kept with their sha256, the refusal logged and
// counted.
func TestFullDiskIsDirAtCommit(t *testing.T) {
	p := newProject(t)
	mount(t, p)
	const rel = "memory/knowledge/architecture.md"
	f, err := os.OpenFile(p.path(rel), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	data := []byte("# written while a directory took the name\n")
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(p.backing(rel)); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p.backing(rel), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); errnoOf(err) != syscall.EISDIR {
		t.Errorf("close when a directory took the file's name: %v, want EISDIR", err)
	}
	if fi, err := os.Lstat(p.backing(rel)); err != nil || !fi.IsDir() {
		t.Errorf("the directory after the refused commit: %v, %v", fi, err)
	}
	es := forPath(logLines(t, p.Dir), rel)
	if len(es) == 0 || es[len(es)-1].Op != "is_directory" {
		t.Fatalf("the log's lines of %s: %v, want an is_directory refusal", rel, es)
	}
	e := es[len(es)-1]
	if e.Kept == "" {
		t.Errorf("the refusal keeps no bytes: %s", e.Raw)
	} else if got := readFile(t, p.backing(e.Kept)); !bytes.Equal(got, data) {
		t.Errorf("kept bytes %q, want %q", got, data)
	} else {
		sum := make([]byte, 64)
		if n, err := unix.Getxattr(p.backing(e.Kept), "user.paracfs.sha256", sum); err != nil || string(sum[:n]) != sha256hex(data) {
			t.Errorf("the kept bytes' sha256: %q, %v", sum[:n], err)
		}
	}
	if st := paracfs(t, p.Root, "status", "--wait", ownStatusWait, p.Dir); !strings.Contains(st.Stdout, "is_directory") {
		t.Errorf("paracfs status after an is_directory refusal shows none:\n%s", st)
	}
}

// Room for the file at commit but not for its history's copy: the commit
// goes through, and the version is not lost from the history for good:
// once there is room, the next commit records it from the file. A commit
// that would replace a version the history lacks, with no room to record
// it, is refused with ENOSPC rather than lose that version.
func TestFullDiskHistoryRecordFails(t *testing.T) {
	p, _, free := fullDisk(t, "8m")
	const rel = "memory/knowledge/architecture.md"
	v1 := []byte("# v1\n")
	if err := os.WriteFile(p.path(rel), v1, 0o644); err != nil {
		t.Fatal(err)
	}
	v2 := append([]byte("# v2\n"), bytes.Repeat([]byte("2"), 200<<10)...)
	f, err := os.OpenFile(p.path(rel), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(v2); err != nil {
		t.Fatal(err)
	}
	// Room for the temp file and a little, not for the history's copy.
	fillLeaving(t, p.Root, int64(len(v2))+(48<<10))
	if err := f.Close(); err != nil {
		t.Fatalf("close with room for the file (not for its history's copy): %v", err)
	}
	// The next commit: room when written, then only for its own small
	// file, not for the history's copy of revision 2 it replaces.
	os.Remove(filepath.Join(p.Root, "fill"))
	v3 := []byte("# v3\n")
	f, err = os.OpenFile(p.path(rel), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(v3); err != nil {
		t.Fatal(err)
	}
	fillLeaving(t, p.Root, 24<<10)
	cerr := f.Close()
	if cerr != nil {
		assertContent(t, p, rel, v2) // refused: untouched
	}
	free()
	if err := os.WriteFile(p.path(rel), []byte("# v4\n"), 0o644); err != nil {
		t.Fatalf("a commit once there is room: %v", err)
	}
	lines := logLines(t, p.Dir)
	historyMatchesLog(t, p, rel, lines)
	switch got, err := os.ReadFile(p.backing(".paracfs/history/" + rel + "/2.md")); {
	case err == nil && bytes.Equal(got, v2):
	case cerr == nil:
		t.Errorf("revision 2 was replaced by an acknowledged commit, but the history lacks it: %v (%d bytes)", err, len(got))
	case errnoOf(cerr) != syscall.ENOSPC:
		t.Errorf("the commit that could not record the version it replaces: %v, want ENOSPC", cerr)
	}
}

// fillLeaving fills the filesystem of dir (a file "fill" at its top)
// until about n bytes are free.
func fillLeaving(t *testing.T, dir string, n int64) {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if free := int64(st.Bavail) * st.Bsize; free > n {
		if err := os.WriteFile(filepath.Join(dir, "fill"), make([]byte, free-n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// A file written behind the mount's back, never committed through it, is
// in no history: rm through the mount keeps it first, so that restore can
// bring it back. With no room for that copy, rm fails with ENOSPC and the
// file stays, rather than lose its only copy; with room, rm removes it and
// restore puts the very bytes back.
func TestFullDiskRemoveKeepsVersion(t *testing.T) {
	p, _, free := fullDisk(t, "8m")
	const rel = "memory/knowledge/notes.md"
	body := append([]byte("# written behind the mount\n"), bytes.Repeat([]byte("n"), 200<<10)...)
	if err := os.WriteFile(p.backing(rel), body, 0o644); err != nil {
		t.Fatal(err)
	}
	fillLeaving(t, p.Root, 24<<10)
	r := run(t, p.Dir, "rm", rel)
	if r.Code == 0 || !strings.Contains(r.Stderr, "No space left on device") {
		t.Errorf("rm of a file the history lacks, with no room to keep it: %s; want rm's No space left on device", r)
	}
	assertContent(t, p, rel, body)
	free()
	n := len(logLines(t, p.Dir))
	mustRun(t, p.Dir, "rm", rel)
	if _, err := os.Lstat(p.path(rel)); !os.IsNotExist(err) {
		t.Fatalf("%s after rm: %v", rel, err)
	}
	del := waitLogLine(t, p, n, "the delete of "+rel, func(e logEntry) bool { return e.Path == rel && e.Op == "delete" })
	if del.Revision == nil {
		t.Fatalf("delete line without a revision: %s", del.Raw)
	}
	mustRun(t, p.Root, paracfsBin, "restore", ".parac/"+rel+"@"+itoa(int(*del.Revision)))
	assertContent(t, p, rel, body)
}
