package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// One save, one commit: a descriptor shared with children, or closed at
// their exec, commits once, when the process that opened it is done.

// A compound redirection: bash opens the file, its builtins and a child
// (/bin/echo, which closes its stdout at exit) write to it. The first
// commit used to hold the lines written before the child exited.
func TestCommitCompoundRedirect(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	for _, tc := range []struct{ name, rel, oldContent string }{
		{"new file", "memory/context/notes.yaml", ""},
		{"existing file", "config/logging.yaml", string(fixture(t, "config/logging.yaml"))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := len(logLines(t, p.Dir))
			r := run(t, p.Dir, "bash", "-c", `{ echo 'a: 1'; /bin/echo 'b: 2'; echo 'c: 3'; } > "$1"`, "bash", tc.rel)
			if r.Code != 0 || r.Stderr != "" {
				t.Errorf("the compound redirection: %s", r)
			}
			want := "a: 1\nb: 2\nc: 3\n"
			if got := string(readFile(t, p.path(tc.rel))); got != want {
				t.Errorf("%s through the mount: %q, want %q", tc.rel, got, want)
			}
			lines := forPath(logSince(t, p.Dir, n), tc.rel)
			if len(lines) != 1 {
				t.Fatalf("want one log line for %s, got %d:\n%v", tc.rel, len(lines), lines)
			}
			if e := lines[0]; (e.Op != "commit" && e.Op != "create") || e.Size == nil || *e.Size != int64(len(want)) || e.SHA256 != sha256hex([]byte(want)) {
				t.Errorf("the log line is not the whole file's commit: %s", e)
			}
		})
	}

	// The part written before the child's exit is invalid JSON; under
	// set -e the script goes on, and the whole file is valid.
	t.Run("partial invalid JSON", func(t *testing.T) {
		const rel = "integrations/mcp/partial.json"
		n := len(logLines(t, p.Dir))
		r := run(t, p.Dir, "bash", "-c", `set -e; { echo '{"a":'; /bin/echo '1,'; echo '"b": 2}'; } > "$1"; echo done`, "bash", rel)
		if r.Code != 0 || strings.TrimSpace(r.Stdout) != "done" {
			t.Errorf("set -e script writing a JSON file in three parts: %s\nwant exit 0 and \"done\"", r)
		}
		want := "{\"a\":\n1,\n\"b\": 2}\n"
		if got := string(readFile(t, p.path(rel))); got != want {
			t.Errorf("%s: %q, want %q", rel, got, want)
		}
		lines := forPath(logSince(t, p.Dir, n), rel)
		if len(lines) != 1 || lines[0].Op != "create" {
			t.Errorf("want one create line for %s, got:\n%v", rel, lines)
		}
		if kept, _ := filepath.Glob(p.path(".paracfs/rejected/integrations/mcp/partial.json.*")); len(kept) > 0 {
			t.Errorf("a partial version was kept as a refusal: %v", kept)
		}
	})
}

// pyForkExec writes a file in two parts with a fork and an exec of
// /bin/true in between: the descriptor is O_CLOEXEC (python's default),
// so the kernel closes it (a FLUSH from the child) inside that exec. It
// prints the errno of close() (0 when it succeeded).
const pyForkExec = `
import os, sys
path, first, rest = sys.argv[1], sys.argv[2].encode(), sys.argv[3].encode()
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, first)
pid = os.fork()
if pid == 0:
    os.execv("/bin/true", ["true"])
_, status = os.waitpid(pid, 0)
assert status == 0, status
os.write(fd, rest)
try:
    os.close(fd)
    print(0)
except OSError as e:
    print(e.errno)
`

// A CLOEXEC descriptor open across a child's exec commits once, at the
// opener's close, and that close returns 0 although the part written
// before the exec was invalid.
func TestCommitCloexecAcrossExec(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const rel = "integrations/mcp/mcp_config.json"
	n := len(logLines(t, p.Dir))
	r := run(t, p.Dir, "python3", "-c", pyForkExec, rel, `{"servers": `, "[1, 2]}\n")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "0" {
		t.Fatalf("write, fork+exec /bin/true, write, close: %s\nwant close() to return 0", r)
	}
	want := "{\"servers\": [1, 2]}\n"
	assertContent(t, p, rel, []byte(want))
	lines := forPath(logSince(t, p.Dir, n), rel)
	if len(lines) != 1 || lines[0].Op != "commit" || lines[0].SHA256 != sha256hex([]byte(want)) {
		t.Errorf("want one commit line of the whole file, got:\n%v", lines)
	}
}

// A refusal still reaches the opener's close(), after a child's exec
// closed its copy of the descriptor.
func TestCommitRefusalReachesOpener(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const rel = "integrations/mcp/mcp_config.json"
	orig := readFile(t, p.path(rel))
	n := len(logLines(t, p.Dir))
	r := run(t, p.Dir, "python3", "-c", pyForkExec, rel, `{"servers": `, "[1, 2\n")
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "74" { // EBADMSG
		t.Fatalf("an invalid file written around a fork+exec: %s\nwant close() to fail with EBADMSG (74)", r)
	}
	assertContent(t, p, rel, orig)
	lines := forPath(logSince(t, p.Dir, n), rel)
	if len(lines) != 1 || lines[0].Op != "invalid" || lines[0].SHA256 != sha256hex([]byte("{\"servers\": [1, 2\n")) {
		t.Errorf("want one invalid line for the whole refused file, got:\n%v", lines)
	}
}

// pyAppender appends n JSON lines to a file: with "reopen", each with
// its own open(p, "a") and close; with "fsync", all through one handle
// held open, each line written and fsynced (a commit) on its own.
const pyAppender = `
import json, os, sys
path, w, n, mode = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
pad = "x" * 40
if mode == "reopen":
    for j in range(n):
        with open(path, "a") as f:
            f.write(json.dumps({"w": w, "n": j, "pad": pad}) + "\n")
else:
    with open(path, "a") as f:
        for j in range(n):
            f.write(json.dumps({"w": w, "n": j, "pad": pad}) + "\n")
            f.flush()
            os.fsync(f.fileno())
`

// Eight processes append 200 lines each to one JSONL file, new and
// existing, half of them reopening the file for each line, half holding
// it open: every line is there, whole, once; nothing conflicts; and a
// tail -F started before sees them all.
func TestAppendConcurrentJSONL(t *testing.T) {
	t.Parallel()
	const writers, perWriter = 8, 200
	for _, existing := range []bool{false, true} {
		name := "new"
		if existing {
			name = "existing"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			mount(t, p)
			const rel = "memory/logs/agents.jsonl"
			var before []byte
			if existing {
				before = []byte("{\"start\": true}\n")
				if res := pyWrite(t, p.Dir, rel, "trunc", before); res.Errno != 0 {
					t.Fatalf("creating %s: %s failed: %s", rel, res.Stage, res.Error)
				}
			}
			n := len(logLines(t, p.Dir))

			var out syncBuffer
			tail := exec.Command("tail", "-F", "-n", "+1", rel)
			tail.Dir = p.Dir
			tail.Stdout, tail.Stderr = &out, &out
			if err := tail.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { tail.Process.Kill(); tail.Wait() }()
			if existing { // tail has opened the file once it printed it
				waitFor(t, "tail -F to print the existing line", func() bool { return strings.Contains(out.String(), `{"start": true}`) }, &out)
			}

			errs := make(chan error, writers)
			for w := 0; w < writers; w++ {
				mode := "reopen"
				if w%2 == 1 {
					mode = "fsync"
				}
				go func() {
					cmd := exec.Command("python3", "-c", pyAppender, rel, strconv.Itoa(w), strconv.Itoa(perWriter), mode)
					cmd.Dir = p.Dir
					if b, err := cmd.CombinedOutput(); err != nil {
						errs <- fmt.Errorf("appender %d (%s): %v\n%s", w, mode, err, b)
						return
					}
					errs <- nil
				}()
			}
			for w := 0; w < writers; w++ {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}

			got := readFile(t, p.path(rel))
			if !bytes.HasPrefix(got, before) {
				t.Errorf("the lines that were there are gone:\n%s", short(string(got)))
			}
			checkAppended(t, "the file", string(got[len(before):]), writers, perWriter, true)
			lines := forPath(logSince(t, p.Dir, n), rel)
			commits := 0
			for _, e := range lines {
				switch e.Op {
				case "commit", "create":
					commits++
				default:
					t.Errorf("an append was refused: %s", e)
				}
			}
			if commits != writers*perWriter {
				t.Errorf("%d commit lines for %s, want %d (one per appended line)", commits, rel, writers*perWriter)
			}

			// tail -F polls once a second: wait for it by content.
			waitFor(t, "tail -F to print every appended line", func() bool {
				return strings.Count(out.String(), `"pad"`) >= writers*perWriter
			}, &out)
			shown := out.String()
			if existing {
				shown = strings.Replace(shown, string(before), "", 1)
			}
			var kept []string
			for _, l := range strings.SplitAfter(shown, "\n") {
				if strings.HasPrefix(l, "{") || l == "" {
					kept = append(kept, l)
				} else if !strings.Contains(l, "has appeared") && !strings.Contains(l, "cannot open") {
					t.Errorf("tail -F said: %q", l)
				}
			}
			checkAppended(t, "tail -F", strings.Join(kept, ""), writers, perWriter, false)
		})
	}
}

// checkAppended asserts that text is lines of writers x perWriter
// appenders, each whole, each once; in order per writer when ordered.
func checkAppended(t *testing.T, what, text string, writers, perWriter int, ordered bool) {
	t.Helper()
	if !strings.HasSuffix(text, "\n") {
		t.Errorf("%s does not end with a newline", what)
	}
	seen := map[[2]int]int{}
	next := make([]int, writers)
	for i, l := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		var e struct {
			W, N int
			Pad  string
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil || len(e.Pad) != 40 || e.W < 0 || e.W >= writers {
			t.Errorf("%s, line %d is not a whole appended line: %q", what, i+1, l)
			continue
		}
		seen[[2]int{e.W, e.N}]++
		if ordered && e.N != next[e.W] {
			t.Errorf("%s, line %d: writer %d's line %d follows its line %d", what, i+1, e.W, e.N, next[e.W]-1)
		}
		next[e.W] = e.N + 1
	}
	missing := 0
	for w := 0; w < writers; w++ {
		for j := 0; j < perWriter; j++ {
			switch c := seen[[2]int{w, j}]; {
			case c == 0:
				missing++
			case c > 1:
				t.Errorf("%s shows writer %d's line %d %d times", what, w, j, c)
			}
		}
	}
	if missing > 0 {
		t.Errorf("%s lacks %d of the %d appended lines", what, missing, writers*perWriter)
	}
}

// waitFor polls cond until it holds; the deadline only catches a
// deadlock.
func waitFor(t *testing.T, what string, cond func() bool, out *syncBuffer) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after 5 minutes; output:\n%s", what, short(out.String()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// An appended line that is not JSON is refused at close(), the file is
// left as it was, and the next valid line is appended.
func TestAppendInvalidLineRefused(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const rel = "memory/logs/agents.jsonl"
	first := []byte("{\"a\": 1}\n")
	if res := pyWrite(t, p.Dir, rel, "trunc", first); res.Errno != 0 {
		t.Fatalf("writing a new JSONL file: %s failed: %s", res.Stage, res.Error)
	}
	n := len(logLines(t, p.Dir))
	res := pyWrite(t, p.Dir, rel, "append", []byte("{\"b\": \n"))
	if res.Errno != 74 { // EBADMSG
		t.Errorf("appending a torn JSON line: %s errno %d (%s), want EBADMSG at close", res.Stage, res.Errno, res.Error)
	}
	assertContent(t, p, rel, first)
	lines := forPath(logSince(t, p.Dir, n), rel)
	if len(lines) != 1 || lines[0].Op != "invalid" || lines[0].Kept == "" {
		t.Fatalf("want one invalid line with the bytes kept, got:\n%v", lines)
	}
	if kept := readFile(t, p.path(lines[0].Kept)); string(kept) != "{\"a\": 1}\n{\"b\": \n" {
		t.Errorf("kept: %q, want the file the append would have made", kept)
	}
	if res := pyWrite(t, p.Dir, rel, "append", []byte("{\"c\": 3}\n")); res.Errno != 0 {
		t.Fatalf("appending a valid line after the refusal: %s failed: %s", res.Stage, res.Error)
	}
	assertContent(t, p, rel, []byte("{\"a\": 1}\n{\"c\": 3}\n"))
}

// Right after a commit, the change log read through the mount (paracfs
// log -n 1, tail -n1) shows it, although a stat just before the commit
// had the kernel cache the log's size.
func TestLogShowsCommitAtOnce(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const rel = "memory/context/scratchpad.yaml"
	logPath := p.path(logRel)
	for i := 0; i < 50; i++ {
		if _, err := os.Stat(logPath); err != nil {
			t.Fatal(err)
		}
		mustRun(t, p.Dir, "bash", "-c", `echo "step: $2" > "$1"`, "bash", rel, strconv.Itoa(i))
		want := fmt.Sprintf(`"keys":{"step":{"old":%s,"new":%d}}`, map[bool]string{true: "null", false: strconv.Itoa(i - 1)}[i == 0], i)
		if r := run(t, p.Dir, "tail", "-n1", logRel); !strings.Contains(r.Stdout, `"path":"`+rel+`"`) || !strings.Contains(r.Stdout, want) {
			t.Fatalf("commit %d: tail -n1 of the log shows %q, want that commit (%s)", i, r.Stdout, want)
		}
		if _, err := os.Stat(logPath); err != nil {
			t.Fatal(err)
		}
		mustRun(t, p.Dir, "bash", "-c", `echo "step: $2" > "$1"`, "bash", rel, strconv.Itoa(i)+"b")
		want = fmt.Sprintf(`"keys":{"step":{"old":%d,"new":"%db"}}`, i, i)
		if r := paracfs(t, p.Root, "log", "-n", "1", "--json"); !strings.Contains(r.Stdout, want) {
			t.Fatalf("commit %db: paracfs log -n 1 shows %q, want that commit (%s)", i, r.Stdout, want)
		}
		mustRun(t, p.Dir, "bash", "-c", `echo "step: $2" > "$1"`, "bash", rel, strconv.Itoa(i))
	}
}

// paracle appends its own lines to the change log; when the log does not
// exist yet, the first append creates it, with that line.
func TestAppendCreatesMissingChangeLog(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	if err := os.Remove(p.path(logRel)); err != nil {
		t.Fatal(err)
	}
	mount(t, p)
	line := `{"timestamp": "2026-11-28T10:00:00", "change_type": "progress", "description": "x"}`
	r := run(t, p.Dir, "bash", "-c", `echo "$2" >> "$1"`, "bash", logRel, line)
	if r.Code != 0 || r.Stderr != "" {
		t.Fatalf("echo >> the missing change log: %s", r)
	}
	got := readFile(t, p.path(logRel))
	if !strings.Contains(string(got), line+"\n") {
		t.Errorf("the change log after the append:\n%s\nwant the appended line", got)
	}
	if res := pyWrite(t, p.Dir, logRel, "append", []byte("{\"more\": 1}\n")); res.Errno != 0 {
		t.Errorf("a second append: %s failed: %s", res.Stage, res.Error)
	}
	if got := readFile(t, p.backing(logRel)); !bytes.HasSuffix(got, []byte(line+"\n{\"more\": 1}\n")) {
		t.Errorf("the backing change log:\n%s\nwant both appended lines at its end", got)
	}
}

// A line appended to the change log in two parts, the first by a child
// sharing the shell's descriptor, is appended whole, once.
func TestAppendLogSharedDescriptor(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	before := readFile(t, p.path(logRel))
	r := run(t, p.Dir, "bash", "-c", `set -e; { /bin/echo -n '{"event":'; echo ' "x"}'; } >> "$1"; echo done`, "bash", logRel)
	if r.Code != 0 || strings.TrimSpace(r.Stdout) != "done" {
		t.Fatalf("appending one line in two parts: %s", r)
	}
	if got := readFile(t, p.path(logRel)); !bytes.Equal(got, append(before, "{\"event\": \"x\"}\n"...)) {
		t.Errorf("the change log got:\n%s\nwant the line, whole, and nothing else", got[len(before):])
	}
}
