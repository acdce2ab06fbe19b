package tests

import (
	"bytes"
	"encoding/json"
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
func TestFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (a tmpfs mount)")
	}
	base, err := os.MkdirTemp(runDir, "fulldisk-")
	if err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(base, "disk")
	os.Mkdir(disk, 0o755)
	mustRun(t, base, "mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", disk)
	t.Cleanup(func() {
		releaseDisk(t, disk)
		os.RemoveAll(base)
	})
	p := &project{Root: disk, Dir: filepath.Join(disk, ".parac"), backingFd: -1, rootFd: -1}
	if err := copyTree("testdata/parac", p.Dir); err != nil {
		t.Fatal(err)
	}
	p.openBacking(t)
	t.Cleanup(func() { unix.Close(p.backingFd); unix.Close(p.rootFd) })
	mountWith(t, p, p.Root, "mount", p.Dir)

	const rel = "roadmap/roadmap.yaml"
	if err := os.WriteFile(p.path(rel), []byte("version: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	before := readFile(t, p.path(rel))
	fill := filepath.Join(disk, "fill")
	fillUp := func() {
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
	fillUp()

	// A shell's redirection: write() fails, and bash says so.
	r := run(t, p.Root, "bash", "-c", "echo 'version: 2' > .parac/"+rel)
	if r.Code == 0 || !strings.Contains(r.Stderr, "No space left on device") {
		t.Errorf("echo > %s on a full disk: %s; want a failure saying No space left on device", rel, r)
	}
	assertContent(t, p, rel, before)

	// A program's write.
	err = os.WriteFile(p.path(rel), []byte("version: 3\n"), 0o644)
	if errnoOf(err) != syscall.ENOSPC {
		t.Errorf("write of %s on a full disk: %v, want ENOSPC", rel, err)
	}
	assertContent(t, p, rel, before)

	// Room at write(), none left at close(): the commit is refused.
	os.Remove(fill)
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

	st := paracfs(t, p.Root, "status", "--wait", ownStatusWait, p.Dir)
	if !strings.Contains(st.Stdout, "no_space") {
		t.Errorf("paracfs status after refusals for lack of room shows none:\n%s", st)
	}

	// Room again: commits go on; the log is whole lines, the history
	// matches its sha256.
	os.Remove(fill)
	if err := os.WriteFile(p.path(rel), []byte("version: 5\n"), 0o644); err != nil {
		t.Fatalf("commit once there is room again: %v", err)
	}
	lines := logLines(t, p.Dir)
	last := forPath(lines, rel)
	if len(last) == 0 || last[len(last)-1].Op != "commit" {
		t.Fatalf("the log's last line of %s after room came back: %v, want a commit", rel, last)
	}
	idx, err := os.ReadFile(p.backing(".paracfs/history/" + rel + "/.index.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
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
		b, err := os.ReadFile(p.backing(".paracfs/history/" + rel + "/" + itoa(int(v.Rev)) + ".yaml"))
		if err != nil || sha256hex(b) != v.SHA256 {
			t.Errorf("history of %s revision %d: %v, sha256 %s, index says %s", rel, v.Rev, err, sha256hex(b), v.SHA256)
		}
	}
}
