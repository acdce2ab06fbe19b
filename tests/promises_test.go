package tests

// Promises of the README and docs/ that had no test of their own (see
// docs/reliability.md, "Promises and their tests").

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// docs/errors.md: a rename onto P while P.lock is held through the mount
// by a process blocked in the kernel (here: on the directory the rename
// holds) is refused at once with EBUSY, logged as lock_busy, instead of a
// deadlock until --lock-timeout; the holder then goes on.
func TestPromiseLockBusy(t *testing.T) {
	t.Parallel()
	toolNeedPython(t)
	p := newProject(t)
	mount(t, p, "--lock-timeout", "10m") // a deadlock would show as a hang, not as a quick ETIMEDOUT
	dir := filepath.Dir(stateRel)
	const holder = `import fcntl, os, sys
f = open(sys.argv[1] + ".lock", "a")
fcntl.flock(f, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.readline()
open(os.path.join(os.path.dirname(sys.argv[1]), "beside.tmp"), "w").close()
print("created", flush=True)
`
	h, stderr := startHeld(t, p.Dir, "locked", toolPython, "-c", holder, stateRel)
	newBytes := replace(t, fixture(t, stateRel), "blockers: []", "blockers: [busy]")
	if err := writeMount(p.path(dir+"/new.tmp"), newBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	n := len(logLines(t, p.Dir))
	before := daemonFds(t, p, stateRel+".lock")
	mv := exec.Command("sh", "-c", `echo $$; exec mv "$1" "$2"`, "sh", dir+"/new.tmp", stateRel)
	mv.Dir = p.Dir
	var mvOut, mvErr bytes.Buffer
	mv.Stdout, mv.Stderr = &mvOut, &mvErr
	if err := mv.Start(); err != nil {
		t.Fatal(err)
	}
	mvDone := make(chan error, 1)
	go func() { mvDone <- mv.Wait() }()
	// The rename now waits for the lock, holding the directory.
	waitDaemonOpens(t, p, stateRel+".lock", before)
	h.stdin.Write([]byte("go\n")) // the holder creates a file in that directory: it blocks
	if line, err := readLineTimeout(h.out, eventWait); err != nil || line != "created" {
		// The holder waits in the kernel for the directory, the rename in
		// the daemon for the holder's lock: only killing the daemon
		// (which aborts the mount) frees them before --lock-timeout.
		killDaemon(t, p, p.daemonPid(t))
		t.Fatalf("the lock holder did not get to create its file (%q, %v): a deadlock\nstderr: %s", line, err, stderr.String())
	}
	if err := <-mvDone; err == nil || !strings.Contains(mvErr.String(), "Device or resource busy") {
		t.Errorf("mv onto %s while its lock's holder waits for the directory: %v, stderr %q; want a failure with \"Device or resource busy\"", stateRel, err, mvErr.String())
	}
	assertContent(t, p, stateRel, fixture(t, stateRel))
	lines := forPath(logSince(t, p.Dir, n), stateRel)
	if len(lines) != 1 {
		t.Fatalf("want one lock_busy line for %s, got %d:%s", stateRel, len(lines), edDescribe(lines))
	}
	checkRefusalLine(t, p, lines[0], stateRel, "lock_busy", "EBUSY", parsePid(t, mvOut.String()), newBytes)
	h.stdin.Close()
	h.cmd.Wait()
}

// docs/status.md: refusals other than conflicts, invalid content and lock
// timeouts are counted as "other refusals" (here: truncating the change
// log, which is append-only).
func TestPromiseStatusOtherRefusals(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	if r := run(t, p.Dir, "truncate", "-s", "0", logRel); r.Code == 0 || !strings.Contains(r.Stderr, "Operation not permitted") {
		t.Fatalf("truncate -s 0 of the change log: %s\nwant EPERM", r)
	}
	m := statusOf(t, p)
	if m.Counters == nil || m.Counters.Refused != 1 || m.Counters.Invalid != 0 || m.Counters.Conflicts != 0 {
		t.Errorf("status --json after a truncation of the change log: counters %+v, want refused 1, nothing else", m.Counters)
	}
	r := paracfs(t, p.Root, "status", "--wait", ownStatusWait, p.Dir)
	if r.Code != 0 || !strings.Contains(r.Stdout, "other refusals 1") {
		t.Errorf("paracfs status after one append_only refusal: %s\nwant \"other refusals 1\"", r)
	}
}

// README: --max-size defaults to 16MiB: a managed file of exactly 16 MiB
// commits, one byte more is refused with EFBIG at close() and kept whole.
func TestPromiseDefaultMaxSize(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	if m := statusOf(t, p); m.Config["max_size"] != float64(16<<20) {
		t.Errorf("status config max_size = %v, want 16777216 (16MiB) by default", m.Config["max_size"])
	}
	big := bytes.Repeat([]byte("0123456789abcde\n"), 1<<20) // 16 MiB
	if res := pyWriteRaw(t, p.Dir, "memory/knowledge/big.md", "trunc", big); res.Errno != 0 {
		t.Fatalf("16 MiB of Markdown with the default --max-size: %s %s", res.Stage, res.Error)
	}
	if st, err := os.Stat(p.path("memory/knowledge/big.md")); err != nil || st.Size() != 16<<20 {
		t.Errorf("the 16 MiB file: %v %v", st, err)
	}
	n := len(logLines(t, p.Dir))
	over := append(big, '\n')
	res := pyWriteRaw(t, p.Dir, "memory/knowledge/over.md", "trunc", over)
	if res.errno() != syscall.EFBIG || res.Stage != "close" {
		t.Fatalf("16 MiB + 1 byte: %s errno %d (%s), want close() to fail with EFBIG", res.Stage, res.Errno, res.Error)
	}
	if _, err := os.Lstat(p.path("memory/knowledge/over.md")); !os.IsNotExist(err) {
		t.Errorf("a refused first write left its name: %v", err)
	}
	lines := forPath(logSince(t, p.Dir, n), "memory/knowledge/over.md")
	if len(lines) != 1 {
		t.Fatalf("want one too_large line, got %d", len(lines))
	}
	checkRefusalLine(t, p, lines[0], "memory/knowledge/over.md", "too_large", "EFBIG", res.Pid, over)
}

// README: --debug traces every FUSE request to stderr (with -f).
func TestPromiseDebugTrace(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	fg := mountForeground(t, p, "--debug")
	readFile(t, p.path("project.yaml"))
	// go-fuse's trace: a line per request received ("rx N: OP ...") and
	// per reply sent ("tx N: ...").
	defer func() {
		if t.Failed() {
			t.Logf("trace:\n%s", short(fg.out.String()))
		}
	}()
	waitUntil(t, "a traced LOOKUP of project.yaml and its READ", func() bool {
		return traced(fg.out.String(), "LOOKUP", "project.yaml") && traced(fg.out.String(), "READ", "")
	})
	if !strings.Contains(fg.out.String(), "tx ") {
		t.Errorf("--debug traced no reply (tx lines)")
	}
}

// traced reports whether a trace has a request line of op naming what.
func traced(out, op, what string) bool {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if i := strings.Index(l, "rx "); i >= 0 && strings.Contains(l[i:], ": "+op+" ") && strings.Contains(l, what) {
			return true
		}
	}
	return false
}

// docs/commit.md: git replaces a file by deleting and re-creating it; a
// reader looping over the file through the mount never misses it nor sees
// it partial, across branch switches (each a restore of a version),
// and the reads are shown to overlap the replacements.
func TestPromiseReaderDuringGitReplace(t *testing.T) {
	t.Parallel()
	needTool(t, "git")
	p := newProject(t)
	mount(t, p)
	git := func(args ...string) result {
		t.Helper()
		return mustRun(t, p.Root, "git", append([]string{"-c", "user.name=t", "-c", "user.email=t@t", "-c", "core.fsync=none"}, args...)...)
	}
	git("init", "-q", "-b", "main")
	git("add", ".parac/"+stateRel)
	git("commit", "-q", "-m", "main")
	git("checkout", "-q", "-b", "bumped")
	if res := pyWrite(t, p.Dir, stateRel, "trunc", replace(t, fixture(t, stateRel), "blockers: []", "blockers: [git]")); res.Errno != 0 {
		t.Fatalf("edit on branch bumped: %s", res.Error)
	}
	git("commit", "-q", "-am", "bumped")
	n := len(logLines(t, p.Dir))
	reader := startReader(t, p, stateRel, "revision")
	const switches = 40
	for i := 0; i < switches; i++ {
		git("checkout", "-q", "main")
		git("checkout", "-q", "bumped")
	}
	reader.finish(t, p, n, stateRel, strconv.Itoa(2*switches)+" git checkouts")
	if r := git("status", "--porcelain", "--untracked-files=no"); strings.TrimSpace(r.Stdout) != "" {
		t.Errorf("git status after the checkouts: %q, want a clean tree", r.Stdout)
	}
}

// interruptedWriter writes argv[2] to argv[1] and closes it, with a
// handler for SIGUSR1 (a Go program gets SIGURG all the time), printing
// "written" before the close and its outcome after.
const interruptedWriter = `import json, os, signal, sys
signal.signal(signal.SIGUSR1, lambda *a: None)
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
os.write(fd, sys.argv[2].encode())
print("written", flush=True)
res = {"pid": os.getpid(), "errno": 0}
try:
    os.close(fd)
except OSError as e:
    res["errno"] = e.errno
print(json.dumps(res), flush=True)
`

// docs/commit.md: a commit is never aborted by the caller's interrupt;
// once started it finishes. The writer's close() waits for P.lock; it gets
// signals, which the kernel passes on to the daemon as FUSE INTERRUPT
// requests (seen in the --debug trace: the interrupt had its chance); the
// commit still waits, then lands once the lock is free, and close()
// returns 0.
func TestPromiseCommitNotInterrupted(t *testing.T) {
	t.Parallel()
	toolNeedPython(t)
	p := newProject(t)
	fg := mountForeground(t, p, "--debug")
	defer func() {
		if t.Failed() {
			t.Logf("trace:\n%s", short(fg.out.String()))
		}
	}()
	n := len(logLines(t, p.Dir))
	unlock := lockBacking(t, p, stateRel+".lock")
	before := daemonFds(t, p, stateRel+".lock")
	content := replace(t, fixture(t, stateRel), "blockers: []", "blockers: [interrupted]")
	h, stderr := startHeld(t, p.Dir, "written", toolPython, "-c", interruptedWriter, stateRel, string(content))
	out := edLineChan(h.out)
	waitDaemonOpens(t, p, stateRel+".lock", before) // close() now waits in the commit
	interrupts := strings.Count(fg.out.String(), ": INTERRUPT ")
	waitUntil(t, "a FUSE INTERRUPT for the writer's close", func() bool {
		h.cmd.Process.Signal(syscall.SIGUSR1)
		return strings.Count(fg.out.String(), ": INTERRUPT ") > interrupts
	})
	if line, ok := edNextLine(out, 0); ok {
		t.Fatalf("the writer's close() returned while %s.lock was held: %s", stateRel, line)
	}
	unlock()
	line, ok := edNextLine(out, eventWait)
	var res pyResult
	if !ok || json.Unmarshal([]byte(line), &res) != nil {
		t.Fatalf("writer: %q\nstderr: %s", line, stderr.String())
	}
	if res.Errno != 0 {
		t.Errorf("the interrupted writer's close() failed with %s; want the commit finished and 0", res.errno())
	}
	want := replace(t, content, "revision: 11", "revision: 12")
	assertContent(t, p, stateRel, want)
	lines := forPath(logSince(t, p.Dir, n), stateRel)
	if len(lines) != 1 {
		t.Fatalf("want one commit line, got %d:%s", len(lines), edDescribe(lines))
	}
	checkCommitLine(t, lines[0], stateRel, res.Pid, "python3", 11, 12, want)
}
