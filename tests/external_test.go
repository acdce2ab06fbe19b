package tests

// Changes made behind the mount's back: DIR is mounted elsewhere and a
// process writes DIR's files directly. The mount shows the change at once,
// the log records it as an external change, and the revision goes up, so a
// writer through the mount that read the file before gets a conflict.

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pyOverwrite is open(path, "w").write(data), as ad-hoc scripts do.
const pyOverwrite = `import sys
with open(sys.argv[1], "w") as f:
    f.write(sys.argv[2])
`

// externalWrite changes DIR/rel directly, not through the mount, in one of
// the ways scripts do: "open-w" (python open("w"): same inode, truncated
// and rewritten) or "sed-i" (sed -i: a new inode renamed over the file,
// without the daemon's revision xattr). It returns the new content.
func externalWrite(t *testing.T, p *project, how, rel string, old, new string) []byte {
	t.Helper()
	path := filepath.Join(p.Dir, rel)
	cur, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte(strings.Replace(string(cur), old, new, 1))
	if string(want) == string(cur) {
		t.Fatalf("%q not in %s", old, rel)
	}
	switch how {
	case "open-w":
		mustRun(t, p.Root, "python3", "-c", pyOverwrite, path, string(want))
	case "sed-i":
		mustRun(t, p.Root, "sed", "-i", "s/"+old+"/"+new+"/", path)
	default:
		t.Fatalf("unknown external write %q", how)
	}
	if got := readFile(t, path); string(got) != string(want) {
		t.Fatalf("external %s wrote %s", how, lineDiff(got, want))
	}
	return want
}

// checkSeen asserts that the mount shows rel's new content and size at
// once: to this process (read, stat) and to other processes (cat, stat).
func checkSeen(t *testing.T, mp, rel string, want []byte) {
	t.Helper()
	path := filepath.Join(mp, rel)
	if st, err := os.Stat(path); err != nil || st.Size() != int64(len(want)) {
		t.Errorf("stat %s through the mount right after the external change: %v, size %d, want %d", rel, err, sizeOf(st), len(want))
	}
	edAssertContentAt(t, path, want)
	if r := mustRun(t, mp, "stat", "-c", "%s", rel); strings.TrimSpace(r.Stdout) != strconv.Itoa(len(want)) {
		t.Errorf("stat -c %%s %s through the mount: %s, want %d", rel, strings.TrimSpace(r.Stdout), len(want))
	}
	if r := mustRun(t, mp, "cat", rel); r.Stdout != string(want) {
		t.Errorf("cat %s through the mount: %s", rel, lineDiff([]byte(r.Stdout), want))
	}
}

func sizeOf(st os.FileInfo) int64 {
	if st == nil {
		return -1
	}
	return st.Size()
}

// warm reads and stats rel through the mount from this process and another
// one, so that whatever the kernel caches is cached.
func warm(t *testing.T, mp, rel string) {
	t.Helper()
	readFile(t, filepath.Join(mp, rel))
	os.Stat(filepath.Join(mp, rel))
	mustRun(t, mp, "cat", rel)
	mustRun(t, mp, "stat", rel)
}

// checkExternalLine asserts that the log has exactly one new line for rel,
// op external, taking the revision from oldRev to oldRev+1.
func checkExternalLine(t *testing.T, p *project, n int, rel string, oldRev int64, content []byte) {
	t.Helper()
	lines := logSince(t, p.Dir, n)
	ext := forPath(lines, rel)
	if len(lines) != 1 || len(ext) != 1 || ext[0].Op != "external" {
		t.Errorf("after the external change was read through the mount, want exactly 1 new log line, op external for %s; got %d:%s", rel, len(lines), edDescribe(lines))
		return
	}
	e := ext[0]
	if e.Revision == nil || *e.Revision != oldRev+1 {
		t.Errorf("external line revision = %s, want %d\n%s", ptrStr(e.Revision), oldRev+1, e)
	}
	if e.OldRevision != nil && *e.OldRevision != oldRev {
		t.Errorf("external line old_revision = %d, want %d\n%s", *e.OldRevision, oldRev, e)
	}
	if e.Size != nil && *e.Size != int64(len(content)) {
		t.Errorf("external line size = %d, want %d\n%s", *e.Size, len(content), e)
	}
	if e.SHA256 != "" && e.SHA256 != sha256hex(content) {
		t.Errorf("external line sha256 is not the new content's\n%s", e)
	}
	checkTimestamp(t, e)
	for _, f := range []string{"timestamp", "process_id", "change_type", "description", "old_value", "new_value", "revision"} {
		if _, ok := e.Fields[f]; !ok {
			t.Errorf("external line lacks paracle's field %q\n%s", f, e)
		}
	}
}

// A file changed directly in DIR: the mount shows the new bytes and size at
// once, the log gets one external line once the daemon has seen it, and the
// revision goes up by one. A file the mount committed before (its revision
// recorded on the backing file) and a paracle-style save that bumps the
// revision field itself; in place (open("w")) and by rename (sed -i); with
// a change of size and without.
func TestExternalChange(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, how, rel string
		old, new       string
	}{
		{"open-w no revision field", "open-w", "config/logging.yaml", "level: info", "level: debug"},
		{"open-w same size", "open-w", "config/logging.yaml", "level: info", "level: warn"},
		{"sed-i no revision field", "sed-i", "config/logging.yaml", "level: info", "level: debug"},
		{"open-w revision field", "open-w", stateRel, "revision: 12", "revision: 13"},
		{"sed-i revision field", "sed-i", stateRel, "revision: 12", "revision: 13"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			mp := edMountElsewhere(t, p)
			// A commit through the mount first, so the file has a recorded
			// revision (the xattr on the backing file, which an in-place
			// external write leaves as it was).
			cur := readFile(t, filepath.Join(mp, c.rel))
			var edited []byte
			if c.rel == stateRel {
				edited = replace(t, cur, "blockers: []", "blockers: [mounted]")
			} else {
				edited = append(append([]byte{}, cur...), "mounted: true\n"...)
			}
			if res := pyWrite(t, mp, c.rel, "trunc", edited); res.Errno != 0 {
				t.Fatalf("commit through the mount: %s: %s", res.Stage, res.Error)
			}
			before := rev(t, filepath.Join(mp, c.rel))
			warm(t, mp, c.rel)
			n := len(logLines(t, p.Dir))

			time.Sleep(20 * time.Millisecond) // not within the same timestamp tick as the commit
			want := externalWrite(t, p, c.how, c.rel, c.old, c.new)
			checkSeen(t, mp, c.rel, want)
			if got := rev(t, filepath.Join(mp, c.rel)); got != before+1 {
				t.Errorf("revision through the mount after the external change = %d, want %d", got, before+1)
			}
			checkExternalLine(t, p, n, c.rel, before, want)
			// Seen once, logged once.
			warm(t, mp, c.rel)
			if lines := logSince(t, p.Dir, n); len(lines) > 1 {
				t.Errorf("reading the file again logged more:%s", edDescribe(lines))
			}
			// The next commit through the mount continues the count.
			next := append(append([]byte{}, want...), "after: 1\n"...)
			if res := pyWrite(t, mp, c.rel, "trunc", next); res.Errno != 0 {
				t.Fatalf("commit through the mount after the external change: %s: %s\nlog:%s", res.Stage, res.Error, edDescribe(logSince(t, p.Dir, n)))
			}
			if got := rev(t, filepath.Join(mp, c.rel)); got != before+2 {
				t.Errorf("revision after the next commit = %d, want %d", got, before+2)
			}
		})
	}
}

// staleScript reads a file, prints "read", waits for a line on stdin, then
// overwrites the file with open("w") and prints the outcome as JSON.
const staleScript = `import json, os, sys
path, data = sys.argv[1], sys.argv[2]
with open(path) as f:
    f.read()
print("read", flush=True)
sys.stdin.readline()
res = {"pid": os.getpid(), "errno": 0, "stage": "close", "error": ""}
try:
    with open(path, "w") as f:
        f.write(data)
except OSError as e:
    res.update(errno=e.errno, error=str(e))
print(json.dumps(res), flush=True)
`

// A writer through the mount that read the file before it was changed
// behind the mount's back writes a stale copy: EBUSY, the external change
// stays, one conflict line, the refused bytes kept. Without a revision
// field (only the read tells the base) and with one.
func TestExternalChangeStaleWriter(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, how, rel string
		old, new       string // the external change
		mine           func(b []byte) []byte
	}{
		{"open-w no revision field", "open-w", "config/logging.yaml", "level: info", "level: debug",
			func(b []byte) []byte { return append(append([]byte{}, b...), "mine: 1\n"...) }},
		{"sed-i no revision field", "sed-i", "config/logging.yaml", "level: info", "level: debug",
			func(b []byte) []byte { return append(append([]byte{}, b...), "mine: 1\n"...) }},
		{"open-w revision field", "open-w", stateRel, "revision: 11", "revision: 12",
			func(b []byte) []byte { return append(append([]byte{}, b...), "mine: 1\n"...) }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			mp := edMountElsewhere(t, p)
			orig := readFile(t, filepath.Join(mp, c.rel))
			before := rev(t, filepath.Join(mp, c.rel))
			mine := c.mine(orig)
			h := startPy(t, mp, staleScript, c.rel, string(mine))
			out := edLineChan(h.out)
			if line, ok := edNextLine(out, eventWait); line != "read" {
				t.Fatalf("writer through the mount: %q %v", line, ok)
			}
			time.Sleep(20 * time.Millisecond)
			external := externalWrite(t, p, c.how, c.rel, c.old, c.new)
			n := len(logLines(t, p.Dir))
			h.stdin.Write([]byte("go\n"))
			line, ok := edNextLine(out, eventWait)
			var res pyResult
			if !ok || json.Unmarshal([]byte(line), &res) != nil {
				t.Fatalf("writer through the mount: %q", line)
			}
			if res.errno() != syscall.EBUSY {
				t.Errorf("a stale overwrite through the mount after an external change: errno %d (%s), want EBUSY\nlog:%s", res.Errno, res.Error, edDescribe(logSince(t, p.Dir, n)))
			}
			edAssertContentAt(t, filepath.Join(p.Dir, c.rel), external)
			edAssertContentAt(t, filepath.Join(mp, c.rel), external)
			if got := rev(t, filepath.Join(mp, c.rel)); got != before+1 {
				t.Errorf("revision = %d, want %d (the external change counted, the stale write not)", got, before+1)
			}
			lines := logSince(t, p.Dir, n)
			var conflicts []logEntry
			for _, e := range forPath(lines, c.rel) {
				if e.Op == "conflict" {
					conflicts = append(conflicts, e)
				}
			}
			if len(conflicts) != 1 {
				t.Fatalf("want 1 conflict line, got:%s", edDescribe(lines))
			}
			checkRefusalLine(t, p, conflicts[0], c.rel, "conflict", "EBUSY", res.Pid, mine)
			// Reading again, then writing, works.
			fresh := append(readFile(t, filepath.Join(mp, c.rel)), "fresh: 1\n"...)
			if res := pyWrite(t, mp, c.rel, "trunc", fresh); res.Errno != 0 {
				t.Errorf("a fresh write after re-reading: %s: %s", res.Stage, res.Error)
			}
		})
	}
}
