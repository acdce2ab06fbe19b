package tests

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A python script that opens with open("w"), writes and closes, the way
// most ad-hoc scripts do, then prints its pid.
const pyOpenW = `import os, sys
with open(sys.argv[1], "w") as f:
    f.write(sys.argv[2])
print(os.getpid())
`

func TestValidWritePython(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	path := p.path(stateRel)
	if got := rev(t, path); got != 11 {
		t.Fatalf("revision of the fixture = %d, want 11 (its revision field)", got)
	}
	before := readFile(t, path)
	if !bytes.Equal(before, fixture(t, stateRel)) {
		t.Fatalf("the mount does not show the fixture's bytes")
	}
	n := len(logLines(t, p.Dir))

	written := replace(t, before, "test_count: 412", "test_count: 413")
	r := mustRun(t, p.Dir, "python3", "-c", pyOpenW, stateRel, string(written))
	pid := parsePid(t, r.Stdout)

	// The writer kept revision: 11, so it is stamped with the new revision;
	// nothing else changes, comments and formatting included.
	want := replace(t, written, "revision: 11", "revision: 12")
	assertContent(t, p, stateRel, want)
	if got := rev(t, path); got != 12 {
		t.Errorf("revision after one commit = %d, want 12", got)
	}
	lines := logSince(t, p.Dir, n)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line, got %d: %v", len(lines), lines)
	}
	e := lines[0]
	checkCommitLine(t, e, stateRel, pid, "python3", 11, 12, want)
	k, ok := e.Keys["metrics"]
	if !ok {
		t.Fatalf("log line keys lack the changed key metrics: %v", e)
	}
	oldm, _ := k.Old.(map[string]any)
	newm, _ := k.New.(map[string]any)
	if oldm["test_count"] != float64(412) || newm["test_count"] != float64(413) {
		t.Errorf("keys.metrics = %v → %v, want test_count 412 → 413", k.Old, k.New)
	}
	for key := range e.Keys {
		if key != "metrics" && key != "revision" {
			t.Errorf("log line keys has %q, which did not change: %v", key, e)
		}
	}
}

func TestValidWriteShellRedirect(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const rel = "config/logging.yaml"
	if got := rev(t, p.path(rel)); got != 0 {
		t.Fatalf("revision of a file without a revision field = %d, want 0", got)
	}
	n := len(logLines(t, p.Dir))
	content := "level: debug\nformat: json\n"
	r := mustRun(t, p.Dir, "bash", "-c", `echo $$; printf '%s' "$1" > "$2"`, "bash", content, rel)
	pid := parsePid(t, r.Stdout)

	assertContent(t, p, rel, []byte(content))
	if got := rev(t, p.path(rel)); got != 1 {
		t.Errorf("revision after one commit = %d, want 1", got)
	}
	lines := forPath(logSince(t, p.Dir, n), rel)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line for %s, got %d: %v", rel, len(lines), lines)
	}
	checkCommitLine(t, lines[0], rel, pid, "bash", 0, 1, []byte(content))
	if _, ok := lines[0].Keys["level"]; !ok {
		t.Errorf("log line keys lack the changed key level: %v", lines[0])
	}
}

func TestValidWriteSedInPlace(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	n := len(logLines(t, p.Dir))
	r := mustRun(t, p.Dir, "sh", "-c", `echo $$; exec sed -i 's/tests_passing: 409/tests_passing: 412/' "$1"`, "sh", stateRel)
	pid := parsePid(t, r.Stdout)

	want := replace(t, replace(t, fixture(t, stateRel), "tests_passing: 409", "tests_passing: 412"), "revision: 11", "revision: 12")
	assertContent(t, p, stateRel, want)
	if got := rev(t, p.path(stateRel)); got != 12 {
		t.Errorf("revision after sed -i = %d, want 12", got)
	}
	lines := logSince(t, p.Dir, n)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line (sed's temp file is scratch), got %d: %v", len(lines), lines)
	}
	checkCommitLine(t, lines[0], stateRel, pid, "sed", 11, 12, want)
	if !strings.HasPrefix(lines[0].From, "memory/context/sed") {
		t.Errorf("log line from = %q, want sed's temp file memory/context/sedXXXXXX", lines[0].From)
	}
	// sed's temp file is gone, on the mount and behind it.
	for _, dir := range []string{p.path("memory/context"), p.backing("memory/context")} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.Name() != "current_state.yaml" && e.Name() != "current_state.yaml.lock" {
				t.Errorf("%s: unexpected leftover %s", dir, e.Name())
			}
		}
	}
}

// A refused write: close() fails with EBADMSG, the backing file is
// byte-for-byte unchanged, the refused bytes are kept, the log says why.
func TestInvalidYAMLPython(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	orig := fixture(t, stateRel)
	n := len(logLines(t, p.Dir))
	bad := []byte("a: [\n")
	res := pyWrite(t, p.Dir, stateRel, "trunc", bad)
	if res.errno() != syscall.EBADMSG || res.Stage != "close" {
		t.Fatalf("writing invalid YAML: %s errno %d (%s), want close() to fail with EBADMSG (%d)", res.Stage, res.Errno, res.Error, syscall.EBADMSG)
	}
	assertContent(t, p, stateRel, orig)
	if got := rev(t, p.path(stateRel)); got != 11 {
		t.Errorf("revision after a refused write = %d, want 11", got)
	}
	lines := logSince(t, p.Dir, n)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line, got %d: %v", len(lines), lines)
	}
	checkRefusalLine(t, p, lines[0], stateRel, "invalid", "EBADMSG", res.Pid, bad)

	unmountCmd(t, p)
	if got := readFile(t, p.path(stateRel)); !bytes.Equal(got, orig) {
		t.Errorf("after unmount, %s = %q, want the original bytes", stateRel, got)
	}
}

func TestInvalidYAMLEcho(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	orig := fixture(t, stateRel)
	n := len(logLines(t, p.Dir))
	r := run(t, p.Dir, "bash", "-c", `echo $$; exec /bin/echo 'a: [' > "$1"`, "bash", stateRel)
	if r.Code == 0 || !strings.Contains(r.Stderr, "Bad message") {
		t.Errorf("/bin/echo 'a: [' > %s: %s\nwant a non-zero exit and \"Bad message\"", stateRel, r)
	}
	pid := parsePid(t, r.Stdout)
	assertContent(t, p, stateRel, orig)
	lines := logSince(t, p.Dir, n)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line, got %d: %v", len(lines), lines)
	}
	checkRefusalLine(t, p, lines[0], stateRel, "invalid", "EBADMSG", pid, []byte("a: [\n"))
	unmountCmd(t, p)
	if got := readFile(t, p.path(stateRel)); !bytes.Equal(got, orig) {
		t.Errorf("after unmount, %s = %q, want the original bytes", stateRel, got)
	}
}

func TestInvalidJSON(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const rel = "integrations/mcp/mcp_config.json"
	orig := fixture(t, rel)
	n := len(logLines(t, p.Dir))
	bad := []byte(`{"servers": [`)
	res := pyWrite(t, p.Dir, rel, "trunc", bad)
	if res.errno() != syscall.EBADMSG {
		t.Fatalf("writing invalid JSON: %s errno %d (%s), want EBADMSG", res.Stage, res.Errno, res.Error)
	}
	assertContent(t, p, rel, orig)
	lines := logSince(t, p.Dir, n)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line, got %d: %v", len(lines), lines)
	}
	checkRefusalLine(t, p, lines[0], rel, "invalid", "EBADMSG", res.Pid, bad)
}

// The content's revision field against the current revision (11).
func TestRevisionField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		rev     int
		errno   syscall.Errno
		op      string
		stamped int // the revision field after the commit
	}{
		{"kept", 11, 0, "commit", 12},
		{"bumped", 12, 0, "commit", 12},
		{"stale", 10, syscall.EBUSY, "conflict", 0},
		{"very stale", 1, syscall.EBUSY, "conflict", 0},
		{"ahead", 13, syscall.EBADMSG, "invalid", 0},
		{"far ahead", 100, syscall.EBADMSG, "invalid", 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			mount(t, p)
			orig := fixture(t, stateRel)
			n := len(logLines(t, p.Dir))
			content := replace(t, replace(t, orig, "revision: 11", "revision: "+strconv.Itoa(c.rev)), "blockers: []", "blockers: [ci]")
			res := pyWrite(t, p.Dir, stateRel, "trunc", content)
			lines := logSince(t, p.Dir, n)
			if len(lines) != 1 {
				t.Errorf("want exactly 1 new log line, got %d: %v", len(lines), lines)
			}
			if c.errno == 0 {
				if res.Errno != 0 {
					t.Fatalf("revision: %d (current 11): %s failed: %s, want it accepted", c.rev, res.Stage, res.Error)
				}
				want := replace(t, content, "revision: "+strconv.Itoa(c.rev), "revision: "+strconv.Itoa(c.stamped))
				assertContent(t, p, stateRel, want)
				if got := rev(t, p.path(stateRel)); got != 12 {
					t.Errorf("revision = %d, want 12", got)
				}
				if len(lines) == 1 {
					checkCommitLine(t, lines[0], stateRel, res.Pid, "python3", 11, 12, want)
				}
				return
			}
			if res.errno() != c.errno || res.Stage != "close" {
				t.Fatalf("revision: %d (current 11): %s errno %d (%s), want close() to fail with %v", c.rev, res.Stage, res.Errno, res.Error, c.errno)
			}
			assertContent(t, p, stateRel, orig)
			if got := rev(t, p.path(stateRel)); got != 11 {
				t.Errorf("revision after a refused write = %d, want 11", got)
			}
			if len(lines) == 1 {
				checkRefusalLine(t, p, lines[0], stateRel, c.op, errnoNames[c.errno], res.Pid, content)
			}
		})
	}
}

var errnoNames = map[syscall.Errno]string{
	syscall.EBUSY: "EBUSY", syscall.EBADMSG: "EBADMSG", syscall.EFBIG: "EFBIG",
	syscall.ETIMEDOUT: "ETIMEDOUT", syscall.EPERM: "EPERM",
}

// A stale write after a real commit: the writer read revision 11, another
// process committed 12 meanwhile.
func TestStaleRevisionAfterCommit(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	mustRun(t, p.Dir, "sed", "-i", "s/impact: medium/impact: high/", stateRel)
	committed := readFile(t, p.path(stateRel))
	if !bytes.Contains(committed, []byte("revision: 12")) {
		t.Fatalf("the first commit was not stamped revision 12:\n%s", committed)
	}
	n := len(logLines(t, p.Dir))
	stale := replace(t, fixture(t, stateRel), "blockers: []", "blockers: [stale]")
	res := pyWrite(t, p.Dir, stateRel, "trunc", stale)
	if res.errno() != syscall.EBUSY {
		t.Fatalf("a write carrying revision 11 over revision 12: %s errno %d (%s), want EBUSY", res.Stage, res.Errno, res.Error)
	}
	assertContent(t, p, stateRel, committed)
	lines := logSince(t, p.Dir, n)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line, got %d: %v", len(lines), lines)
	}
	checkRefusalLine(t, p, lines[0], stateRel, "conflict", "EBUSY", res.Pid, stale)
}

// A handle opened for writing without O_TRUNC has the revision at open as
// its base: another commit in between makes its close a conflict.
func TestOpenWithoutTruncConflict(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const rel = "config/logging.yaml" // no revision field: only the handle's base can tell
	path := p.path(rel)

	// Undisturbed, such a handle commits.
	h := pyOpenHeld(t, p.Dir, rel, "rw", []byte("level: warn\n"))
	if res := h.finish(t); res.Errno != 0 {
		t.Fatalf("O_RDWR write without interference: %s failed: %s", res.Stage, res.Error)
	}
	want := []byte("level: warn\nformat: json\n")
	assertContent(t, p, rel, want)
	if got := rev(t, path); got != 1 {
		t.Fatalf("revision = %d, want 1", got)
	}

	h = pyOpenHeld(t, p.Dir, rel, "rw", []byte("level: info\n"))
	other := []byte("level: debug\nformat: text\n")
	if res := pyWrite(t, p.Dir, rel, "trunc", other); res.Errno != 0 {
		t.Fatalf("the other writer: %s failed: %s", res.Stage, res.Error)
	}
	n := len(logLines(t, p.Dir))
	res := h.finish(t)
	if res.errno() != syscall.EBUSY || res.Stage != "close" {
		t.Fatalf("write through a handle opened at revision 1, after a commit of revision 2: %s errno %d (%s), want close() to fail with EBUSY",
			res.Stage, res.Errno, res.Error)
	}
	assertContent(t, p, rel, other)
	if got := rev(t, path); got != 2 {
		t.Errorf("revision = %d, want 2", got)
	}
	lines := logSince(t, p.Dir, n)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line, got %d: %v", len(lines), lines)
	}
	checkRefusalLine(t, p, lines[0], rel, "conflict", "EBUSY", res.Pid, []byte("level: info\nformat: json\n"))
}

// paracle's save_state: write x.yaml.tmp with revision+1, os.replace onto
// x.yaml; paracle does it holding x.yaml.lock (filelock: flock(2)), taken
// here through the mount.
func TestParacleStyleSave(t *testing.T) {
	t.Parallel()
	// mode 0: no lock; 1: x.yaml.lock held around the save; 2: the lock is
	// taken by another thread of the process than the one that saves.
	for mode, name := range []string{"no lock", "holding x.yaml.lock", "lock taken by another thread"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			mount(t, p, "--lock-timeout", "3s")
			n := len(logLines(t, p.Dir))
			const script = `import fcntl, os, sys, threading
p, mode = sys.argv[1], sys.argv[2]
with_lock = mode != "0"
if with_lock:
    lock = open(p + ".lock", "a")
    take = lambda: fcntl.flock(lock, fcntl.LOCK_EX)
    if mode == "2":
        t = threading.Thread(target=take)
        t.start()
        t.join()
    else:
        take()
text = open(p).read()
new = text.replace("revision: 11", "revision: 12").replace("status: in_progress", "status: review", 1)
tmp = p + ".tmp"
with open(tmp, "w") as f:
    f.write(new)
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, p)
if with_lock:
    fcntl.flock(lock, fcntl.LOCK_UN)
    lock.close()
print(os.getpid())
`
			r := mustRun(t, p.Dir, "python3", "-c", script, stateRel, strconv.Itoa(mode))
			pid := parsePid(t, r.Stdout)
			want := replace(t, replace(t, fixture(t, stateRel), "revision: 11", "revision: 12"), "status: in_progress", "status: review")
			assertContent(t, p, stateRel, want)
			if got := rev(t, p.path(stateRel)); got != 12 {
				t.Errorf("revision = %d, want 12", got)
			}
			for _, path := range []string{p.path(stateRel + ".tmp"), p.backing(stateRel + ".tmp")} {
				if _, err := os.Lstat(path); err == nil {
					t.Errorf("%s is left behind", path)
				}
			}
			lines := logSince(t, p.Dir, n)
			for _, e := range lines {
				if strings.HasSuffix(e.Path, ".tmp") {
					t.Errorf("the log names the temp file as a path: %v", e)
				}
			}
			if len(lines) != 1 {
				t.Fatalf("want exactly 1 new log line, got %d: %v", len(lines), lines)
			}
			checkCommitLine(t, lines[0], stateRel, pid, "python3", 11, 12, want)
			if lines[0].From != stateRel+".tmp" {
				t.Errorf("log line from = %q, want %q", lines[0].From, stateRel+".tmp")
			}
		})
	}
}

// A file created through the mount takes the revision its content
// carries, 0 without one (paracle writes its initial state with revision:
// 0), and lands byte-identical.
func TestCreateNewFile(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const rel = "memory/context/new.yaml"
	n := len(logLines(t, p.Dir))
	res := pyWrite(t, p.Dir, rel, "create", []byte("# new\nrevision: 0\nitems: []\n"))
	if res.Errno != 0 {
		t.Fatalf("creating %s: %s failed: %s", rel, res.Stage, res.Error)
	}
	want := []byte("# new\nrevision: 0\nitems: []\n")
	assertContent(t, p, rel, want)
	if got := rev(t, p.path(rel)); got != 0 {
		t.Errorf("revision of a new file = %d, want 0", got)
	}
	lines := logSince(t, p.Dir, n)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line, got %d: %v", len(lines), lines)
	}
	checkCommitLine(t, lines[0], rel, res.Pid, "python3", 0, 0, want)

	// An invalid new file never appears.
	res = pyWrite(t, p.Dir, "memory/context/bad.yaml", "create", []byte("a: [\n"))
	if res.errno() != syscall.EBADMSG {
		t.Errorf("creating an invalid file: %s errno %d (%s), want EBADMSG", res.Stage, res.Errno, res.Error)
	}
	for _, path := range []string{p.path("memory/context/bad.yaml"), p.backing("memory/context/bad.yaml")} {
		if _, err := os.Lstat(path); err == nil {
			t.Errorf("%s exists after its only write was refused", path)
		}
	}
}

// --max-size: a file past the limit is refused with EFBIG at close(), the
// file left as it was, and the refused bytes kept whole (nothing the user
// wrote is thrown away), up to twice the limit; status counts it as
// invalid. A write past twice the limit fails at once with EFBIG, and the
// refusal's reason says exactly what was kept.
func TestMaxSize(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p, "--max-size", "1KiB")
	const rel = "config/logging.yaml"
	orig := fixture(t, rel)
	n := len(logLines(t, p.Dir))
	var big strings.Builder
	for i := 0; big.Len() < 1900; i++ {
		big.WriteString("key_" + strconv.Itoa(i) + ": some value that takes room\n")
	}
	res := pyWrite(t, p.Dir, rel, "trunc", []byte(big.String()))
	if res.errno() != syscall.EFBIG || res.Stage != "close" {
		t.Fatalf("writing %d bytes with --max-size 1KiB: %s errno %d (%s), want close() to fail with EFBIG", big.Len(), res.Stage, res.Errno, res.Error)
	}
	assertContent(t, p, rel, orig)
	lines := forPath(logSince(t, p.Dir, n), rel)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line, got %d: %v", len(lines), lines)
	}
	checkRefusalLine(t, p, lines[0], rel, "too_large", "EFBIG", res.Pid, []byte(big.String())) // kept whole
	if !strings.Contains(lines[0].Reason, "1024 bytes") || strings.Contains(lines[0].Reason, "kept:") {
		t.Errorf("too_large reason %q: want the limit (1024 bytes), and no word of bytes not kept", lines[0].Reason)
	}
	if m := statusOf(t, p); m.Counters == nil || m.Counters.Invalid != 1 || m.Counters.Refused != 1 {
		t.Errorf("paracfs status after one too-large write: counters %+v, want invalid 1 (too large counts as invalid) and refused 1", m.Counters)
	}

	// Past twice the limit: the write that goes past fails at once, and
	// the bytes written before it are kept, exactly, as the reason says.
	n = len(logLines(t, p.Dir))
	first, second := strings.Repeat("a: 1\n", 300), strings.Repeat("b: 2\n", 200) // 1500 bytes, then 1000 more
	const twoWrites = `import json, os, sys
res = {"pid": os.getpid(), "errno": 0, "stage": ""}
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
try:
    res["stage"] = "first write"
    os.write(fd, sys.argv[2].encode())
    res["stage"] = "second write"
    os.write(fd, sys.argv[3].encode())
    res["stage"] = "close"
    os.close(fd)
    fd = -1
except OSError as e:
    res["errno"] = e.errno
if fd >= 0:
    try:
        os.close(fd)
    except OSError:
        pass
print(json.dumps(res))
`
	r := mustRun(t, p.Dir, "python3", "-c", twoWrites, rel, first, second)
	var two struct {
		Pid   int    `json:"pid"`
		Errno int    `json:"errno"`
		Stage string `json:"stage"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &two); err != nil {
		t.Fatalf("python3: %s", r)
	}
	if syscall.Errno(two.Errno) != syscall.EFBIG || two.Stage != "second write" {
		t.Errorf("1500 bytes, then 1000 more, with --max-size 1KiB: %s errno %d, want the second write to fail with EFBIG", two.Stage, two.Errno)
	}
	assertContent(t, p, rel, orig)
	lines = forPath(logSince(t, p.Dir, n), rel)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line, got %d: %v", len(lines), lines)
	}
	checkRefusalLine(t, p, lines[0], rel, "too_large", "EFBIG", two.Pid, []byte(first))
	if want := "kept: the first 1500 bytes; the write at offset 1500 and those after it went past 2048 bytes"; !strings.Contains(lines[0].Reason, want) {
		t.Errorf("too_large reason %q: want it to say exactly what was kept: %q", lines[0].Reason, want)
	}

	// Under the limit is fine.
	small := []byte("level: debug\nformat: json\n")
	if res := pyWrite(t, p.Dir, rel, "trunc", small); res.Errno != 0 {
		t.Fatalf("writing %d bytes with --max-size 1KiB: %s failed: %s", len(small), res.Stage, res.Error)
	}
	assertContent(t, p, rel, small)
}

// The change log accepts appends of complete JSON lines through the mount;
// truncating or rewriting it is refused.
func TestChangeLogAppendOnly(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	logPath := p.path(logRel)
	before := readFile(t, logPath)

	mustRun(t, p.Dir, "bash", "-c", `echo '{"a":1}' >> "$1"`, "bash", logRel)
	after := readFile(t, logPath)
	if !bytes.Equal(after, append(append([]byte{}, before...), "{\"a\":1}\n"...)) {
		t.Fatalf("after echo '{\"a\":1}' >> log, the log is\n%s\nwant the old log plus that line", after)
	}
	if res := pyWrite(t, p.Dir, logRel, "append", []byte("{\"b\": 2}\n{\"c\": 3}\n")); res.Errno != 0 {
		t.Fatalf("appending two JSON lines with O_APPEND: %s failed: %s", res.Stage, res.Error)
	}
	after = readFile(t, logPath)
	if !bytes.HasSuffix(after, []byte("{\"a\":1}\n{\"b\": 2}\n{\"c\": 3}\n")) {
		t.Fatalf("the appended lines are not at the end of the log:\n%s", after)
	}

	// Every refusal below leaves the log's content as a prefix and adds
	// one line saying so.
	refused := func(what string) {
		t.Helper()
		now := readFile(t, logPath)
		if !bytes.HasPrefix(now, after) {
			t.Fatalf("%s: the log was rewritten:\n%s", what, now)
		}
		var es []logEntry
		for _, line := range strings.Split(strings.TrimSuffix(string(now[len(after):]), "\n"), "\n") {
			var e logEntry
			if line == "" || json.Unmarshal([]byte(line), &e) != nil {
				t.Errorf("%s: the log got a line that is not JSON: %q", what, line)
				continue
			}
			e.Raw = line
			es = append(es, e)
		}
		if len(es) != 1 || es[0].Path != logRel || es[0].Errno == "" {
			t.Errorf("%s: want exactly one new log line about the refusal, got %v", what, es)
		}
		after = now
	}

	r := run(t, p.Dir, "bash", "-c", `: > "$1"`, "bash", logRel)
	if r.Code == 0 || !strings.Contains(r.Stderr, "Operation not permitted") {
		t.Errorf(": > log: %s\nwant a non-zero exit and \"Operation not permitted\"", r)
	}
	refused(": > log")

	res := pyWrite(t, p.Dir, logRel, "trunc", []byte("{\"x\": 1}\n"))
	if res.errno() != syscall.EPERM {
		t.Errorf("open(log, O_TRUNC) and write: %s errno %d (%s), want EPERM", res.Stage, res.Errno, res.Error)
	}
	refused("open(log, O_TRUNC)")

	res = pyWrite(t, p.Dir, logRel, "rw", []byte("{\"x\": 1}\n"))
	if res.errno() != syscall.EPERM {
		t.Errorf("rewriting the log from offset 0: %s errno %d (%s), want EPERM", res.Stage, res.Errno, res.Error)
	}
	refused("rewrite at offset 0")

	res = pyWrite(t, p.Dir, logRel, "append", []byte(`{"torn":`))
	if res.Errno == 0 {
		t.Errorf("appending an incomplete JSON line was accepted")
	}
	refused("append of an incomplete line")

	res = pyWrite(t, p.Dir, logRel, "append", []byte("not json\n"))
	if res.Errno == 0 {
		t.Errorf("appending a line that is not JSON was accepted")
	}
	refused("append of a non-JSON line")

	if err := os.Remove(logPath); errnoOf(err) != syscall.EPERM {
		t.Errorf("rm log: %v, want EPERM", err)
	}
	if _, err := os.Stat(p.backing(logRel)); err != nil {
		t.Errorf("the log is gone: %v", err)
	}
}

// paracfs log prints the change log.
func TestLogCommand(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	mustRun(t, p.Dir, "sed", "-i", "s/impact: medium/impact: high/", stateRel)
	if res := pyWrite(t, p.Dir, "config/logging.yaml", "trunc", []byte("level: warn\n")); res.Errno != 0 {
		t.Fatalf("write: %s", res.Error)
	}
	if res := pyWrite(t, p.Dir, stateRel, "trunc", []byte("a: [\n")); res.errno() != syscall.EBADMSG {
		t.Fatalf("invalid write: %s errno %d", res.Stage, res.Errno)
	}
	var lastCommit string
	for _, e := range forPath(logLines(t, p.Dir), stateRel) {
		if e.Op == "commit" {
			lastCommit = e.Raw
		}
	}
	if lastCommit == "" {
		t.Fatal("no commit line for the state file")
	}
	// From the project's directory (DIR found as the nearest .parac) and
	// with DIR named.
	for _, c := range []struct {
		dir  string
		args []string
	}{
		{p.Root, []string{"log", "--path", stateRel, "--op", "commit", "-n", "1", "--json"}},
		{"/", []string{"log", "--path", stateRel, "--op", "commit", "-n", "1", "--json", p.Dir}},
	} {
		r := paracfs(t, c.dir, c.args...)
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != lastCommit {
			t.Errorf("paracfs %s (in %s): %s\nwant exactly the last commit line:\n%s", strings.Join(c.args, " "), c.dir, r, lastCommit)
		}
	}
	// The brief's form: the last line of the path is then the refusal.
	r := paracfs(t, p.Root, "log", "--path", stateRel, "-n", "1", "--json")
	var e logEntry
	if r.Code != 0 || json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &e) != nil || e.Op != "invalid" || e.Path != stateRel {
		t.Errorf("paracfs log --path %s -n 1 --json: %s\nwant the invalid line", stateRel, r)
	}
	r = paracfs(t, p.Root, "log", "--path", stateRel)
	if r.Code != 0 || strings.Count(strings.TrimSpace(r.Stdout), "\n") != 1 {
		t.Errorf("paracfs log --path %s: %s\nwant 2 lines (one commit, one refusal)", stateRel, r)
	}
}
