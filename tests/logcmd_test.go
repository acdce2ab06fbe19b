package tests

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// oldLines appends n paracle-style entries stamped daysAgo days back to the
// change log in the backing directory (before mounting), and returns them.
func oldLines(t *testing.T, p *project, n, daysAgo int) []string {
	t.Helper()
	ts := time.Now().Add(-time.Duration(daysAgo) * 24 * time.Hour).UTC().Format("2006-01-02T15:04:05.000000+00:00")
	var lines []string
	var b strings.Builder
	for i := 0; i < n; i++ {
		l := fmt.Sprintf(`{"timestamp":"%s","process_id":4121,"change_type":"progress","description":"old entry %d","old_value":null,"new_value":null,"revision":null}`, ts, i)
		lines = append(lines, l)
		b.WriteString(l + "\n")
	}
	f, err := os.OpenFile(p.backing(logRel), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(b.String()); err != nil {
		t.Fatal(err)
	}
	return lines
}

// lastLogEntry parses the change log's last line (the log may hold lines
// that are not JSON, which logLines refuses).
func lastLogEntry(t *testing.T, p *project) logEntry {
	t.Helper()
	lines := strings.Split(strings.TrimRight(string(readFile(t, p.path(logRel))), "\n"), "\n")
	var e logEntry
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &e); err != nil {
		t.Fatalf("the change log's last line is not JSON: %q", lines[len(lines)-1])
	}
	e.Raw = lines[len(lines)-1]
	return e
}

// logJSON runs `paracfs log --json args...` and parses its lines.
func logJSON(t *testing.T, p *project, args ...string) []logEntry {
	t.Helper()
	r := paracfs(t, p.Root, append([]string{"log", "--json"}, args...)...)
	if r.Code != 0 {
		t.Fatalf("paracfs log --json %s: %s", strings.Join(args, " "), r)
	}
	var out []logEntry
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if l == "" {
			continue
		}
		var e logEntry
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("paracfs log --json printed a line that is not JSON: %q", l)
		}
		e.Raw = l
		out = append(out, e)
	}
	return out
}

// log filters by pid, op, path glob and time; its table is aligned, and
// coloured only on a terminal without NO_COLOR.
func TestLogFilters(t *testing.T) {
	p := newProject(t)
	oldLines(t, p, 2, 40)
	mount(t, p)
	a := pyWrite(t, p.Root, ".parac/a.yaml", "trunc", []byte("a: 1\n"))
	b := pyWrite(t, p.Root, ".parac/b.json", "trunc", []byte(`{"b": 1}`+"\n"))
	bad := pyWrite(t, p.Root, ".parac/project.yaml", "trunc", []byte("x: [\n"))
	if a.Errno != 0 || b.Errno != 0 || bad.Errno != 74 {
		t.Fatalf("writes: %+v %+v %+v", a, b, bad)
	}
	if es := logJSON(t, p, "--pid", itoa(b.Pid)); len(es) != 1 || es[0].Path != "b.json" {
		t.Errorf("log --pid %d: %v, want b.json's line", b.Pid, es)
	}
	if es := logJSON(t, p, "--op", "invalid"); len(es) != 1 || es[0].Path != "project.yaml" || es[0].ProcessID != bad.Pid {
		t.Errorf("log --op invalid: %v", es)
	}
	if es := logJSON(t, p, "--path", "*.json"); len(es) != 1 || es[0].Path != "b.json" {
		t.Errorf("log --path '*.json': %v", es)
	}
	all := logJSON(t, p)
	var aLine logEntry
	for _, e := range all {
		if e.Path == "a.yaml" {
			aLine = e
		}
	}
	if es := logJSON(t, p, "--since", aLine.Timestamp); len(es) != 3 || es[0].Path != "a.yaml" {
		t.Errorf("log --since %s: %v, want a.yaml, b.json, project.yaml", aLine.Timestamp, es)
	}
	if es := logJSON(t, p, "--until", aLine.Timestamp); len(es) != len(all)-3 {
		t.Errorf("log --until %s: %d lines, want %d (all before a.yaml's)", aLine.Timestamp, len(es), len(all)-3)
	}
	if es := logJSON(t, p, "--since", "1h"); len(es) != 3 {
		t.Errorf("log --since 1h: %v, want the 3 new lines", es)
	}
	if es := logJSON(t, p, "--since", "1h", "--until", "1ms", "--pid", itoa(a.Pid), "--op", "create"); len(es) != 1 || es[0].Path != "a.yaml" {
		t.Errorf("log with every filter: %v", es)
	}
	for _, c := range [][]string{{"--until", "yesterday"}, {"--pid", "-3"}, {"--path", "[x"}, {"--color", "blue"}, {"-f", "--until", "1h"}, {"--since", "1h", "--until", "2h"}} {
		if r := paracfs(t, p.Root, append([]string{"log"}, c...)...); r.Code != 2 || r.Stderr == "" {
			t.Errorf("paracfs log %s: %s\nwant a usage error (exit 2)", strings.Join(c, " "), r)
		}
	}

	// The table: one line an entry, columns aligned, no colour on a pipe.
	r := paracfs(t, p.Root, "log", "--since", "1h")
	lines := strings.Split(strings.TrimRight(r.Stdout, "\n"), "\n")
	if r.Code != 0 || len(lines) != 3 {
		t.Fatalf("paracfs log --since 1h: %s\nwant 3 lines", r)
	}
	col := -1
	for i, want := range []string{"a.yaml", "b.json", "project.yaml"} {
		at := strings.Index(lines[i], "  "+want+"  ")
		if at < 0 || (col >= 0 && at != col) {
			t.Errorf("the path column is not aligned (line %d at %d, want %d):\n%s", i, at, col, r.Stdout)
		}
		col = at
	}
	if strings.Contains(r.Stdout, "\x1b[") {
		t.Errorf("paracfs log coloured a pipe:\n%q", r.Stdout)
	}
	// On a terminal: coloured, unless NO_COLOR is set.
	cmd := paracfsBin + " log --since 1h " + p.Dir
	tty := run(t, p.Root, "script", "-qec", cmd, "/dev/null")
	if tty.Code != 0 || !strings.Contains(tty.Stdout, "\x1b[31") || !strings.Contains(tty.Stdout, "project.yaml") {
		t.Errorf("paracfs log on a terminal: %q\nwant red for the refusal", tty.Stdout)
	}
	noColor := run(t, p.Root, "script", "-qec", "NO_COLOR=1 "+cmd, "/dev/null")
	if noColor.Code != 0 || strings.Contains(noColor.Stdout, "\x1b[") || !strings.Contains(noColor.Stdout, "a.yaml") {
		t.Errorf("NO_COLOR=1 paracfs log on a terminal: %q\nwant no colour", noColor.Stdout)
	}
	if r := paracfs(t, p.Root, "log", "--color=always", "-n", "1"); !strings.Contains(r.Stdout, "\x1b[") {
		t.Errorf("paracfs log --color=always: %q", r.Stdout)
	}
}

// follower is `paracfs log -f --json` running in the background.
type logFollower struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan struct{}
}

func startFollow(t *testing.T, p *project, args ...string) *logFollower {
	t.Helper()
	cmd := exec.Command(paracfsBin, append([]string{"log", "-f", "--json"}, args...)...)
	cmd.Dir = p.Root
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	f := &logFollower{cmd: cmd, done: make(chan struct{})}
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-f.done
	})
	go func() {
		defer close(f.done)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			f.mu.Lock()
			f.lines = append(f.lines, sc.Text())
			f.mu.Unlock()
		}
		cmd.Wait()
	}()
	return f
}

// waitFor waits until the follower printed a line containing each of want.
func (f *logFollower) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		f.mu.Lock()
		text := strings.Join(f.lines, "\n")
		f.mu.Unlock()
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(text, w)
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("paracfs log -f did not print %q within %s; it printed:\n%s", want, eventWait, text)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (f *logFollower) count(sub string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, l := range f.lines {
		if strings.Contains(l, sub) {
			n++
		}
	}
	return n
}

// log -f prints each new entry once, across prunes that replace the log,
// including one that removes every line it had printed.
func TestLogFollowPrune(t *testing.T) {
	p := newProject(t)
	old := oldLines(t, p, 3, 40)
	f, err := os.OpenFile(p.backing(logRel), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("a foreign line, not JSON\n")
	f.Close()
	mount(t, p)
	fl := startFollow(t, p, "-n", "1")
	fl.waitFor(t, "old entry 2") // -n 1: the last entry (the foreign line is none)
	if fl.count("old entry") != 1 {
		t.Errorf("log -f -n 1 printed %d old entries first, want 1", fl.count("old entry"))
	}

	mustRun(t, p.Root, "sh", "-c", "echo 'a: 1' > .parac/a.yaml")
	fl.waitFor(t, `"path":"a.yaml"`)

	r := paracfs(t, p.Root, "log", "prune", "--keep-days", "30")
	if r.Code != 0 || !strings.Contains(r.Stdout, "removed 3 entries") {
		t.Fatalf("paracfs log prune --keep-days 30: %s\nwant 3 removed", r)
	}
	text := string(readFile(t, p.path(logRel)))
	for _, l := range old {
		if strings.Contains(text, l) {
			t.Errorf("an entry 40 days old survived the prune: %s", l)
		}
	}
	if !strings.Contains(text, "a foreign line, not JSON\n") || !strings.Contains(text, `"path":"a.yaml"`) {
		t.Errorf("the prune removed more than old entries:\n%s", text)
	}
	if last := lastLogEntry(t, p); last.Op != "prune" || !strings.Contains(last.Description, "removed 3") || last.Command != "paracfs" {
		t.Errorf("the last log line is %v, want the prune's own line", last)
	}
	if tmps := findTemps(t, p.backing(".")); len(tmps) > 0 {
		t.Errorf("temp files left by the prune: %v", tmps)
	}

	mustRun(t, p.Root, "sh", "-c", "echo 'b: 1' > .parac/b.yaml")
	fl.waitFor(t, `"path":"b.yaml"`, `"op":"prune"`)

	// --keep-days 0 removes every entry, those already printed too.
	if r := paracfs(t, p.Root, "log", "prune", "--keep-days", "0"); r.Code != 0 || !strings.Contains(r.Stdout, "removed ") {
		t.Fatalf("paracfs log prune --keep-days 0: %s", r)
	}
	mustRun(t, p.Root, "sh", "-c", "echo 'c: 1' > .parac/c.yaml")
	fl.waitFor(t, `"path":"c.yaml"`)
	fl.mark(t, p, "after c.yaml") // it looked again after c.yaml: anything printed twice is printed by now
	for _, w := range []string{`"path":"a.yaml"`, `"path":"b.yaml"`, `"path":"c.yaml"`} {
		if n := fl.count(w); n != 1 {
			t.Errorf("log -f printed %q %d times, want once:\n%s", w, n, strings.Join(fl.lines, "\n"))
		}
	}
	if n := fl.count(`"op":"prune"`); n != 2 {
		t.Errorf("log -f printed %d prune lines, want 2", n)
	}
	if fl.count("old entry") != 1 || fl.count("a foreign line") != 0 {
		t.Errorf("log -f printed old entries again after the prune, or a line that is not an entry:\n%s", strings.Join(fl.lines, "\n"))
	}
	// Ctrl-C ends it cleanly.
	fl.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-fl.done:
		if c := fl.cmd.ProcessState.ExitCode(); c != 0 {
			t.Errorf("paracfs log -f after SIGINT: exit %d, want 0", c)
		}
	case <-time.After(eventWait):
		t.Errorf("paracfs log -f still runs %s after SIGINT", eventWait)
	}

	// Unmounted, prune works on DIR directly, and logs itself; a follower
	// of the plain file sees the new inode and goes on.
	unmountCmd(t, p)
	fl = startFollow(t, p, "-n", "0")
	fl.ready(t, p)
	oldLines(t, p, 2, 40)
	fl.waitFor(t, "old entry 1")
	if r := paracfs(t, p.Root, "log", "prune", "--keep-days", "7"); r.Code != 0 || !strings.Contains(r.Stdout, "removed 2 entries") {
		t.Errorf("unmounted paracfs log prune: %s", r)
	}
	if last := lastLogEntry(t, p); last.Op != "prune" || !strings.Contains(last.Description, "removed 2") {
		t.Errorf("unmounted prune: last line %v", last)
	}
	fl.waitFor(t, `"op":"prune"`)
	f, err = os.OpenFile(p.path(logRel), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`{"timestamp":"2099-01-01T00:00:00.000000+00:00","process_id":1,"change_type":"note","description":"after the unmounted prune"}` + "\n")
	f.Close()
	fl.waitFor(t, "after the unmounted prune")
	fl.mark(t, p, "after the unmounted prune")
	if n, m := fl.count("old entry"), fl.count(`"op":"prune"`); n != 2 || m != 1 {
		t.Errorf("the follower of the unmounted log printed %d old entries and %d prune lines, want 2 and 1:\n%s", n, m, strings.Join(fl.lines, "\n"))
	}
	for _, c := range [][]string{{"--keep-days", "-1"}, {"--keep-days", "x"}, {"a", "b"}} {
		if r := paracfs(t, p.Root, append([]string{"log", "prune"}, c...)...); r.Code != 2 {
			t.Errorf("paracfs log prune %s: %s\nwant a usage error", strings.Join(c, " "), r)
		}
	}
}

// A prune loses no line appended while it runs: lines appended through
// the mount paracle's way and commits all land, in the new log, once.
func TestLogPruneConcurrent(t *testing.T) {
	p := newProject(t)
	const nOld = 60000
	oldLines(t, p, nOld, 40)
	mount(t, p)
	const nApp = 300
	appender := `
import json, os, sys
for i in range(int(sys.argv[1])):
    with open(".parac/` + logRel + `", "a") as f:
        f.write(json.dumps({"timestamp": "2099-01-01T00:00:00.000000+00:00", "process_id": os.getpid(),
            "change_type": "progress", "description": "appended %d" % i}) + "\n")
    with open(".parac/count.yaml", "w") as f:
        f.write("n: %d\n" % i)
`
	done := make(chan result, 1)
	go func() { done <- run(t, p.Root, "python3", "-c", appender, itoa(nApp)) }()
	removed, prunes := 0, 0
	for running := true; running; {
		select {
		case r := <-done:
			if r.Code != 0 {
				t.Fatalf("appender: %s", r)
			}
			running = false
		default:
		}
		r := paracfs(t, p.Root, "log", "prune", "--keep-days", "30")
		var n int
		if _, err := fmt.Sscanf(r.Stdout, "removed %d entries", &n); r.Code != 0 || err != nil {
			t.Fatalf("paracfs log prune: %s", r)
		}
		removed += n
		prunes++
	}
	if removed != nOld {
		t.Errorf("the prunes removed %d entries in all, want the %d old ones", removed, nOld)
	}
	es := logLines(t, p.Dir)
	seen := map[string]int{}
	commits := 0
	for _, e := range es {
		if strings.HasPrefix(e.Description, "appended ") {
			seen[e.Description]++
		}
		if e.Path == "count.yaml" && (e.Op == "create" || e.Op == "commit") {
			commits++
		}
		if strings.HasPrefix(e.Description, "old entry") {
			t.Errorf("an old entry survived: %s", e)
		}
	}
	for i := 0; i < nApp; i++ {
		if n := seen[fmt.Sprintf("appended %d", i)]; n != 1 {
			t.Errorf("line %q is in the log %d times, want once", fmt.Sprintf("appended %d", i), n)
		}
	}
	if commits != nApp {
		t.Errorf("%d commit lines of count.yaml, want %d", commits, nApp)
	}
	t.Logf("%d prunes ran during %d appends and %d commits", prunes, nApp, nApp)
	if tmps := findTemps(t, p.backing(".")); len(tmps) > 0 {
		t.Errorf("temp files left by the prunes: %v", tmps)
	}
}

// With --log-max-size the daemon rotates the change log: LOG becomes
// LOG.1 and a new LOG starts with a "rotate" line. No entry is lost or
// doubled: paracfs log reads both files, log -f goes on across the
// rotation, and paracle's appends through the mount land in the new LOG.
func TestLogRotate(t *testing.T) {
	p := newProject(t)
	mount(t, p, "--log-max-size", "8KiB")
	fl := startFollow(t, p, "-n", "0")
	fl.ready(t, p) // the follower is at the end of the log
	rotated := p.backing(logRel + ".1")
	n := 0
	commit := func(k int) {
		var b strings.Builder
		for i := 0; i < k; i++ {
			n++
			fmt.Fprintf(&b, "echo 'n: %d' > .parac/r%d.yaml\n", n, n)
		}
		mustRun(t, p.Root, "sh", "-c", b.String())
		// Not two rotations between two looks of log -f: it printed the
		// last commit before the next batch starts.
		fl.waitFor(t, fmt.Sprintf(`"path":"r%d.yaml"`, n))
	}
	for i := 0; i < 40; i++ {
		if _, err := os.Stat(rotated); err == nil {
			break
		}
		commit(5)
	}
	if _, err := os.Stat(rotated); err != nil {
		t.Fatalf("after %d commits the log was not rotated: %v", n, err)
	}
	commit(3)

	cur := strings.Split(strings.TrimSpace(string(readFile(t, p.backing(logRel)))), "\n")
	prev := strings.Split(strings.TrimSpace(string(readFile(t, rotated))), "\n")
	if !strings.Contains(cur[0], `"op":"rotate"`) || strings.Contains(prev[0], `"op":"rotate"`) {
		t.Fatalf("want one rotation, its line first in the new log: new log starts %q, %s.1 starts %q", cur[0], logRel, prev[0])
	}
	if st := readFile(t, p.backing(logRel)); len(st) > 8192 {
		t.Errorf("the new log has %d bytes, past --log-max-size", len(st))
	}
	both := strings.Join(append(prev, cur...), "\n")
	all := logJSON(t, p)
	var printed []string
	for _, e := range all {
		printed = append(printed, e.Raw)
	}
	for i := 1; i <= n; i++ {
		w := fmt.Sprintf(`"path":"r%d.yaml"`, i)
		if c := strings.Count(both, w); c != 1 {
			t.Errorf("r%d.yaml is logged %d times in the log and %s.1, want once", i, c, logRel)
		}
		if c := strings.Count(strings.Join(printed, "\n"), w); c != 1 {
			t.Errorf("paracfs log prints r%d.yaml %d times, want once", i, c)
		}
	}
	// -n reaches back into LOG.1 for what the new log lacks.
	last := logJSON(t, p, "-n", itoa(len(cur)+2))
	if len(last) != len(cur)+2 || last[0].Raw != prev[len(prev)-2] || last[2].Op != "rotate" {
		t.Errorf("paracfs log -n %d: %d entries starting %v, want the last 2 of %s.1 then the new log", len(cur)+2, len(last), last, logRel)
	}

	fl.waitFor(t, fmt.Sprintf(`"path":"r%d.yaml"`, n), `"op":"rotate"`)
	fl.mark(t, p, "after the rotation") // it looked again: anything printed twice is printed by now
	for i := 1; i <= n; i++ {
		if c := fl.count(fmt.Sprintf(`"path":"r%d.yaml"`, i)); c != 1 {
			t.Errorf("log -f printed r%d.yaml %d times across the rotation, want once", i, c)
		}
	}

	// Through the mount: the new log, fresh; paracle's appends land in it.
	line := `{"timestamp":"2099-01-01T00:00:00.000000+00:00","process_id":1,"change_type":"note","description":"after the rotation"}`
	mustRun(t, p.Root, "sh", "-c", "echo '"+line+"' >> .parac/"+logRel)
	if got, want := readFile(t, p.path(logRel)), readFile(t, p.backing(logRel)); string(got) != string(want) || !strings.HasSuffix(string(got), line+"\n") {
		t.Errorf("the log through the mount (%d bytes) differs from the new log (%d bytes), or lacks the appended line", len(got), len(want))
	}
	var a, b syscall.Stat_t
	syscall.Stat(p.backing(logRel), &a)
	syscall.Stat(rotated, &b)
	if a.Mode != b.Mode || a.Uid != b.Uid {
		t.Errorf("new log mode %o uid %d, want the old one's: %o uid %d", a.Mode, a.Uid, b.Mode, b.Uid)
	}
	if tmps := findTemps(t, p.backing(".")); len(tmps) > 0 {
		t.Errorf("temp files left by the rotation: %v", tmps)
	}
	if st := string(readFile(t, p.path(".paracfs/daemon.json"))); !strings.Contains(st, `"log_max_size": 8192`) {
		t.Errorf("the configuration paracfs status shows lacks log_max_size 8192:\n%s", st)
	}
}
