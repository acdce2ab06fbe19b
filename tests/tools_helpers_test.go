package tests

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// toolPython is Debian's python3, which has python3-yaml and
// python3-filelock; it also starts faster than a pyenv shim.
const toolPython = "/usr/bin/python3"

// toolNeedPython skips the test without Debian's python3 and the modules
// named.
func toolNeedPython(t *testing.T, modules ...string) {
	t.Helper()
	if _, err := os.Stat(toolPython); err != nil {
		skipUnlessCI(t, "needs %s", toolPython)
	}
	for _, m := range modules {
		if err := exec.Command(toolPython, "-c", "import "+m).Run(); err != nil {
			skipUnlessCI(t, "needs %s with the module %s (Debian package python3-%s)", toolPython, m, m)
		}
	}
}

// toolPid takes the pid a tool's wrapper printed as the first line of its
// stdout off the result.
func toolPid(t *testing.T, r result) (result, int) {
	t.Helper()
	first, rest, _ := strings.Cut(r.Stdout, "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil {
		t.Fatalf("no pid on the first line of the tool's output: %s", r)
	}
	r.Stdout = rest
	return r, pid
}

// runToolPid runs a tool through `sh -c 'echo $$; exec "$@"'`, so that its pid
// (the one the log must name) is known, with stdin as its input.
func runToolPid(t *testing.T, dir, stdin, name string, args ...string) (result, int) {
	t.Helper()
	r := runInput(t, dir, stdin, "sh", append([]string{"-c", `echo $$; exec "$@"`, "sh", name}, args...)...)
	return toolPid(t, r)
}

// toolManagedName reports whether a base name matches the default tracked
// globs.
func toolManagedName(name string) bool {
	for _, g := range []string{"*.yaml", "*.yml", "*.json", "*.jsonl", "*.md"} {
		if ok, _ := filepath.Match(g, name); ok {
			return true
		}
	}
	return false
}

// toolOnlyPaths asserts that every log line names one of the paths given: a
// save through a temp file is logged under the real name, never under the
// temp's.
func toolOnlyPaths(t *testing.T, lines []logEntry, paths ...string) {
	t.Helper()
	for _, e := range lines {
		ok := false
		for _, p := range paths {
			ok = ok || e.Path == p
		}
		if !ok {
			what := "a file the tool did not save"
			if !toolManagedName(filepath.Base(e.Path)) {
				what = "a temp or scratch name"
			}
			t.Errorf("the log names %q, %s (want only %v)\n%s", e.Path, what, paths, e)
		}
	}
}

// toolCommitted asserts what a user sees after a tool saved rel: the
// bytes through the mount and in the backing directory are want, the
// revision went from oldRev to oldRev+1, and the log lines since n are
// exactly one commit of rel (by pid and command, when given): also for
// tools that replace a file by unlink + create (git, install, mv from
// another filesystem), whose unlink is not logged on its own. It returns
// the commit line.
func toolCommitted(t *testing.T, p *project, n int, rel string, oldRev int64, want []byte, pid int, command string) logEntry {
	t.Helper()
	lines := logSince(t, p.Dir, n)
	toolOnlyPaths(t, lines, rel)
	return toolCheckCommit(t, p, lines, rel, oldRev, want, pid, command)
}

// toolCheckCommit is toolCommitted for one of several files saved at once:
// lines are the new log lines, of any path.
func toolCheckCommit(t *testing.T, p *project, lines []logEntry, rel string, oldRev int64, want []byte, pid int, command string) logEntry {
	t.Helper()
	if _, err := os.Lstat(p.path(rel)); err != nil {
		t.Fatalf("%s is missing after the save: %v\nlog:\n%s", rel, err, toolLines(lines))
	}
	assertContent(t, p, rel, want)
	if got := rev(t, p.path(rel)); got != oldRev+1 {
		t.Errorf("%s: revision %d after one save, want %d", rel, got, oldRev+1)
	}
	lines = forPath(lines, rel)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line (the commit) for %s, got %d:\n%s", rel, len(lines), toolLines(lines))
	}
	checkCommitLine(t, lines[0], rel, pid, command, oldRev, oldRev+1, want)
	return lines[0]
}

// toolRefused asserts what a user sees after a tool's save of rel was
// refused: the file is still there, byte for byte orig (through the mount
// and in the backing directory), its revision is still oldRev, and the log
// lines since n are exactly one refusal (op, errno), whose kept bytes are
// refused (nil: not checked).
func toolRefused(t *testing.T, p *project, n int, rel string, orig []byte, oldRev int64, op, errnoName string, pid int, refused []byte) logEntry {
	t.Helper()
	lines := logSince(t, p.Dir, n)
	if _, err := os.Lstat(p.path(rel)); err != nil {
		t.Errorf("%s is gone after a refused save (%v): the file must be left as it was\nlog:\n%s", rel, err, toolLines(lines))
	} else {
		assertContent(t, p, rel, orig)
		if got := rev(t, p.path(rel)); got != oldRev {
			t.Errorf("%s: revision %d after a refused save, want %d", rel, got, oldRev)
		}
	}
	toolOnlyPaths(t, lines, rel)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line (the refusal) for %s, got %d:\n%s", rel, len(lines), toolLines(lines))
	}
	checkRefusalLine(t, p, lines[0], rel, op, errnoName, pid, refused)
	return lines[0]
}

func toolLines(es []logEntry) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString("  " + e.Raw + "\n")
	}
	return b.String()
}

// toolNoScratchLeft asserts that a directory holds only the names given
// (and their .lock files), through the mount and in the backing directory:
// the tool's temp files are gone.
func toolNoScratchLeft(t *testing.T, p *project, relDir string, names ...string) {
	t.Helper()
	keep := map[string]bool{}
	for _, n := range names {
		keep[n], keep[n+".lock"] = true, true
	}
	for _, dir := range []string{p.path(relDir), p.backing(relDir)} {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if !keep[e.Name()] {
				t.Errorf("%s: leftover %s", dir, e.Name())
			}
		}
	}
}

// toolBumpState commits a change to the state file from another process (sed
// -i), taking it from revision 11 to 12, and returns the committed bytes:
// after it, content derived from the fixture (revision: 11) is stale.
func toolBumpState(t *testing.T, p *project) []byte {
	t.Helper()
	mustRun(t, p.Dir, "sed", "-i", "s/impact: medium/impact: high/", stateRel)
	b := readFile(t, p.path(stateRel))
	if !bytes.Contains(b, []byte("\nrevision: 12\n")) {
		t.Fatalf("the other writer's commit was not stamped revision 12:\n%s", b)
	}
	return b
}
