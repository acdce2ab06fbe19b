package tests

// Every ordinary tool works through the mount and is protected (issue 3):
// each save pattern is run with the real tool, unmodified, and a user's
// four questions are asked of it. Is the result committed (bytes through
// the mount and behind it, revision +1, the revision field stamped)? Is an
// invalid edit refused, and what does the tool say? Is a stale write
// refused with EBUSY? Is it logged exactly once, under the real name, never
// under a temp name?

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// contentTool saves a whole new content of a file the way one tool does.
type contentTool struct {
	name    string
	needs   []string
	command string // its process name in the log
	// pidKnown: the pid printed by the wrapper is the process that commits
	// (rsync's receiver is a child of the rsync started).
	pidKnown bool
	// from: the commit line's from must match this (a temp name in the
	// file's directory); "" = no from.
	from string
	// silent: the tool ignores close()'s result: a refusal gives exit 0 and
	// no message, and shows only in the log.
	silent bool
	// exits: the exit status on a refusal, by errno name (absent: any
	// non-zero status).
	exits map[string]int
	// cleanup after a refusal (a source the tool leaves in place).
	afterRefusal func(t *testing.T, p *project, rel string)
	save         func(t *testing.T, p *project, rel string, content []byte) (result, int)
}

// srcFile writes content to a new file outside the mount (in the
// project's root, on the backing filesystem) and returns its path.
func srcFile(t *testing.T, p *project, content []byte) string {
	t.Helper()
	f, err := os.CreateTemp(p.Root, "src-*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(content); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}

// rsyncSrc writes content under the destination's base name in a fresh
// directory outside the mount, as a copy of the file kept elsewhere.
func rsyncSrc(t *testing.T, p *project, rel string, content []byte) string {
	t.Helper()
	dir, err := os.MkdirTemp(p.Root, "rsync-src-")
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(dir, filepath.Base(rel))
	if err := os.WriteFile(src, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return src
}

const pyOpenWTool = `import os, sys
print(os.getpid(), flush=True)
with open(sys.argv[1], "w") as f:
    f.write(sys.argv[2])
`

const pyRPlusTool = `import os, sys
print(os.getpid(), flush=True)
with open(sys.argv[1], "r+") as f:
    f.read()
    f.seek(0)
    f.write(sys.argv[2])
    f.truncate()
`

// A careful script: mkstemp in the file's directory, fsync, os.replace,
// and the temp file removed if anything fails.
const pyMkstempTool = `import os, sys, tempfile
print(os.getpid(), flush=True)
p = sys.argv[1]
fd, tmp = tempfile.mkstemp(dir=os.path.dirname(p))
try:
    os.write(fd, sys.argv[2].encode())
    os.fsync(fd)
    os.close(fd)
    os.replace(tmp, p)
except BaseException:
    os.unlink(tmp)
    raise
`

var contentTools = []contentTool{
	{
		name: "bash > (builtin printf)", command: "bash", pidKnown: true, silent: true,
		save: func(t *testing.T, p *project, rel string, c []byte) (result, int) {
			return toolPid(t, run(t, p.Dir, "bash", "-c", `echo $$; printf '%s' "$1" > "$2"`, "bash", string(c), rel))
		},
	},
	{
		name: "/bin/echo >", command: "echo", pidKnown: true, exits: map[string]int{"EBADMSG": 1, "EBUSY": 1},
		save: func(t *testing.T, p *project, rel string, c []byte) (result, int) {
			if !bytes.HasSuffix(c, []byte("\n")) {
				t.Fatalf("echo adds a newline: %q must end with one", c)
			}
			return toolPid(t, run(t, p.Dir, "sh", "-c", `echo $$; exec /bin/echo "$1" > "$2"`, "sh", strings.TrimSuffix(string(c), "\n"), rel))
		},
	},
	{
		name: "tee", command: "tee", pidKnown: true, exits: map[string]int{"EBADMSG": 1, "EBUSY": 1},
		save: func(t *testing.T, p *project, rel string, c []byte) (result, int) {
			return toolPid(t, runInput(t, p.Dir, string(c), "sh", "-c", `echo $$; exec tee "$1" > /dev/null`, "sh", rel))
		},
	},
	{
		name: "cp", command: "cp", pidKnown: true, exits: map[string]int{"EBADMSG": 1, "EBUSY": 1},
		save: func(t *testing.T, p *project, rel string, c []byte) (result, int) {
			return runToolPid(t, p.Dir, "", "cp", srcFile(t, p, c), rel)
		},
	},
	{
		name: "mv from the same directory", command: "mv", pidKnown: true,
		from: `current_state\.yaml\.new$`, exits: map[string]int{"EBADMSG": 1, "EBUSY": 1},
		save: func(t *testing.T, p *project, rel string, c []byte) (result, int) {
			if err := os.WriteFile(p.path(rel+".new"), c, 0o644); err != nil {
				t.Fatalf("writing the scratch file %s.new through the mount: %v", rel, err)
			}
			return runToolPid(t, p.Dir, "", "mv", rel+".new", rel)
		},
		afterRefusal: func(t *testing.T, p *project, rel string) {
			// The source stays, so the user keeps the bytes.
			if err := os.Remove(p.path(rel + ".new")); err != nil {
				t.Errorf("after mv was refused, its source %s.new: %v (want it left in place)", rel, err)
			}
		},
	},
	{
		name: "mv from another filesystem", command: "mv", pidKnown: true,
		exits: map[string]int{"EBADMSG": 1, "EBUSY": 1},
		save: func(t *testing.T, p *project, rel string, c []byte) (result, int) {
			return runToolPid(t, p.Dir, "", "mv", srcFile(t, p, c), rel)
		},
	},
	{
		name: "install -m 0644", command: "install", pidKnown: true,
		exits: map[string]int{"EBADMSG": 1, "EBUSY": 1},
		save: func(t *testing.T, p *project, rel string, c []byte) (result, int) {
			return runToolPid(t, p.Dir, "", "install", "-m", "0644", srcFile(t, p, c), rel)
		},
	},
	{
		name: "python3 open(w)", command: "python3", pidKnown: true, exits: map[string]int{"EBADMSG": 1, "EBUSY": 1},
		save: func(t *testing.T, p *project, rel string, c []byte) (result, int) {
			return toolPid(t, run(t, p.Dir, toolPython, "-c", pyOpenWTool, rel, string(c)))
		},
	},
	{
		name: "python3 open(r+) seek write truncate", command: "python3", pidKnown: true, exits: map[string]int{"EBADMSG": 1, "EBUSY": 1},
		save: func(t *testing.T, p *project, rel string, c []byte) (result, int) {
			return toolPid(t, run(t, p.Dir, toolPython, "-c", pyRPlusTool, rel, string(c)))
		},
	},
	{
		name: "python3 mkstemp fsync os.replace", command: "python3", pidKnown: true,
		from: `tmp[a-z0-9_]{8}$`, exits: map[string]int{"EBADMSG": 1, "EBUSY": 1},
		save: func(t *testing.T, p *project, rel string, c []byte) (result, int) {
			return toolPid(t, run(t, p.Dir, toolPython, "-c", pyMkstempTool, rel, string(c)))
		},
	},
	{
		name: "rsync", needs: []string{"rsync"}, command: "rsync",
		from: `\.current_state\.yaml\.[A-Za-z0-9]{6}$`, exits: map[string]int{"EBADMSG": 23, "EBUSY": 23},
		save: func(t *testing.T, p *project, rel string, c []byte) (result, int) {
			return runToolPid(t, p.Dir, "", "rsync", rsyncSrc(t, p, rel, c), rel)
		},
	},
	{
		name: "rsync --inplace", needs: []string{"rsync"}, command: "rsync",
		exits: map[string]int{"EBADMSG": 11, "EBUSY": 11},
		save: func(t *testing.T, p *project, rel string, c []byte) (result, int) {
			return runToolPid(t, p.Dir, "", "rsync", "--inplace", rsyncSrc(t, p, rel, c), rel)
		},
	},
}

var errnoMessages = map[string]string{"EBADMSG": "Bad message", "EBUSY": "Device or resource busy"}

// checkToolShows asserts what a tool shows when its save is refused.
func checkToolShows(t *testing.T, tool contentTool, r result, errnoName string) {
	t.Helper()
	t.Logf("%s, refused with %s, shows: exit %d, stderr %q", tool.name, errnoName, r.Code, strings.TrimSpace(r.Stderr))
	if tool.silent {
		if r.Code != 0 || r.Stderr != "" {
			t.Errorf("%s ignores close errors: want exit 0 and nothing printed, got %s", tool.name, r)
		}
		return
	}
	if want, ok := tool.exits[errnoName]; ok && r.Code != want || r.Code == 0 {
		t.Errorf("%s refused with %s: exit %d, want %d\n%s", tool.name, errnoName, r.Code, tool.exits[errnoName], r)
	}
	if !strings.Contains(r.Stderr, errnoMessages[errnoName]) {
		t.Errorf("%s refused with %s: stderr %q does not say %q", tool.name, errnoName, r.Stderr, errnoMessages[errnoName])
	}
}

// Each tool saves the state file three times: a valid edit of revision 11
// (committed as 12, the field stamped), invalid YAML (refused with
// EBADMSG), and an edit of its old copy, revision 11, after revision 12 was
// committed (refused with EBUSY).
func TestToolContentSavers(t *testing.T) {
	t.Parallel()
	for _, tool := range contentTools {
		tool := tool
		t.Run(tool.name, func(t *testing.T) {
			t.Parallel()
			needTool(t, tool.needs...)
			toolNeedPython(t)
			p := newProject(t)
			mount(t, p)
			orig := fixture(t, stateRel)
			pidOf := func(pid int) int {
				if tool.pidKnown {
					return pid
				}
				return unknownPid
			}

			// 1. Committed.
			n := len(logLines(t, p.Dir))
			valid := replace(t, orig, "blockers: []", "blockers: [ci]")
			r, pid := tool.save(t, p, stateRel, valid)
			if r.Code != 0 || r.Stderr != "" {
				t.Errorf("%s of a valid edit: %s\nwant exit 0 and nothing on stderr", tool.name, r)
			}
			want := replace(t, valid, "\nrevision: 11\n", "\nrevision: 12\n")
			e := toolCommitted(t, p, n, stateRel, 11, want, pidOf(pid), tool.command)
			switch {
			case tool.from == "" && e.From != "":
				t.Errorf("commit line from = %q, want none (the tool writes the file itself)\n%s", e.From, e)
			case tool.from != "" && !regexp.MustCompile(`^memory/context/`+tool.from).MatchString(e.From):
				t.Errorf("commit line from = %q, want the tool's temp file in memory/context/ matching %s\n%s", e.From, tool.from, e)
			}
			// A rename brings the temp file's mode, as on a plain file:
			// mkstemp's is 0600.
			wantMode := os.FileMode(0o644)
			if strings.Contains(tool.name, "mkstemp") {
				wantMode = 0o600
			}
			if st, err := os.Stat(p.path(stateRel)); err != nil {
				t.Error(err)
			} else if st.Mode().Perm() != wantMode {
				t.Errorf("%s after the save: mode %v, want %v", stateRel, st.Mode().Perm(), wantMode)
			}
			toolNoScratchLeft(t, p, "memory/context", "current_state.yaml")

			// 2. Invalid: refused, the file unchanged, the bytes kept.
			n = len(logLines(t, p.Dir))
			bad := []byte("blockers: [\n")
			r, pid = tool.save(t, p, stateRel, bad)
			checkToolShows(t, tool, r, "EBADMSG")
			toolRefused(t, p, n, stateRel, want, 12, "invalid", "EBADMSG", pidOf(pid), bad)
			if tool.afterRefusal != nil {
				tool.afterRefusal(t, p, stateRel)
			}

			// 3. Stale: an edit of the copy read at revision 11.
			n = len(logLines(t, p.Dir))
			stale := replace(t, orig, "blockers: []", "blockers: [stale]")
			r, pid = tool.save(t, p, stateRel, stale)
			checkToolShows(t, tool, r, "EBUSY")
			toolRefused(t, p, n, stateRel, want, 12, "conflict", "EBUSY", pidOf(pid), stale)
			if tool.afterRefusal != nil {
				tool.afterRefusal(t, p, stateRel)
			}
			toolNoScratchLeft(t, p, "memory/context", "current_state.yaml")
		})
	}
}

// bash >> as a builtin: an append is a commit of the whole new file; bash
// ignores close errors, so an invalid append shows only in the log. A
// handle opened before another process committed appends to that
// process's version: an append is never stale.
func TestToolShellAppend(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	orig := fixture(t, stateRel)

	n := len(logLines(t, p.Dir))
	r, pid := toolPid(t, run(t, p.Dir, "bash", "-c", `echo $$; echo 'owner: ada' >> "$1"`, "bash", stateRel))
	if r.Code != 0 || r.Stderr != "" {
		t.Errorf("echo >> of a valid line: %s", r)
	}
	want := replace(t, append(append([]byte{}, orig...), "owner: ada\n"...), "\nrevision: 11\n", "\nrevision: 12\n")
	toolCommitted(t, p, n, stateRel, 11, want, pid, "bash")

	n = len(logLines(t, p.Dir))
	r, pid = toolPid(t, run(t, p.Dir, "bash", "-c", `echo $$; echo 'a: [' >> "$1"`, "bash", stateRel))
	t.Logf("bash echo >> invalid shows: exit %d, stderr %q", r.Code, r.Stderr)
	if r.Code != 0 || r.Stderr != "" {
		t.Errorf("bash's echo ignores close errors: want exit 0 and nothing printed, got %s", r)
	}
	toolRefused(t, p, n, stateRel, want, 12, "invalid", "EBADMSG", pid, append(append([]byte{}, want...), "a: [\n"...))

	// Opened before another writer's commit: the line is appended to the
	// version current when the append commits.
	const rel = "config/logging.yaml"
	h, stderr := startHeld(t, p.Dir, "opened", "bash", "-c",
		`exec 3>>"$1"; echo opened; read -r _; echo 'owner: ada' >&3; exec 3>&-; echo $$`, "bash", rel)
	other := []byte("level: debug\nformat: text\n")
	if res := pyWrite(t, p.Dir, rel, "trunc", other); res.Errno != 0 {
		t.Fatalf("the other writer: %s failed: %s", res.Stage, res.Error)
	}
	n = len(logLines(t, p.Dir))
	h.start()
	line, err := readLineTimeout(h.out, eventWait)
	if err != nil {
		t.Fatalf("bash holding %s open: %v\nstderr: %s", rel, err, stderr.String())
	}
	pid = parsePid(t, line)
	if err := h.cmd.Wait(); err != nil || stderr.String() != "" {
		t.Errorf("bash's exec 3>&- ignores close errors: want exit 0 and nothing printed, got %v, stderr %q", err, stderr.String())
	}
	toolCommitted(t, p, n, rel, 1, append(append([]byte{}, other...), "owner: ada\n"...), pid, "bash")
}

// truncate(1) opens the file (without O_TRUNC) and ftruncate()s it: -s 0
// of Markdown and of YAML (an empty YAML document is valid), -s N
// extending Markdown with NULs, -s N cutting YAML to a valid prefix (with
// the revision field kept: stamped), and -s N cutting inside a flow
// sequence (invalid: refused). Each step is a subtest on its own file, on
// one mount.
func TestToolTruncate(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	truncate := func(t *testing.T, size int, rel string) (result, int) {
		return runToolPid(t, p.Dir, "", "truncate", "-s", strconv.Itoa(size), rel)
	}
	ok := func(name, rel string, size int, oldRev int64, want []byte) {
		t.Run(name, func(t *testing.T) {
			n := len(logLines(t, p.Dir))
			r, pid := truncate(t, size, rel)
			if r.Code != 0 || r.Stderr != "" {
				t.Errorf("truncate -s %d %s: %s", size, rel, r)
			}
			toolCommitted(t, p, n, rel, oldRev, want, pid, "truncate")
		})
	}

	ok("-s 0 of Markdown", "memory/knowledge/architecture.md", 0, 0, []byte{})
	ok("-s 0 of YAML", "policies/security.yaml", 0, 0, []byte{})
	const coder = "agents/specs/coder.md"
	ok("-s N extending Markdown", coder, len(fixture(t, coder))+16, 0, append(fixture(t, coder), make([]byte, 16)...))

	const proj = "project.yaml"
	cut := fixture(t, proj)
	cut = cut[:bytes.Index(cut, []byte("parac_version:"))]
	ok("-s N cutting YAML", proj, len(cut), 0, cut)

	st := fixture(t, stateRel)
	st = st[:bytes.Index(st, []byte("\nproject:\n"))+1] // ends with "revision: 11\n"
	ok("-s N keeping the revision field", stateRel, len(st), 11, replace(t, st, "\nrevision: 11\n", "\nrevision: 12\n"))

	t.Run("-s N cutting YAML inside a flow sequence", func(t *testing.T) {
		const road = "roadmap/roadmap.yaml"
		orig := fixture(t, road)
		badLen := bytes.Index(orig, []byte("deliverables: [parac_structure")) + len("deliverables: [parac")
		n := len(logLines(t, p.Dir))
		r, pid := truncate(t, badLen, road)
		t.Logf("truncate -s N cutting YAML shows: exit %d, stderr %q", r.Code, strings.TrimSpace(r.Stderr))
		if r.Code != 1 || !strings.Contains(r.Stderr, "Bad message") {
			t.Errorf("truncate -s %d %s (cutting inside a flow sequence): %s\nwant exit 1 and \"Bad message\"", badLen, road, r)
		}
		toolRefused(t, p, n, road, orig, 0, "invalid", "EBADMSG", pid, orig[:badLen])
	})
}

// sed -i and perl -pi write a temp file in the directory and rename it
// onto the file: committed at the rename, logged under the real name with
// from = the temp, the temp never left behind.
func TestToolInPlaceEditors(t *testing.T) {
	t.Parallel()
	editors := []struct {
		name, command string
		args          func(expr string) []string
		exits         map[string]int
		shows         string // what it prints on a refusal, before the errno's message
	}{
		{"sed -i", "sed", func(e string) []string { return []string{"sed", "-i", e} },
			map[string]int{"EBADMSG": 4, "EBUSY": 4}, "sed: cannot rename "},
		{"perl -pi -e", "perl", func(e string) []string { return []string{"perl", "-pi", "-e", e} },
			map[string]int{"EBADMSG": 74, "EBUSY": 16}, "Cannot complete in-place edit of "},
	}
	for _, ed := range editors {
		ed := ed
		t.Run(ed.name, func(t *testing.T) {
			t.Parallel()
			needTool(t, ed.command)
			p := newProject(t)
			mount(t, p)
			orig := fixture(t, stateRel)
			edit := func(expr string) (result, int) {
				a := ed.args(expr)
				return runToolPid(t, p.Dir, "", a[0], append(a[1:], stateRel)...)
			}
			refused := func(r result, errnoName string) {
				t.Helper()
				t.Logf("%s refused with %s shows: exit %d, stderr %q", ed.name, errnoName, r.Code, strings.TrimSpace(r.Stderr))
				if r.Code != ed.exits[errnoName] || !strings.Contains(r.Stderr, ed.shows) || !strings.Contains(r.Stderr, errnoMessages[errnoName]) {
					t.Errorf("%s refused with %s: %s\nwant exit %d and %q ... %q", ed.name, errnoName, r, ed.exits[errnoName], ed.shows, errnoMessages[errnoName])
				}
			}

			n := len(logLines(t, p.Dir))
			r, pid := edit(`s/^blockers: \[\]/blockers: [ci]/`)
			if r.Code != 0 || r.Stderr != "" {
				t.Errorf("%s of a valid edit: %s", ed.name, r)
			}
			want := replace(t, replace(t, orig, "blockers: []", "blockers: [ci]"), "\nrevision: 11\n", "\nrevision: 12\n")
			e := toolCommitted(t, p, n, stateRel, 11, want, pid, ed.command)
			if !strings.HasPrefix(e.From, "memory/context/") || e.From == stateRel || toolManagedName(filepath.Base(e.From)) {
				t.Errorf("commit line from = %q, want %s's scratch temp file in memory/context/\n%s", e.From, ed.name, e)
			}
			toolNoScratchLeft(t, p, "memory/context", "current_state.yaml")

			n = len(logLines(t, p.Dir))
			r, pid = edit(`s/^next_actions:$/next_actions: [/`)
			refused(r, "EBADMSG")
			toolRefused(t, p, n, stateRel, want, 12, "invalid", "EBADMSG", pid, replace(t, want, "\nnext_actions:\n", "\nnext_actions: [\n"))
			toolNoScratchLeft(t, p, "memory/context", "current_state.yaml")

			// Stale: the content says it was derived from revision 11.
			n = len(logLines(t, p.Dir))
			r, pid = edit(`s/^revision: 12$/revision: 11/; s/impact: medium/impact: low/`)
			refused(r, "EBUSY")
			toolRefused(t, p, n, stateRel, want, 12, "conflict", "EBUSY", pid,
				replace(t, replace(t, want, "\nrevision: 12\n", "\nrevision: 11\n"), "impact: medium", "impact: low"))
			toolNoScratchLeft(t, p, "memory/context", "current_state.yaml")
		})
	}
}

// Debian's yq (python yq 3.x) -y -i reads the file, then rewrites it with
// open("w") and never closes it itself: the close at exit is unchecked, so
// a refusal is silent (exit 0) and shows in the log.
func TestToolYq(t *testing.T) {
	t.Parallel()
	needTool(t, "yq", "jq")
	p := newProject(t)
	mount(t, p)
	// yqOut is what yq -y writes for input: the expected bytes.
	yqOut := func(input []byte, filter string) []byte {
		t.Helper()
		src := srcFile(t, p, input)
		return []byte(mustRun(t, p.Root, "yq", "-y", filter, src).Stdout)
	}
	inPlace := func(filter string) (result, int) {
		return runToolPid(t, p.Dir, "", "yq", "-y", "-i", filter, stateRel)
	}
	silent := func(r result, what string) {
		t.Helper()
		t.Logf("yq -y -i %s shows: exit %d, stderr %q", what, r.Code, strings.TrimSpace(r.Stderr))
		if r.Code != 0 || r.Stderr != "" {
			t.Errorf("yq -y -i (%s) ignores close errors: want exit 0 and nothing printed, got %s", what, r)
		}
	}
	orig := fixture(t, stateRel)

	n := len(logLines(t, p.Dir))
	const set = `.blockers = ["ci"] | .metrics.test_count = 500`
	r, pid := inPlace(set)
	if r.Code != 0 || r.Stderr != "" {
		t.Errorf("yq -y -i '%s': %s", set, r)
	}
	want := replace(t, yqOut(orig, set), "\nrevision: 11\n", "\nrevision: 12\n")
	toolCommitted(t, p, n, stateRel, 11, want, pid, "yq")
	toolNoScratchLeft(t, p, "memory/context", "current_state.yaml")

	// Invalid for paracfs: a revision that is not an integer.
	n = len(logLines(t, p.Dir))
	const bad = `.revision = "12"`
	r, pid = inPlace(bad)
	silent(r, "invalid")
	toolRefused(t, p, n, stateRel, want, 12, "invalid", "EBADMSG", pid, yqOut(want, bad))

	n = len(logLines(t, p.Dir))
	const stale = `.revision = 11 | .blockers = ["stale"]`
	r, pid = inPlace(stale)
	silent(r, "stale")
	toolRefused(t, p, n, stateRel, want, 12, "conflict", "EBUSY", pid, yqOut(want, stale))
}

// ---------------------------------------------------------------------------
// git, with a work tree that contains the mounted .parac

// gitIn runs git in the project's root with an identity of its own.
func gitIn(t *testing.T, p *project, args ...string) result {
	t.Helper()
	return run(t, p.Root, "git", append([]string{"-c", "user.name=paracfs tests", "-c", "user.email=tests@paracfs.invalid",
		"-c", "init.defaultBranch=main", "-c", "commit.gpgSign=false", "-c", "core.hooksPath=/dev/null"}, args...)...)
}

func mustGit(t *testing.T, p *project, args ...string) result {
	t.Helper()
	r := gitIn(t, p, args...)
	if r.Code != 0 {
		t.Fatalf("git %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// gitProject makes p.Root a git work tree with .parac committed (before the
// mount), keeping the change log and the .lock files out of git, as a
// project using paracfs does: every commit appends to the log, which is
// append-only through the mount, so git must not try to reset it. With
// broken, it adds a branch "broken" whose roadmap.yaml is invalid YAML.
// Then it mounts .parac and checks that git sees no change (.paracfs/ is
// hidden).
func gitProject(t *testing.T, broken bool) *project {
	t.Helper()
	needTool(t, "git")
	p := newProject(t)
	mustGit(t, p, "init", "-q")
	if err := os.WriteFile(filepath.Join(p.Root, ".git", "info", "exclude"),
		[]byte("*.lock\n/.parac/"+logRel+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, p, "add", "-A", ".parac")
	mustGit(t, p, "commit", "-qm", "init")
	if broken {
		mustGit(t, p, "checkout", "-q", "-b", "broken")
		if err := os.WriteFile(filepath.Join(p.Dir, "roadmap/roadmap.yaml"), []byte("phases: [\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		mustGit(t, p, "commit", "-qam", "broken roadmap")
		mustGit(t, p, "checkout", "-q", "main")
	}
	mount(t, p)
	if r := mustGit(t, p, "status", "--porcelain"); r.Stdout != "" {
		t.Fatalf("git status in a fresh mount shows changes:\n%s", r.Stdout)
	}
	return p
}

func gitClean(t *testing.T, p *project, when string) {
	t.Helper()
	if r := mustGit(t, p, "status", "--porcelain"); r.Stdout != "" {
		t.Errorf("git status %s shows changes:\n%s", when, r.Stdout)
	}
}

func TestToolGit(t *testing.T) {
	t.Parallel()
	const road, logging, arch = "roadmap/roadmap.yaml", "config/logging.yaml", "memory/knowledge/architecture.md"
	// edit changes three files without a revision field, each to revision
	// 1, and returns their new bytes.
	edit := func(t *testing.T, p *project) map[string][]byte {
		mustRun(t, p.Dir, "sed", "-i", "s/velocity: 3.5/velocity: 7/", road)
		mustRun(t, p.Dir, "bash", "-c", `printf 'level: debug\nformat: text\n' > "$1"`, "bash", logging)
		mustRun(t, p.Dir, "bash", "-c", `echo 'Search is local-first.' >> "$1"`, "bash", arch)
		out := map[string][]byte{}
		for _, rel := range []string{road, logging, arch} {
			out[rel] = readFile(t, p.path(rel))
			if rev(t, p.path(rel)) != 1 {
				t.Fatalf("%s: revision %d after one edit, want 1", rel, rev(t, p.path(rel)))
			}
		}
		return out
	}

	// git checkout -- f unlinks f and writes it anew from the index
	// (O_CREAT|O_EXCL): one commit of f, by git, and no delete line.
	t.Run("checkout", func(t *testing.T) {
		t.Parallel()
		p := gitProject(t, false)
		edit(t, p)
		n := len(logLines(t, p.Dir))
		r, pid := runToolPid(t, p.Root, "", "git", "checkout", "--", ".parac/"+road, ".parac/"+arch)
		if r.Code != 0 || r.Stderr != "" {
			t.Errorf("git checkout -- %s %s: %s", road, arch, r)
		}
		lines := logSince(t, p.Dir, n)
		toolOnlyPaths(t, lines, road, arch)
		for _, rel := range []string{road, arch} {
			toolCheckCommit(t, p, lines, rel, 1, fixture(t, rel), pid, "git")
		}
		if got := rev(t, p.path(logging)); got != 1 {
			t.Errorf("%s (not checked out): revision %d, want 1", logging, got)
		}
		if r := mustGit(t, p, "status", "--porcelain"); r.Stdout != " M .parac/"+logging+"\n" {
			t.Errorf("git status after the checkout:\n%s\nwant only %s modified", r.Stdout, logging)
		}
	})

	// git stash restores HEAD's files; git stash pop brings the edits back:
	// each is one commit per file.
	t.Run("stash and stash pop", func(t *testing.T) {
		t.Parallel()
		p := gitProject(t, false)
		edited := edit(t, p)
		n := len(logLines(t, p.Dir))
		if r := gitIn(t, p, "stash", "-q"); r.Code != 0 || r.Stderr != "" {
			t.Fatalf("git stash: %s", r)
		}
		lines := logSince(t, p.Dir, n)
		toolOnlyPaths(t, lines, road, logging, arch)
		for _, rel := range []string{road, logging, arch} {
			toolCheckCommit(t, p, lines, rel, 1, fixture(t, rel), unknownPid, "git")
		}
		gitClean(t, p, "after git stash")

		n = len(logLines(t, p.Dir))
		if r := gitIn(t, p, "stash", "pop", "-q"); r.Code != 0 || r.Stderr != "" {
			t.Fatalf("git stash pop: %s", r)
		}
		lines = logSince(t, p.Dir, n)
		toolOnlyPaths(t, lines, road, logging, arch)
		for _, rel := range []string{road, logging, arch} {
			toolCheckCommit(t, p, lines, rel, 2, edited[rel], unknownPid, "git")
		}
		r := mustGit(t, p, "status", "--porcelain")
		if want := " M .parac/" + logging + "\n M .parac/" + arch + "\n M .parac/" + road + "\n"; r.Stdout != want {
			t.Errorf("git status after git stash pop:\n%s\nwant:\n%s", r.Stdout, want)
		}
	})

	// The state file carries revision: 11 in HEAD and 12 once edited.
	// Restoring HEAD's version writes content that says it was derived from
	// revision 11 while the file is at 12: its bytes are a version the
	// mount kept, so it is a restore, committed as revision 13 with git's
	// very bytes (docs/revisions.md), and git sees a clean tree.
	t.Run("checkout of a file with a revision field", func(t *testing.T) {
		t.Parallel()
		p := gitProject(t, false)
		toolBumpState(t, p)
		n := len(logLines(t, p.Dir))
		if r := gitIn(t, p, "checkout", "--", ".parac/"+stateRel); r.Code != 0 || r.Stderr != "" {
			t.Errorf("git checkout -- %s: %s", stateRel, r)
		}
		revsRestored(t, p, n, stateRel, fixture(t, stateRel), 13, 11)
		gitClean(t, p, "after git checkout --")
	})

	// git stash of the edited state file restores HEAD's version (a
	// restore of revision 11, as 13); git stash pop brings the edit back
	// (a restore of revision 12, as 14).
	t.Run("stash and stash pop of a file with a revision field", func(t *testing.T) {
		t.Parallel()
		p := gitProject(t, false)
		edited := toolBumpState(t, p)
		n := len(logLines(t, p.Dir))
		if r := gitIn(t, p, "stash", "-q"); r.Code != 0 || r.Stderr != "" {
			t.Fatalf("git stash: %s", r)
		}
		revsRestored(t, p, n, stateRel, fixture(t, stateRel), 13, 11)
		n = len(logLines(t, p.Dir))
		if r := gitIn(t, p, "stash", "pop", "-q"); r.Code != 0 || r.Stderr != "" {
			t.Fatalf("git stash pop: %s", r)
		}
		revsRestored(t, p, n, stateRel, edited, 14, 12)
	})

	// Checking out a commit whose file is invalid YAML: refused, and the
	// file stays as it was although git unlinked it before writing the new
	// one. git ignores close()'s error here (exit 0, nothing printed) and
	// retries the write once, so the log has a refusal line per attempt.
	t.Run("checkout of invalid YAML", func(t *testing.T) {
		t.Parallel()
		p := gitProject(t, true)
		n := len(logLines(t, p.Dir))
		r, pid := runToolPid(t, p.Root, "", "git", "checkout", "broken", "--", ".parac/"+road)
		lines := logSince(t, p.Dir, n)
		t.Logf("git checkout broken -- %s shows: exit %d, stderr %q; log:\n%s", road, r.Code, r.Stderr, toolLines(lines))
		toolOnlyPaths(t, lines, road)
		if _, err := os.Lstat(p.path(road)); err != nil {
			t.Fatalf("%s is gone after git checkout of an invalid version was refused: %v\nlog:\n%s", road, err, toolLines(lines))
		}
		assertContent(t, p, road, fixture(t, road))
		if got := rev(t, p.path(road)); got != 0 {
			t.Errorf("%s: revision %d after a refused checkout, want 0", road, got)
		}
		var refusals []logEntry
		for _, e := range lines {
			if e.Op == "invalid" {
				refusals = append(refusals, e)
			} else {
				t.Errorf("unexpected log line: the file must be left as it was\n%s", e)
			}
		}
		if len(refusals) == 0 {
			t.Fatalf("no invalid line in the log")
		}
		if r.Code != 0 || r.Stderr != "" {
			t.Errorf("git checkout ignores close errors: want exit 0 and nothing printed, got %s", r)
		}
		checkRefusalLine(t, p, refusals[0], road, "invalid", "EBADMSG", pid, []byte("phases: [\n"))
	})
}

// ---------------------------------------------------------------------------
// A Python client following paracle's conventions

// paracleClient saves the state file n times as paracle does: under
// filelock.FileLock(p + ".lock"), read it, check its revision, write
// revision+1 to p + ".tmp" (fsynced), os.replace onto p, then append its
// own JSON line to the change log through the mount. It reports its pid,
// the slowest save (lock held), and its last written text and log line.
const paracleClient = `import datetime, filelock, json, os, sys, time, yaml
p, log, n, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
lock = filelock.FileLock(p + ".lock", timeout=60)
last, slowest, text, line = -1, 0.0, "", ""
for i in range(n):
    with lock:
        t0 = time.monotonic()
        with open(p) as f:
            state = yaml.safe_load(f)
        r = state["revision"]
        if not isinstance(r, int) or r < last:
            sys.exit("%s: revision went from %r to %r" % (tag, last, r))
        old = state["metrics"]["test_count"]
        state["metrics"]["test_count"] = old + 1
        state["revision"] = r + 1
        text = yaml.safe_dump(state, sort_keys=False)
        tmp = p + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
        last = r + 1
        line = json.dumps({"timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                           "process_id": os.getpid(), "change_type": "metric_update",
                           "description": "%s %d: test_count %d -> %d" % (tag, i, old, old + 1),
                           "old_value": old, "new_value": old + 1, "revision": r + 1})
        with open(log, "a") as f:
            f.write(line + "\n")
        slowest = max(slowest, time.monotonic() - t0)
print(json.dumps({"pid": os.getpid(), "slowest": slowest, "text": text, "line": line}))
`

type paracleReport struct {
	Pid     int     `json:"pid"`
	Slowest float64 `json:"slowest"`
	Text    string  `json:"text"`
	Line    string  `json:"line"`
}

func runParacleClient(t *testing.T, p *project, n int, tag string) paracleReport {
	t.Helper()
	r := run(t, p.Dir, toolPython, "-c", paracleClient, stateRel, logRel, strconv.Itoa(n), tag)
	var rep paracleReport
	if r.Code != 0 || json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &rep) != nil {
		t.Fatalf("paracle-style client %s: %s", tag, r)
	}
	return rep
}

// One save: accepted at once (the client holds x.yaml.lock, and the commit
// its os.replace triggers runs inside that critical section instead of
// waiting out --lock-timeout), logged under the real name with from =
// x.yaml.tmp, and the client's own appended line is in the log after it.
// A commit that waited for the client's own lock would end in ETIMEDOUT:
// the client's os.replace would fail (it exits non-zero) and the log would
// show lock_timeout, not a commit; no clock is needed to see it.
func TestToolParacleClient(t *testing.T) {
	t.Parallel()
	toolNeedPython(t, "yaml", "filelock")
	p := newProject(t)
	mount(t, p, "--lock-timeout", "3s")
	n := len(logLines(t, p.Dir))
	rep := runParacleClient(t, p, 1, "client")
	t.Logf("one paracle-style save: %.3fs holding the lock", rep.Slowest)
	lines := logSince(t, p.Dir, n)
	for _, e := range lines {
		if e.Path != "" && e.Path != stateRel {
			t.Errorf("the log names %q (want only %s, never its .tmp or .lock)\n%s", e.Path, stateRel, e)
		}
	}
	if len(lines) != 2 {
		t.Fatalf("want 2 new log lines (the commit, then the client's own line), got %d:\n%s", len(lines), toolLines(lines))
	}
	checkCommitLine(t, lines[0], stateRel, rep.Pid, "python3", 11, 12, []byte(rep.Text))
	if lines[0].From != stateRel+".tmp" {
		t.Errorf("commit line from = %q, want %q\n%s", lines[0].From, stateRel+".tmp", lines[0])
	}
	if lines[1].Raw != rep.Line {
		t.Errorf("the client's appended line is not in the log after the commit:\n got %s\nwant %s", lines[1].Raw, rep.Line)
	}
	assertContent(t, p, stateRel, []byte(rep.Text))
	if got := rev(t, p.path(stateRel)); got != 12 {
		t.Errorf("revision = %d, want 12", got)
	}
	toolNoScratchLeft(t, p, "memory/context", "current_state.yaml")
}

// Two such clients in parallel, 50 saves each: all 100 land, in order, each
// logged once with its own line after it.
func TestToolParacleClientsParallel(t *testing.T) {
	t.Parallel()
	toolNeedPython(t, "yaml", "filelock")
	p := newProject(t)
	mount(t, p, "--lock-timeout", "3s")
	const each = 50
	n := len(logLines(t, p.Dir))
	var wg sync.WaitGroup
	reps := make([]paracleReport, 2)
	for i := range reps {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, toolPython, "-c", paracleClient, stateRel, logRel, strconv.Itoa(each), "client"+strconv.Itoa(i))
			cmd.Dir = p.Dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil || json.Unmarshal(bytes.TrimSpace(out), &reps[i]) != nil {
				t.Errorf("client %d: %v: %s %s", i, err, out, stderr.String())
			}
		}(i)
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("slowest saves: %.3fs, %.3fs", reps[0].Slowest, reps[1].Slowest)
	got := readFile(t, p.path(stateRel))
	if !bytes.Contains(got, []byte("test_count: "+strconv.Itoa(412+2*each)+"\n")) || !bytes.Contains(got, []byte("\nrevision: "+strconv.Itoa(11+2*each)+"\n")) {
		t.Errorf("after 2×%d saves the state file is\n%s\nwant test_count %d and revision %d", each, got, 412+2*each, 11+2*each)
	}
	if r := rev(t, p.path(stateRel)); r != 11+2*each {
		t.Errorf("revision = %d, want %d", r, 11+2*each)
	}
	lines := logSince(t, p.Dir, n)
	commits, own := 0, map[string]bool{}
	next := int64(12)
	for _, e := range lines {
		switch {
		case e.Path == stateRel && e.Op == "commit":
			if e.Revision == nil || *e.Revision != next || e.From != stateRel+".tmp" {
				t.Errorf("commit %d: revision %s, from %q; want revision %d from %s.tmp\n%s", commits, ptrStr(e.Revision), e.From, next, stateRel, e)
			}
			next++
			commits++
		case e.Path == "" && e.ChangeType == "metric_update":
			if own[e.Description] {
				t.Errorf("the client's line is in the log twice: %s", e)
			}
			own[e.Description] = true
		default:
			t.Errorf("unexpected log line (want only commits of %s and the clients' own lines)\n%s", stateRel, e)
		}
	}
	if commits != 2*each || len(own) != 2*each {
		t.Errorf("the log has %d commits and %d client lines, want %d of each", commits, len(own), 2*each)
	}
	for i := 0; i < 2; i++ {
		for k := 0; k < each; k++ {
			found := false
			for d := range own {
				found = found || strings.HasPrefix(d, fmt.Sprintf("client%d %d: ", i, k))
			}
			if !found {
				t.Errorf("client%d's line for save %d is missing from the log", i, k)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Stale read-modify-write by tools that know nothing of revisions

// staleRMW reads argv[1] through the mount (open, read, close), says
// "read", waits for a line on stdin, optionally reads the file again, then
// overwrites it blindly with open("w") and reports the errno.
const staleRMW = `import json, os, sys
p, old, new, reread = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4] == "1"
with open(p) as f:
    text = f.read()
print("read", flush=True)
sys.stdin.readline()
if reread:
    with open(p) as f:
        text = f.read()
data = text.replace(old, new, 1)
res = {"pid": os.getpid(), "errno": 0, "error": "", "data": data}
try:
    with open(p, "w") as f:
        f.write(data)
except OSError as e:
    res.update(errno=e.errno, error=str(e))
print(json.dumps(res), flush=True)
`

type staleRMWResult struct {
	Pid   int    `json:"pid"`
	Errno int    `json:"errno"`
	Error string `json:"error"`
	Data  string `json:"data"`
}

// A process reads a file, another commits, the first overwrites it blindly
// with open("w"): the mount remembers what each process read, so the
// overwrite is a conflict (EBUSY at close), also for files without a
// revision field.
func TestToolStaleReadModifyWrite(t *testing.T) {
	t.Parallel()
	toolNeedPython(t)
	files := []struct{ rel, old, new, other string }{
		{"config/logging.yaml", "level: info", "level: warn", "s/format: json/format: text/"},
		{"roadmap/roadmap.yaml", "velocity: 3.5", "velocity: 4", "s/status: active/status: paused/"},
		{"memory/knowledge/architecture.md", "in a vault", "in a git vault", "s/# Architecture/# Architecture notes/"},
		{stateRel, "tests_passing: 409", "tests_passing: 410", "s/impact: medium/impact: high/"},
	}
	for _, f := range files {
		f := f
		t.Run(filepath.Base(f.rel), func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			mount(t, p)
			start := rev(t, p.path(f.rel))
			// reader starts a process that reads the file and, once let
			// go, replaces old by new in what it read (or in what it reads
			// again, with reread "1") and writes that with open("w").
			reader := func(old, new, reread string) *pyHeld {
				h, _ := startHeld(t, p.Dir, "read", toolPython, "-c", staleRMW, f.rel, old, new, reread)
				return h
			}
			finish := func(h *pyHeld) staleRMWResult {
				t.Helper()
				h.start()
				line, err := readLineTimeout(h.out, eventWait)
				var res staleRMWResult
				if err != nil || json.Unmarshal([]byte(line), &res) != nil {
					t.Fatalf("the python writer: %q %v", line, err)
				}
				h.cmd.Wait()
				return res
			}
			other := func() []byte {
				t.Helper()
				mustRun(t, p.Dir, "sed", "-i", f.other, f.rel)
				return readFile(t, p.path(f.rel))
			}

			// Undisturbed, read-modify-write commits.
			h := reader(f.old, f.new, "0")
			n := len(logLines(t, p.Dir))
			res := finish(h)
			if res.Errno != 0 {
				t.Fatalf("read, then open(w) with no commit in between: %s, want it accepted", res.Error)
			}
			want := []byte(res.Data)
			if bytes.Contains(want, []byte("\nrevision: ")) {
				want = replace(t, want, fmt.Sprintf("\nrevision: %d\n", start), fmt.Sprintf("\nrevision: %d\n", start+1))
			}
			toolCommitted(t, p, n, f.rel, start, want, res.Pid, "python3")

			// Stale: another process commits between the read and the write.
			h = reader(f.new, f.old, "0")
			committed := other()
			n = len(logLines(t, p.Dir))
			res = finish(h)
			if syscall.Errno(res.Errno) != syscall.EBUSY {
				t.Errorf("read at revision %d, another process committed %d, then open(w): errno %d (%s), want EBUSY at close",
					start+1, start+2, res.Errno, res.Error)
			}
			toolRefused(t, p, n, f.rel, committed, start+2, "conflict", "EBUSY", res.Pid, []byte(res.Data))

			// Reading again after the other commit makes the write current.
			h = reader(f.new, f.old, "1")
			other()
			n = len(logLines(t, p.Dir))
			res = finish(h)
			if res.Errno != 0 {
				t.Fatalf("read again after the other commit, then open(w): %s, want it accepted", res.Error)
			}
			cur := rev(t, p.path(f.rel)) - 1
			want = []byte(res.Data)
			if bytes.Contains(want, []byte("\nrevision: ")) {
				want = replace(t, want, fmt.Sprintf("\nrevision: %d\n", cur), fmt.Sprintf("\nrevision: %d\n", cur+1))
			}
			toolCommitted(t, p, n, f.rel, cur, want, res.Pid, "python3")
		})
	}
}

// ---------------------------------------------------------------------------
// No reader ever sees a missing or partial file

// 300 sed -i edits while a reader loops over the file through the mount:
// sed -i replaces the file through a temp file and a rename, and the
// reader never gets ENOENT or a partial file. (This caught a node that was
// replaced in go-fuse's tree before the kernel moved its entry.)
func TestToolReaderDuringSedLoop(t *testing.T) {
	t.Parallel()
	toolNeedPython(t, "yaml")
	p := newProject(t)
	mount(t, p)
	const edits = 300
	n := len(logLines(t, p.Dir))
	reader := startReader(t, p, stateRel, "revision")
	script := `for i in $(seq 1 ` + strconv.Itoa(edits) + `); do sed -i "s/test_count: [0-9]*/test_count: $i/" "$1" || exit 1; done`
	start := time.Now()
	mustRun(t, p.Dir, "bash", "-c", script, "sed-loop", stateRel)
	t.Logf("%d sed -i edits in %s", edits, time.Since(start))
	reader.finish(t, p, n, stateRel, strconv.Itoa(edits)+" sed -i edits")
	checkLoopResult(t, p, n, edits, "sed")
	toolNoScratchLeft(t, p, "memory/context", "current_state.yaml")
}

// 200 python open("w") rewrites while a reader loops over the file.
func TestToolReaderDuringPythonWrites(t *testing.T) {
	t.Parallel()
	toolNeedPython(t, "yaml")
	p := newProject(t)
	mount(t, p)
	const writes = 200
	n := len(logLines(t, p.Dir))
	reader := startReader(t, p, stateRel, "revision")
	const loop = `import re, sys
p, n = sys.argv[1], int(sys.argv[2])
for i in range(1, n + 1):
    with open(p) as f:
        text = f.read()
    text = re.sub(r"test_count: \d+", "test_count: %d" % i, text)
    with open(p, "w") as f:
        f.write(text)
`
	start := time.Now()
	mustRun(t, p.Dir, toolPython, "-c", loop, stateRel, strconv.Itoa(writes))
	t.Logf("%d open(w) rewrites in %s", writes, time.Since(start))
	reader.finish(t, p, n, stateRel, strconv.Itoa(writes)+" open(w) rewrites")
	checkLoopResult(t, p, n, writes, "python3")
}

// checkLoopResult asserts that k saves of the state file by command all
// landed: the last edit is there, the revision went up by k, and the log
// has exactly k commits of the state file, none under another name.
func checkLoopResult(t *testing.T, p *project, n, k int, command string) {
	t.Helper()
	got := readFile(t, p.path(stateRel))
	if !bytes.Contains(got, []byte("test_count: "+strconv.Itoa(k)+"\n")) || !bytes.Contains(got, []byte("\nrevision: "+strconv.Itoa(11+k)+"\n")) {
		t.Errorf("after %d saves the state file lacks the last edit or revision %d:\n%s", k, 11+k, got)
	}
	if r := rev(t, p.path(stateRel)); r != int64(11+k) {
		t.Errorf("revision = %d, want %d", r, 11+k)
	}
	lines := logSince(t, p.Dir, n)
	toolOnlyPaths(t, lines, stateRel)
	commits := 0
	for _, e := range lines {
		if e.Op == "commit" && e.Command == command {
			commits++
		} else {
			t.Errorf("unexpected log line: %s", e)
		}
	}
	if commits != k {
		t.Errorf("the log has %d commit lines, want %d", commits, k)
	}
}
