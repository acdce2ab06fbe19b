package tests

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// oneLine asserts that a failed command said why in exactly one line on
// stderr, starting with prefix.
func oneLine(t *testing.T, what string, r result, code int, prefix string) {
	t.Helper()
	if r.Code != code {
		t.Errorf("%s: %s\nwant exit %d", what, r, code)
	}
	lines := strings.Split(strings.TrimRight(r.Stderr, "\n"), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], prefix) || len(lines[0]) <= len(prefix)+5 {
		t.Errorf("%s: stderr = %q, want one clear line starting with %q", what, r.Stderr, prefix)
	}
}

func TestCLIMountErrors(t *testing.T) {
	t.Parallel()
	p := newProject(t)

	t.Run("missing DIR", func(t *testing.T) {
		missing := filepath.Join(p.Root, "no-such-dir")
		r := paracfs(t, p.Root, "mount", missing)
		oneLine(t, "paracfs mount "+missing, r, 1, "paracfs mount: ")
		if !strings.Contains(r.Stderr, missing) {
			t.Errorf("the error does not name %s: %q", missing, r.Stderr)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Errorf("paracfs mount created %s", missing)
		}
	})
	t.Run("DIR is a file", func(t *testing.T) {
		file := filepath.Join(p.Root, "a-file")
		os.WriteFile(file, []byte("x"), 0o644)
		r := paracfs(t, p.Root, "mount", file)
		oneLine(t, "paracfs mount "+file, r, 1, "paracfs mount: ")
		if !strings.Contains(r.Stderr, "not a directory") {
			t.Errorf("want \"not a directory\" in %q", r.Stderr)
		}
	})
	t.Run("no .parac found", func(t *testing.T) {
		// Outside any project: nothing above runDir has a .parac.
		empty, err := os.MkdirTemp(runDir, "no-parac-")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(empty)
		r := paracfs(t, empty, "mount")
		if r.Code == 0 {
			t.Fatalf("paracfs mount with no .parac at or above the cwd: %s\nwant a failure", r)
		}
		oneLine(t, "paracfs mount (no .parac)", r, r.Code, "paracfs mount: ")
	})
	if n := len(mountsUnder(p.Root)); n != 0 {
		t.Fatalf("failed mounts left %d mounts", n)
	}
	t.Run("already mounted", func(t *testing.T) {
		mount(t, p)
		r := paracfs(t, p.Root, "mount", p.Dir)
		oneLine(t, "paracfs mount (twice)", r, 1, "paracfs mount: ")
		if !strings.Contains(r.Stderr, "already mounted") {
			t.Errorf("want \"already mounted\" in %q", r.Stderr)
		}
		if n := countMounts(p.Dir); n != 1 {
			t.Errorf("%d mounts on %s, want 1", n, p.Dir)
		}
		// The first mount still serves.
		if got := readFile(t, p.path(stateRel)); !bytes.Equal(got, fixture(t, stateRel)) {
			t.Errorf("the first mount no longer serves the fixture")
		}
		unmountCmd(t, p)
		if r := paracfs(t, p.Root, "unmount", p.Dir); r.Code == 0 {
			t.Errorf("paracfs unmount of a directory that is not mounted: exit 0, want a failure\n%s", r)
		}
	})
	t.Run("already mounted elsewhere", func(t *testing.T) {
		elsewhere := filepath.Join(p.Root, "elsewhere")
		if err := os.Mkdir(elsewhere, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { unmountAll(t, p.Root) })
		if r := paracfs(t, p.Root, "mount", p.Dir, elsewhere); r.Code != 0 || !isMounted(elsewhere) {
			t.Fatalf("paracfs mount %s %s: %s", p.Dir, elsewhere, r)
		}
		r := paracfs(t, p.Root, "mount", p.Dir)
		oneLine(t, "paracfs mount (DIR served elsewhere)", r, 1, "paracfs mount: ")
		if !strings.Contains(r.Stderr, "already mounted") || !strings.Contains(r.Stderr, elsewhere) {
			t.Errorf("want \"already mounted\" and %s in %q", elsewhere, r.Stderr)
		}
		if n := countMounts(p.Dir); n != 0 {
			t.Errorf("%d mounts on %s, want 0", n, p.Dir)
		}
	})
}

func TestCLIHelpAndUsage(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{
		{"--help"}, {"mount", "--help"}, {"unmount", "--help"}, {"umount", "--help"},
		{"status", "--help"}, {"log", "--help"}, {"version", "--help"}, {"mount", "-h"},
	} {
		r := paracfs(t, "/", args...)
		out := r.Stdout + r.Stderr
		if r.Code != 0 || !strings.Contains(out, "Usage") {
			t.Errorf("paracfs %s: %s\nwant exit 0 and a usage text", strings.Join(args, " "), r)
		}
	}
	// Every command the top-level usage lists has --help, and refuses an
	// unknown flag with exit 2 and one line that says where to look.
	r := paracfs(t, "/", "--help")
	cmds := regexp.MustCompile(`(?m)^  ([a-z]+) `).FindAllStringSubmatch(r.Stderr, -1)
	if len(cmds) < 13 {
		t.Fatalf("paracfs --help lists %d commands, want every one:\n%s", len(cmds), r.Stderr)
	}
	for _, m := range cmds {
		c := m[1]
		r := paracfs(t, "/", c, "--help")
		if r.Code != 0 || !strings.HasPrefix(r.Stderr, "Usage: paracfs "+c+" ") {
			t.Errorf("paracfs %s --help: %s\nwant exit 0 and a usage text", c, r)
		}
		r = paracfs(t, "/", c, "--no-such-flag")
		code := 2
		if c == "exec" {
			code = 125 // exec's own failures, apart from CMD's statuses
		}
		oneLine(t, "paracfs "+c+" --no-such-flag", r, code, "paracfs "+c+": ")
		if !strings.Contains(r.Stderr, "run 'paracfs "+c+" --help'") {
			t.Errorf("paracfs %s --no-such-flag: %q, want it to point at --help", c, r.Stderr)
		}
	}
	r = paracfs(t, "/", "no-such-command")
	if r.Code != 2 {
		t.Errorf("paracfs no-such-command: %s\nwant exit 2", r)
	}
	r = paracfs(t, "/", "version")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) == "" {
		t.Errorf("paracfs version: %s", r)
	}
}

// Mounted in place: DIR shows its own files and protects them; after
// unmount they are plain files holding every committed change.
func TestInPlace(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	// As a user does: from the project, no arguments.
	mountWith(t, p, p.Root, "mount")
	found := false
	for _, m := range paracfsMounts() {
		if m.Mountpoint == p.Dir {
			found = true
			if m.Source != p.Dir {
				t.Errorf("mount source = %s, want the backing directory %s itself", m.Source, p.Dir)
			}
		}
	}
	if !found {
		t.Fatalf("%s is not mounted", p.Dir)
	}

	// The original files, byte for byte.
	var rels []string
	filepath.WalkDir("testdata/parac", func(path string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			rel, _ := filepath.Rel("testdata/parac", path)
			rels = append(rels, rel)
		}
		return nil
	})
	for _, rel := range rels {
		if got, err := os.ReadFile(p.path(rel)); err != nil || !bytes.Equal(got, fixture(t, rel)) {
			t.Errorf("%s through the in-place mount: %v\n got %q\nwant %q", rel, err, got, fixture(t, rel))
		}
	}
	// The listing is DIR's own (.paracfs/ may be hidden from it).
	var top []string
	ents, err := os.ReadDir(p.Dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.Name() != ".paracfs" {
			top = append(top, e.Name())
		}
	}
	var want []string
	fents, _ := os.ReadDir("testdata/parac")
	for _, e := range fents {
		want = append(want, e.Name())
	}
	sort.Strings(want)
	if strings.Join(top, " ") != strings.Join(want, " ") {
		t.Errorf("ls %s = %v, want %v", p.Dir, top, want)
	}
	if st, err := os.Stat(p.path(".paracfs/rejected")); err != nil || !st.IsDir() {
		t.Errorf(".paracfs/rejected through the mount: %v", err)
	}

	// Protected: an invalid write is refused.
	if res := pyWrite(t, p.Dir, "roadmap/roadmap.yaml", "trunc", []byte("phases: [\n")); res.errno() != syscall.EBADMSG {
		t.Errorf("invalid write through the in-place mount: %s errno %d (%s), want EBADMSG", res.Stage, res.Errno, res.Error)
	}
	// Commits by three tools.
	mustRun(t, p.Dir, "sed", "-i", "s/severity: medium/severity: high/", stateRel)
	if res := pyWrite(t, p.Dir, "project.yaml", "trunc", []byte("name: orbit-notes\nversion: 0.5.0\n")); res.Errno != 0 {
		t.Fatalf("python write: %s", res.Error)
	}
	mustRun(t, p.Dir, "bash", "-c", `printf '# Coder\nWrites the code.\n' > agents/specs/coder.md`)
	committed := map[string][]byte{}
	for _, rel := range rels {
		committed[rel] = readFile(t, p.path(rel))
	}
	wantState := replace(t, replace(t, fixture(t, stateRel), "severity: medium", "severity: high"), "revision: 11", "revision: 12")
	if !bytes.Equal(committed[stateRel], wantState) {
		t.Errorf("%s after sed -i:\n%s", stateRel, committed[stateRel])
	}
	if string(committed["project.yaml"]) != "name: orbit-notes\nversion: 0.5.0\n" || string(committed["agents/specs/coder.md"]) != "# Coder\nWrites the code.\n" {
		t.Errorf("commits not visible: project.yaml %q, coder.md %q", committed["project.yaml"], committed["agents/specs/coder.md"])
	}

	// paracfs status lists the mount.
	r := mustRun(t, p.Root, paracfsBin, "status", "--json")
	var st struct {
		Mounts []struct {
			Dir, Mountpoint string
			Pid             int
		}
	}
	if err := json.Unmarshal([]byte(r.Stdout), &st); err != nil {
		t.Errorf("paracfs status --json: %v\n%s", err, r.Stdout)
	}
	listed := false
	for _, m := range st.Mounts {
		if m.Mountpoint == p.Dir && m.Dir == p.Dir && m.Pid == p.daemonPid(t) && m.Pid > 0 {
			listed = true
		}
	}
	if !listed {
		t.Errorf("paracfs status --json does not list %s with its daemon pid:\n%s", p.Dir, r.Stdout)
	}

	// As a user does: from the project, no arguments.
	r = paracfs(t, p.Root, "unmount")
	if r.Code != 0 || isMounted(p.Dir) {
		t.Fatalf("paracfs unmount (from %s): %s; still mounted: %v", p.Root, r, isMounted(p.Dir))
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(p.Dir, &sfs); err != nil || sfs.Type == fuseSuperMagic {
		t.Fatalf("%s is still a FUSE filesystem after unmount", p.Dir)
	}
	for rel, want := range committed {
		if got, err := os.ReadFile(p.path(rel)); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after unmount: %v\n got %q\nwant %q", rel, err, got, want)
		}
	}
	if tmps := findTemps(t, p.Dir); len(tmps) > 0 {
		t.Errorf("temp files left: %v", tmps)
	}
	// .paracfs/ is kept out of git.
	if b, err := os.ReadFile(p.meta(".gitignore")); err != nil || !strings.Contains(string(b), "*") {
		t.Errorf(".paracfs/.gitignore: %q, %v; want it to ignore everything", b, err)
	}
}

// Revisions survive a remount, with or without a revision field.
func TestRevisionSurvivesRemount(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	mustRun(t, p.Dir, "sed", "-i", "s/severity: medium/severity: high/", stateRel)
	for i := 0; i < 3; i++ {
		if res := pyWrite(t, p.Dir, "config/logging.yaml", "trunc", []byte("level: debug\nn: "+string(rune('0'+i))+"\n")); res.Errno != 0 {
			t.Fatal(res.Error)
		}
	}
	unmountCmd(t, p)
	mount(t, p)
	if got := rev(t, p.path(stateRel)); got != 12 {
		t.Errorf("%s revision after remount = %d, want 12", stateRel, got)
	}
	if got := rev(t, p.path("config/logging.yaml")); got != 3 {
		t.Errorf("config/logging.yaml (no revision field) revision after remount = %d, want 3", got)
	}
	// And the count goes on.
	if res := pyWrite(t, p.Dir, "config/logging.yaml", "trunc", []byte("level: info\n")); res.Errno != 0 {
		t.Fatal(res.Error)
	}
	if got := rev(t, p.path("config/logging.yaml")); got != 4 {
		t.Errorf("revision after one more commit = %d, want 4", got)
	}
}

// kill -9 of the daemon: the next mount cleans up the stale mount and the
// temp file of a commit it interrupted; files are intact.
func TestCrashRecovery(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	mustRun(t, p.Dir, "sed", "-i", "s/severity: medium/severity: high/", stateRel)
	committed := readFile(t, p.path(stateRel))
	pid := p.daemonPid(t)
	if pid <= 0 {
		t.Fatal("no daemon pid in .paracfs/daemon.json")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !waitGone(pid, eventWait) {
		t.Fatalf("daemon %d still alive after kill -9", pid)
	}
	if err := waitNotConnected(p.Dir); errnoOf(err) != syscall.ENOTCONN {
		t.Errorf("stat of the dead mount: %v, want ENOTCONN (Transport endpoint is not connected)", err)
	}
	// What a commit interrupted by the crash leaves: a temp file beside
	// its target.
	tmp := "memory/context/.paracfs-tmp.current_state.yaml.0123456789ab"
	if err := os.WriteFile(p.backing(tmp), []byte("revision: 13\nproj"), 0o600); err != nil {
		t.Fatal(err)
	}

	r := paracfs(t, p.Root, "mount", p.Dir)
	if r.Code != 0 {
		t.Fatalf("paracfs mount after kill -9: %s\ndaemon.log:\n%s", r, p.daemonLog())
	}
	if !strings.Contains(r.Stdout+r.Stderr, "stale") {
		t.Errorf("paracfs mount after kill -9 does not say it cleaned up the stale mount: %s", r)
	}
	if n := countMounts(p.Dir); n != 1 {
		t.Errorf("%d mounts on %s after the remount, want 1", n, p.Dir)
	}
	if pid := p.daemonPid(t); pid > 0 {
		p.addPid(pid)
	}
	assertContent(t, p, stateRel, committed)
	if got := rev(t, p.path(stateRel)); got != 12 {
		t.Errorf("revision after the crash = %d, want 12", got)
	}
	if tmps := findTemps(t, p.backing("")); len(tmps) > 0 {
		t.Errorf("temp files left in DIR after the remount: %v", tmps)
	}
	// It serves commits again.
	mustRun(t, p.Dir, "sed", "-i", "s/impact: medium/impact: low/", stateRel)
	if got := rev(t, p.path(stateRel)); got != 13 {
		t.Errorf("revision after a commit on the new daemon = %d, want 13", got)
	}
	unmountCmd(t, p)
	if tmps := findTemps(t, p.Dir); len(tmps) > 0 {
		t.Errorf("temp files left in DIR: %v", tmps)
	}
}

// kill -9 while a writer commits in a loop: afterwards the file is the last
// acknowledged version or the one in flight, never anything else.
func TestCrashDuringCommits(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	pid := p.daemonPid(t)
	if pid <= 0 {
		t.Fatal("no daemon pid")
	}
	const script = `import json, os, re, sys
p = sys.argv[1]
acked, err = 0, ""
print("started", flush=True)
for i in range(1, 100000):
    try:
        text = open(p).read()
        new = re.sub(r"test_count: \d+", "test_count: %d" % i, text)
        with open(p, "w") as f:
            f.write(new)
    except OSError as e:
        err = str(e)
        break
    acked = i
print(json.dumps({"acked": acked, "error": err}), flush=True)
`
	h := startPy(t, p.Dir, script, stateRel)
	if line, err := readLineTimeout(h.out, eventWait); line != "started" {
		t.Fatalf("writer did not start: %q %v", line, err)
	}
	// Let it commit a few dozen times (seen on the file's revision), then
	// kill the daemon mid-stream.
	waitUntil(t, "30 commits by the writer", func() bool { return rev(t, p.path(stateRel)) >= 11+30 })
	syscall.Kill(pid, syscall.SIGKILL)
	if !waitGone(pid, eventWait) {
		t.Fatalf("daemon %d still alive after kill -9", pid)
	}
	var out struct {
		Acked int
		Error string
	}
	line, err := readLineTimeout(h.out, eventWait)
	if err != nil || json.Unmarshal([]byte(line), &out) != nil {
		t.Fatalf("writer: %q %v", line, err)
	}
	h.cmd.Wait()
	if err := waitNotConnected(p.Dir); errnoOf(err) != syscall.ENOTCONN {
		t.Errorf("stat of the dead mount: %v, want ENOTCONN (Transport endpoint is not connected)", err)
	}
	if out.Acked < 3 {
		t.Fatalf("the writer committed only %d times before the crash (%s): too few to test anything", out.Acked, out.Error)
	}
	t.Logf("writer: %d commits acknowledged, then: %s", out.Acked, out.Error)

	r := paracfs(t, p.Root, "mount", p.Dir)
	if r.Code != 0 {
		t.Fatalf("paracfs mount after kill -9: %s", r)
	}
	if pid := p.daemonPid(t); pid > 0 {
		p.addPid(pid)
	}
	got := readFile(t, p.path(stateRel))
	ok := false
	for _, k := range []int{out.Acked, out.Acked + 1} {
		want := replace(t, replace(t, fixture(t, stateRel), "test_count: 412", "test_count: "+itoa(k)), "revision: 11", "revision: "+itoa(11+k))
		if bytes.Equal(got, want) {
			ok = true
			if r := rev(t, p.path(stateRel)); r != int64(11+k) {
				t.Errorf("xattr revision %d does not match the content's revision %d", r, 11+k)
			}
		}
	}
	if !ok {
		t.Errorf("after kill -9 with %d commits acknowledged, %s is neither version %d nor %d:\n%s", out.Acked, stateRel, out.Acked, out.Acked+1, got)
	}
	if tmps := findTemps(t, p.backing("")); len(tmps) > 0 {
		t.Errorf("temp files left in DIR after the remount: %v", tmps)
	}
	lines := logLines(t, p.Dir) // every line complete JSON (a torn last line is repaired)
	if len(lines) == 0 {
		t.Error("empty log")
	}
}

// SIGTERM to a foreground daemon: it unmounts and exits 0.
func TestSIGTERMForeground(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	fg := mountForeground(t, p)
	if res := pyWrite(t, p.Dir, "config/logging.yaml", "trunc", []byte("level: debug\n")); res.Errno != 0 {
		t.Fatalf("write: %s", res.Error)
	}
	fg.cmd.Process.Signal(syscall.SIGTERM)
	code, done := fg.wait(eventWait)
	if !done {
		t.Fatalf("the daemon did not exit after SIGTERM\n%s", fg.out.String())
	}
	if code != 0 {
		t.Errorf("the daemon exited %d after SIGTERM, want 0\n%s", code, fg.out.String())
	}
	if isMounted(p.Dir) {
		t.Errorf("%s is still mounted after SIGTERM", p.Dir)
	}
	if got, _ := os.ReadFile(p.path("config/logging.yaml")); string(got) != "level: debug\n" {
		t.Errorf("after SIGTERM, config/logging.yaml = %q, want the committed version", got)
	}
}

// SIGTERM (systemd's stop, kill) or SIGINT (Ctrl-C on mount -f) while a
// commit waits for its lock: the commit finishes (the writer's close
// returns 0), then the daemon unmounts and exits 0. Each step waits for
// the one before it to be seen: the daemon's descriptor on the lock file
// it waits for, its "unmounting on a signal" line.
func TestSIGTERMFinishesCommitInFlight(t *testing.T) {
	t.Parallel()
	for name, sig := range map[string]syscall.Signal{"SIGTERM": syscall.SIGTERM, "SIGINT": syscall.SIGINT} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			fg := mountForeground(t, p)
			unlock := lockBacking(t, p, stateRel+".lock")
			before := daemonFds(t, p, stateRel+".lock")
			content := replace(t, fixture(t, stateRel), "blockers: []", "blockers: [release]")
			h := pyOpenHeld(t, p.Dir, stateRel, "trunc", content)
			h.start()
			waitDaemonOpens(t, p, stateRel+".lock", before) // the writer's close now waits for the lock
			fg.cmd.Process.Signal(sig)
			waitOutput(t, fg.out, "unmounting on a signal")
			select {
			case <-fg.done:
				t.Fatalf("the daemon exited on %s with a commit in flight\n%s", sig, fg.out.String())
			default:
			}
			unlock()
			line, err := readLineTimeout(h.out, eventWait)
			var res pyResult
			if err != nil || json.Unmarshal([]byte(line), &res) != nil {
				t.Fatalf("writer: %q %v\ndaemon:\n%s", line, err, fg.out.String())
			}
			if res.Errno != 0 {
				t.Errorf("the commit in flight at %s failed: %s: %s\ndaemon:\n%s", sig, res.Stage, res.Error, fg.out.String())
			}
			code, done := fg.wait(eventWait)
			if !done || code != 0 {
				t.Errorf("after %s the daemon: exited %v, code %d; want exit 0\n%s", sig, done, code, fg.out.String())
			}
			if done && isMounted(p.Dir) {
				t.Errorf("%s is still mounted after the daemon exited", p.Dir)
			}
			if !isMounted(p.Dir) {
				want := replace(t, content, "revision: 11", "revision: 12")
				if got, _ := os.ReadFile(p.path(stateRel)); !bytes.Equal(got, want) {
					t.Errorf("after %s, %s:\n%s\nwant the commit that was in flight", sig, stateRel, got)
				}
			}
		})
	}
}

// --lock-timeout: a commit that cannot get P.lock fails with ETIMEDOUT.
func TestLockTimeout(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p, "--lock-timeout", "1s")
	n := len(logLines(t, p.Dir))
	unlock := lockBacking(t, p, stateRel+".lock")
	content := replace(t, fixture(t, stateRel), "blockers: []", "blockers: [locked]")
	start := time.Now()
	res := pyWrite(t, p.Dir, stateRel, "trunc", content)
	took := time.Since(start)
	unlock()
	if res.errno() != syscall.ETIMEDOUT || res.Stage != "close" {
		t.Fatalf("commit while %s.lock is held: %s errno %d (%s), want close() to fail with ETIMEDOUT", stateRel, res.Stage, res.Errno, res.Error)
	}
	// A lower bound only: the refusal never comes before the timeout. That
	// the timeout in force is 1s and not the default 10s, the log line's
	// reason says, with no clock.
	if took < 900*time.Millisecond {
		t.Errorf("the refused commit took %s with --lock-timeout 1s: it did not wait", took)
	}
	assertContent(t, p, stateRel, fixture(t, stateRel))
	lines := logSince(t, p.Dir, n)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line, got %d: %v", len(lines), lines)
	}
	if want := "stayed locked for more than 1s"; !strings.Contains(lines[0].Reason, want) {
		t.Errorf("lock_timeout reason %q, want it to say %q", lines[0].Reason, want)
	}
	checkRefusalLine(t, p, lines[0], stateRel, "lock_timeout", "ETIMEDOUT", res.Pid, content)
	// Once the lock is free, the same write commits.
	if res := pyWrite(t, p.Dir, stateRel, "trunc", content); res.Errno != 0 {
		t.Errorf("after the lock is released: %s failed: %s", res.Stage, res.Error)
	}
}

// lockBacking takes flock(LOCK_EX) on a lock file in the backing directory,
// as a process working on DIR directly (paracle's library) does.
func lockBacking(t *testing.T, p *project, rel string) (unlock func()) {
	t.Helper()
	f, err := os.OpenFile(p.backing(rel), os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	var once bool
	unlock = func() {
		if !once {
			once = true
			unix.Flock(int(f.Fd()), unix.LOCK_UN)
			f.Close()
		}
	}
	t.Cleanup(unlock)
	return unlock
}

// waitNotConnected waits up to 5s for a mount whose daemon was killed to
// answer ENOTCONN: the daemon's threads may outlive its main thread (which
// is already a zombie) for a moment, keeping /dev/fuse open.
func waitNotConnected(mp string) error {
	var err error
	for deadline := time.Now().Add(eventWait); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var st unix.Stat_t
		if err = unix.Stat(mp, &st); errnoOf(err) == syscall.ENOTCONN {
			break
		}
	}
	return err
}

// --debug traces every FUSE request to stderr: in the background it would
// log into .paracfs/daemon.log inside the mount, where reading the log
// logs itself. It is refused without --foreground, and nothing is mounted.
func TestDebugNeedsForeground(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	r := paracfs(t, p.Root, "mount", "--debug", p.Dir)
	oneLine(t, "paracfs mount --debug (background)", r, 2, "paracfs mount: ")
	if !strings.Contains(r.Stderr, "--foreground") {
		t.Errorf("the error does not point to --foreground: %q", r.Stderr)
	}
	if isMounted(p.Dir) {
		unmountAll(t, p.Root)
		t.Fatalf("paracfs mount --debug in the background mounted %s", p.Dir)
	}
}
