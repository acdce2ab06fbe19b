package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// incrementScript does n read-modify-write increments of counter: in a YAML
// file, keeping its revision field as read, retrying on EBUSY.
const incrementScript = `import errno, json, os, re, sys
path, n = sys.argv[1], int(sys.argv[2])
ok = conflicts = 0
other, bad = [], []
while ok < n:
    with open(path) as f:
        text = f.read()
    m = re.search(r"^counter: (\d+)$", text, re.M)
    if not m:
        # Readers must never see a partial file: count it, fail later.
        bad.append(text[:80])
        if len(bad) > 5000:
            break
        continue
    new = text[:m.start(1)] + str(int(m.group(1)) + 1) + text[m.end(1):]
    try:
        with open(path, "w") as f:
            f.write(new)
    except OSError as e:
        if e.errno == errno.EBUSY:
            conflicts += 1
            continue
        other.append(str(e))
        if len(other) > 20:
            break
        continue
    ok += 1
print(json.dumps({"pid": os.getpid(), "ok": ok, "conflicts": conflicts, "errors": other, "bad_reads": len(bad), "bad_sample": bad[:3]}))
`

// 8 processes × 100 read-modify-write increments, retrying on conflict:
// no update is lost.
func TestConcurrentIncrements(t *testing.T) {
	t.Parallel()
	const writers, each = 8, 100
	p := newProject(t)
	mount(t, p)
	const rel = "memory/context/counter.yaml"
	if res := pyWrite(t, p.Dir, rel, "create", []byte("# shared counter\nrevision: 0\ncounter: 0\n")); res.Errno != 0 {
		t.Fatalf("creating %s: %s", rel, res.Error)
	}
	startRev := rev(t, p.path(rel))
	n := len(logLines(t, p.Dir))

	type outcome struct {
		Pid       int      `json:"pid"`
		Ok        int      `json:"ok"`
		Conflicts int      `json:"conflicts"`
		Errors    []string `json:"errors"`
		BadReads  int      `json:"bad_reads"`
		BadSample []string `json:"bad_sample"`
	}
	outs := make([]outcome, writers)
	var wg sync.WaitGroup
	errs := make(chan string, writers)
	for i := 0; i < writers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// A deadlock guard only (the suite's -timeout is another):
			// 800 increments with their conflicts take minutes with the
			// daemon under -race on a loaded machine.
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "python3", "-c", incrementScript, rel, strconv.Itoa(each))
			cmd.Dir = p.Dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil || json.Unmarshal(bytes.TrimSpace(out), &outs[i]) != nil {
				errs <- "writer " + strconv.Itoa(i) + ": " + string(out) + " " + stderr.String()
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		return
	}
	ok, conflicts := 0, 0
	for _, o := range outs {
		ok += o.Ok
		conflicts += o.Conflicts
		if len(o.Errors) > 0 {
			t.Errorf("writer %d got errors other than EBUSY: %v", o.Pid, o.Errors)
		}
		if o.BadReads > 0 {
			t.Errorf("writer %d read a file without its counter %d times (e.g. %q): readers must only ever see committed versions", o.Pid, o.BadReads, o.BadSample)
		}
	}
	t.Logf("%d commits, %d conflicts retried", ok, conflicts)
	got := readFile(t, p.path(rel))
	want := "# shared counter\nrevision: " + strconv.FormatInt(startRev+int64(ok), 10) + "\ncounter: " + strconv.Itoa(writers*each) + "\n"
	if string(got) != want {
		t.Errorf("after %d×%d increments:\n%s\nwant:\n%s", writers, each, got, want)
	}
	if got := rev(t, p.path(rel)); got != startRev+int64(ok) {
		t.Errorf("revision went from %d to %d, want +%d (one per successful commit)", startRev, got, ok)
	}
	lines := forPath(logSince(t, p.Dir, n), rel)
	commits, refused := 0, 0
	for _, e := range lines {
		switch e.Op {
		case "commit":
			commits++
		case "conflict":
			refused++
		default:
			t.Errorf("unexpected log line: %v", e)
		}
	}
	if commits != ok {
		t.Errorf("the log has %d commit lines for %s, want %d (the successful commits)", commits, rel, ok)
	}
	if refused != conflicts {
		t.Errorf("the log has %d conflict lines for %s, want %d (the EBUSY the writers saw)", refused, rel, conflicts)
	}
}

// After a commit by one process, another process's open+read and stat see
// the new bytes and size, also when stamping the revision changes the
// length (revision 9 → 10): with no other open file, while a reader keeps
// the file open, and while a writer has it open without having committed.
func TestCacheCoherence(t *testing.T) {
	t.Parallel()
	for _, holder := range []string{"", "reader", "writer"} {
		name := "alone"
		if holder != "" {
			name = "while a " + holder + " holds it open"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			const rel = "memory/context/coherence.yaml"
			if err := os.WriteFile(p.path(rel), []byte("# coherence\nrevision: 9\nvalue: a\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			mount(t, p)
			if got := rev(t, p.path(rel)); got != 9 {
				t.Fatalf("revision = %d, want 9 (its field)", got)
			}
			switch holder {
			case "reader": // e.g. a server that keeps its state file open
				h := startPy(t, p.Dir, "import sys\nf = open(sys.argv[1])\nf.read()\nprint('opened', flush=True)\nsys.stdin.readline()\n", rel)
				if line, err := readLineTimeout(h.out, eventWait); line != "opened" {
					t.Fatalf("reader: %q %v", line, err)
				}
			case "writer": // an editor with the file open for writing, nothing written yet
				h := startPy(t, p.Dir, "import os, sys\nfd = os.open(sys.argv[1], os.O_RDWR)\nprint('opened', flush=True)\nsys.stdin.readline()\n", rel)
				if line, err := readLineTimeout(h.out, eventWait); line != "opened" {
					t.Fatalf("writer: %q %v", line, err)
				}
			}
			checkCoherence(t, p, rel)
		})
	}
}

func checkCoherence(t *testing.T, p *project, rel string) {
	for i, value := range []string{"bb", strings.Repeat("c", 300), "d", strings.Repeat("e", 5000), "", "ffff"} {
		// Warm the caches: other processes read and stat the file.
		mustRun(t, p.Dir, "cat", rel)
		mustRun(t, p.Dir, "stat", rel)
		os.Stat(p.path(rel))

		cur := 9 + i
		written := "# coherence\nrevision: " + strconv.Itoa(cur) + "\nvalue: " + value + "\n"
		if res := pyWrite(t, p.Dir, rel, "trunc", []byte(written)); res.Errno != 0 {
			t.Fatalf("commit %d: %s failed: %s", i, res.Stage, res.Error)
		}
		want := "# coherence\nrevision: " + strconv.Itoa(cur+1) + "\nvalue: " + value + "\n"
		if r := mustRun(t, p.Dir, "cat", rel); r.Stdout != want {
			t.Errorf("commit %d: cat after the commit:\n%s\nwant\n%s", i, short(r.Stdout), short(want))
		}
		if r := mustRun(t, p.Dir, "stat", "-c", "%s", rel); strings.TrimSpace(r.Stdout) != strconv.Itoa(len(want)) {
			t.Errorf("commit %d: stat -c %%s = %s, want %d", i, strings.TrimSpace(r.Stdout), len(want))
		}
		if st, err := os.Stat(p.path(rel)); err != nil || st.Size() != int64(len(want)) {
			t.Errorf("commit %d: os.Stat in the test process: %v, size %d, want %d", i, err, st.Size(), len(want))
		}
		if got, err := os.ReadFile(p.path(rel)); err != nil || string(got) != want {
			t.Errorf("commit %d: read in the test process: %v\n%s\nwant\n%s", i, err, short(string(got)), short(want))
		}
		const pyRead = `import os, sys
st = os.stat(sys.argv[1])
with open(sys.argv[1], "rb") as f:
    data = f.read()
sys.stdout.write("%d\n" % st.st_size)
sys.stdout.write(data.decode())
`
		if r := mustRun(t, p.Dir, "python3", "-c", pyRead, rel); r.Stdout != strconv.Itoa(len(want))+"\n"+want {
			t.Errorf("commit %d: python stat+read:\n%s\nwant size %d and\n%s", i, short(r.Stdout), len(want), short(want))
		}
	}
}
