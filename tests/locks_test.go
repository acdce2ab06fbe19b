package tests

// Locks are shared: flock() and fcntl() locks taken through the mount are
// real locks on the backing files, so the daemon's commit of x.yaml waits
// for whoever holds x.yaml.lock, through the mount or directly; and the
// common patterns that lock and then edit do not deadlock.

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// `flock x.yaml.lock -c CMD` through the mount holds off another
// process's commit of x.yaml until CMD is done; then the commit goes
// through. In event order, with no clock: the commit waits (the daemon
// holds a descriptor on the lock) and has not returned while flock holds
// the lock; it returns once CMD said it was done and flock let go.
func TestFlockLockFileDelaysCommit(t *testing.T) {
	t.Parallel()
	needTool(t, "flock")
	p := newProject(t)
	mount(t, p)
	n := len(logLines(t, p.Dir))
	holder, stderr := startHeld(t, p.Dir, "locked", "flock", stateRel+".lock", "-c", "echo locked; read line; echo releasing")
	before := daemonFds(t, p, stateRel+".lock")

	content := replace(t, fixture(t, stateRel), "blockers: []", "blockers: [flocked]")
	h := pyOpenHeld(t, p.Dir, stateRel, "trunc", content)
	h.start()
	out := edLineChan(h.out)
	waitDaemonOpens(t, p, stateRel+".lock", before) // the commit now waits for the lock
	if line, ok := edNextLine(out, 0); ok {
		t.Fatalf("the commit returned while flock held %s.lock: %s", stateRel, line)
	}
	edAssertContent(t, p, stateRel, fixture(t, stateRel))
	io.WriteString(holder.stdin, "go\n")
	if line, err := readLineTimeout(holder.out, eventWait); err != nil || line != "releasing" {
		t.Fatalf("flock's command: %q %v\nstderr: %s", line, err, stderr.String())
	}
	line, ok := edNextLine(out, eventWait)
	var res pyResult
	if !ok || json.Unmarshal([]byte(line), &res) != nil {
		t.Fatalf("the held commit did not finish after flock let go: %q", line)
	}
	if res.Errno != 0 {
		t.Fatalf("the commit after the lock was released failed: %s: %s", res.Stage, res.Error)
	}
	if err := holder.cmd.Wait(); err != nil {
		t.Errorf("flock -c: %v\nstderr: %s", err, stderr.String())
	}
	want := replace(t, content, "revision: 11", "revision: 12")
	edAssertContent(t, p, stateRel, want)
	lines := logSince(t, p.Dir, n)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line, got %d:%s", len(lines), edDescribe(lines))
	}
	checkCommitLine(t, lines[0], stateRel, res.Pid, "python3", 11, 12, want)
}

// A process holding the backing x.yaml.lock directly (paracle's library
// working on DIR while DIR is mounted elsewhere) holds off the daemon's
// commit through the other mountpoint until it lets go.
func TestBackingLockExcludesCommitElsewhere(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mp := edMountElsewhere(t, p)
	n := len(logLines(t, p.Dir))
	unlock := lockBacking(t, p, stateRel+".lock") // flock on DIR/x.yaml.lock, not through the mount
	content := replace(t, fixture(t, stateRel), "blockers: []", "blockers: [excluded]")
	pid := mountDaemonPid(t, p, mp)
	before := fdsTo(pid, p.path(stateRel+".lock"))
	h := pyOpenHeld(t, mp, stateRel, "trunc", content)
	h.start()
	out := edLineChan(h.out)
	// The commit is waiting for the lock once the daemon holds a
	// descriptor on it: then, and not after some duration, it must not
	// have finished.
	waitUntil(t, "the daemon to wait for "+stateRel+".lock", func() bool { return fdsTo(pid, p.path(stateRel+".lock")) > before })
	if line, ok := edNextLine(out, 0); ok {
		t.Fatalf("the commit through %s finished while DIR's %s.lock was held: %s", mp, stateRel, line)
	}
	edAssertContentAt(t, filepath.Join(mp, stateRel), fixture(t, stateRel))
	unlock()
	line, ok := edNextLine(out, eventWait)
	var res pyResult
	if !ok || json.Unmarshal([]byte(line), &res) != nil {
		t.Fatalf("the held commit did not finish after the lock was released: %q", line)
	}
	if res.Errno != 0 {
		t.Fatalf("the held commit failed: %s: %s", res.Stage, res.Error)
	}
	want := replace(t, content, "revision: 11", "revision: 12")
	edAssertContentAt(t, filepath.Join(mp, stateRel), want)
	edAssertContentAt(t, filepath.Join(p.Dir, stateRel), want)
	lines := logSince(t, p.Dir, n)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line, got %d:%s", len(lines), edDescribe(lines))
	}
	checkCommitLine(t, lines[0], stateRel, res.Pid, "python3", 11, 12, want)
}

// `flock x.yaml -c 'sed -i ... x.yaml'` locks the file itself, which the
// daemon never takes: it does not deadlock.
func TestFlockFileItselfNoDeadlock(t *testing.T) {
	t.Parallel()
	needTool(t, "flock", "sed")
	p := newProject(t)
	mount(t, p, "--lock-timeout", "5s")
	n := len(logLines(t, p.Dir))
	// Had the commit waited for the flock sed's parent holds, it would have
	// ended in ETIMEDOUT after --lock-timeout: sed would fail and the log
	// would show lock_timeout. Its exit status and the commit line say it
	// did not, with no clock.
	r := run(t, p.Dir, "flock", stateRel, "-c", "echo $$; exec sed -i 's/tests_passing: 409/tests_passing: 410/' "+stateRel)
	if r.Code != 0 {
		t.Fatalf("flock %s -c 'sed -i ...': %s\nlog:%s", stateRel, r, edDescribe(logSince(t, p.Dir, n)))
	}
	pid := parsePid(t, r.Stdout)
	want := replace(t, replace(t, fixture(t, stateRel), "tests_passing: 409", "tests_passing: 410"), "revision: 11", "revision: 12")
	edAssertContent(t, p, stateRel, want)
	lines := logSince(t, p.Dir, n)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line, got %d:%s", len(lines), edDescribe(lines))
	}
	checkCommitLine(t, lines[0], stateRel, pid, "sed", 11, 12, want)
}

// `flock x.yaml.lock -c 'sed -i ... x.yaml'`: the writer is the lock
// holder's child (or, when the shell forks it, its grandchild), and its
// commit runs inside that critical section instead of waiting for it
// (which would only end in ETIMEDOUT after --lock-timeout).
func TestFlockLockFileChildWriter(t *testing.T) {
	t.Parallel()
	needTool(t, "flock", "sed")
	sed := "sed -i 's/tests_passing: 409/tests_passing: 410/' " + stateRel
	for _, c := range []struct{ name, cmd string }{
		{"child", "echo $$; exec " + sed},                 // sh execs sed: flock's child
		{"grandchild", sed + " & echo $!; wait $!; true"}, // sh forks sed: flock's grandchild
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			mount(t, p, "--lock-timeout", "5s")
			n := len(logLines(t, p.Dir))
			// A commit that waited for its own ancestor's lock would end
			// in ETIMEDOUT after --lock-timeout: sed would fail and the
			// log would show lock_timeout, which the checks below catch.
			r := run(t, p.Dir, "flock", stateRel+".lock", "-c", c.cmd)
			if r.Code != 0 {
				t.Fatalf("flock %s.lock -c %q: %s: the commit waited for its own ancestor's lock?\nlog:%s", stateRel, c.cmd, r, edDescribe(logSince(t, p.Dir, n)))
			}
			want := replace(t, replace(t, fixture(t, stateRel), "tests_passing: 409", "tests_passing: 410"), "revision: 11", "revision: 12")
			edAssertContent(t, p, stateRel, want)
			lines := logSince(t, p.Dir, n)
			if len(lines) != 1 {
				t.Fatalf("want 1 commit line, got %d:%s", len(lines), edDescribe(lines))
			}
			checkCommitLine(t, lines[0], stateRel, parsePid(t, r.Stdout), "sed", 11, 12, want)
		})
	}
}

// A lock held through the mount past --lock-timeout: the writer gets
// ETIMEDOUT ("Connection timed out") and the log a lock_timeout line; the
// file is untouched and the refused bytes kept.
func TestFlockHeldPastLockTimeout(t *testing.T) {
	t.Parallel()
	needTool(t, "flock", "sed")
	p := newProject(t)
	mount(t, p, "--lock-timeout", "1s")
	n := len(logLines(t, p.Dir))
	// flock holds the lock until the test lets it go, at the end.
	holder, stderr := startHeld(t, p.Dir, "locked", "flock", stateRel+".lock", "-c", "echo locked; read line; echo releasing")

	// python: close() fails with ETIMEDOUT.
	content := replace(t, fixture(t, stateRel), "blockers: []", "blockers: [timeout]")
	start := time.Now()
	res := pyWrite(t, p.Dir, stateRel, "trunc", content)
	took := time.Since(start)
	if res.errno() != syscall.ETIMEDOUT || res.Stage != "close" {
		t.Errorf("python write while flock holds %s.lock: %s errno %d (%s), want close() to fail with ETIMEDOUT", stateRel, res.Stage, res.Errno, res.Error)
	}
	// A lower bound only: the refusal must come after the timeout, never
	// before. The holder keeps the lock until the end of the test, so a
	// commit that waited for it would hang, not fail.
	if took < 900*time.Millisecond {
		t.Errorf("the refused commit took %s with --lock-timeout 1s: it did not wait", took)
	}
	// sed -i: its rename fails; sed says so.
	r := run(t, p.Dir, "sh", "-c", `echo $$; exec sed -i 's/tests_passing: 409/tests_passing: 410/' "$1"`, "sh", stateRel)
	t.Logf("sed -i while the lock is held: exit %d: %s", r.Code, strings.TrimSpace(r.Stderr))
	if r.Code == 0 || !strings.Contains(r.Stderr, "Connection timed out") {
		t.Errorf("sed -i while the lock is held: %s\nwant a failure with \"Connection timed out\"", r)
	}
	sedPid := parsePid(t, r.Stdout)
	edAssertContent(t, p, stateRel, fixture(t, stateRel))
	if got := rev(t, p.path(stateRel)); got != 11 {
		t.Errorf("revision = %d, want 11", got)
	}
	lines := logSince(t, p.Dir, n)
	if len(lines) != 2 {
		t.Fatalf("want 2 new log lines (lock_timeout for python and for sed), got %d:%s", len(lines), edDescribe(lines))
	}
	checkRefusalLine(t, p, lines[0], stateRel, "lock_timeout", "ETIMEDOUT", res.Pid, content)
	sedBytes := replace(t, fixture(t, stateRel), "tests_passing: 409", "tests_passing: 410")
	checkRefusalLine(t, p, lines[1], stateRel, "lock_timeout", "ETIMEDOUT", sedPid, sedBytes)
	if ents, err := os.ReadDir(p.path("memory/context")); err == nil {
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "sed") {
				t.Logf("note: sed left its temp file %s after its rename failed", e.Name())
			}
		}
	}
	// The lock was held all along: flock's command is still waiting.
	io.WriteString(holder.stdin, "go\n")
	if line, err := readLineTimeout(holder.out, eventWait); err != nil || line != "releasing" {
		t.Errorf("flock's command: %q %v (it should have held the lock until now)\nstderr: %s", line, err, stderr.String())
	}
}

// lockScript takes a lock on a file and reports. Modes: "hold" takes it
// (blocking), prints "locked", waits for a line on stdin, releases it and
// prints "released"; "probe" tries it without blocking and prints "busy"
// or "free". kind is lockf (fcntl record locks) or flock; excl is "ex" or
// "sh".
const lockScript = `import errno, fcntl, sys
mode, path, kind, excl = sys.argv[1:5]
f = open(path, "r+" if excl == "ex" else "r")
op = fcntl.LOCK_EX if excl == "ex" else fcntl.LOCK_SH
lock = fcntl.lockf if kind == "lockf" else fcntl.flock
if mode == "hold":
    try:
        lock(f, op)
    except OSError as e:
        print("error: %s (%s)" % (errno.errorcode.get(e.errno), e), flush=True)
        sys.exit(1)
    print("locked", flush=True)
    sys.stdin.readline()
    lock(f, fcntl.LOCK_UN)
    print("released", flush=True)
    sys.stdin.readline()
else:
    try:
        lock(f, op | fcntl.LOCK_NB)
        print("free")
    except OSError as e:
        if e.errno in (errno.EAGAIN, errno.EACCES):
            print("busy")
        else:
            print("error: %s (%s)" % (errno.errorcode.get(e.errno), e))
`

// fcntl record locks (python fcntl.lockf) and flock locks through the mount
// and on the backing files directly exclude each other, both ways: DIR is
// mounted elsewhere, one process locks through the mount and another
// probes DIR's file directly, and the other way round.
func TestLocksSharedWithBacking(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mp := edMountElsewhere(t, p)
	lockRel := stateRel + ".lock"
	if err := os.WriteFile(filepath.Join(mp, lockRel), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	n := len(logLines(t, p.Dir))
	cases := []struct {
		name, rel, kind, holdExcl string
		holdAt, probeAt           string
	}{
		{"lockf x.yaml.lock through the mount, probed directly", lockRel, "lockf", "ex", mp, p.Dir},
		{"lockf x.yaml.lock directly, probed through the mount", lockRel, "lockf", "ex", p.Dir, mp},
		{"lockf shared on x.yaml through the mount, probed directly", stateRel, "lockf", "sh", mp, p.Dir},
		{"lockf shared on x.yaml directly, probed through the mount", stateRel, "lockf", "sh", p.Dir, mp},
		{"lockf exclusive on x.yaml through the mount, probed directly", stateRel, "lockf", "ex", mp, p.Dir},
		{"flock x.yaml.lock through the mount, probed directly", lockRel, "flock", "ex", mp, p.Dir},
		{"flock x.yaml.lock directly, probed through the mount", lockRel, "flock", "ex", p.Dir, mp},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			probe := func() string {
				r := mustRun(t, c.probeAt, "python3", "-c", lockScript, "probe", c.rel, c.kind, "ex")
				return strings.TrimSpace(r.Stdout)
			}
			if got := probe(); got != "free" {
				t.Fatalf("before any lock, an exclusive %s on %s/%s: %q, want free", c.kind, c.probeAt, c.rel, got)
			}
			h := startPy(t, c.holdAt, lockScript, "hold", c.rel, c.kind, c.holdExcl)
			out := edLineChan(h.out)
			if line, ok := edNextLine(out, eventWait); line != "locked" {
				t.Fatalf("%s %s on %s/%s: %q %v, want locked", c.kind, c.holdExcl, c.holdAt, c.rel, line, ok)
			}
			if got := probe(); got != "busy" {
				t.Errorf("while %s holds %s %s on %s, an exclusive %s on %s is %q, want busy", c.holdAt, c.kind, c.holdExcl, c.rel, c.kind, c.probeAt, got)
			}
			h.stdin.Write([]byte("release\n"))
			if line, ok := edNextLine(out, eventWait); line != "released" {
				t.Fatalf("%s %s on %s/%s: %q %v, want locked", c.kind, c.holdExcl, c.holdAt, c.rel, line, ok)
			}
			if got := probe(); got != "free" {
				t.Errorf("after the holder released its lock, the probe says %q", got)
			}
		})
	}
	if lines := logSince(t, p.Dir, n); len(lines) != 0 {
		t.Errorf("taking locks logged%s", edDescribe(lines))
	}
	if !bytes.Equal(readFile(t, filepath.Join(p.Dir, stateRel)), fixture(t, stateRel)) {
		t.Errorf("locking changed %s", stateRel)
	}
}
