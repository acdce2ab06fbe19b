package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The processes the tests drive through a mount: a python3 writer (run to
// the end, or held open until told to write), any tool started with pipes
// and waited for, and a reader looping over a file while others write.

// pyWriteScript writes one file with os.open/os.write/os.close (no buffering
// in between, so each errno is attributed to the call that returned it) and
// prints its pid, the outcome and the seconds from open() to the end of
// close() (or of the call that failed) as JSON. With "stdin", the bytes
// come on stdin (argv cannot carry invalid UTF-8, NUL bytes or megabytes);
// with "hold", it prints "opened" after open and waits for a line on stdin
// before writing.
const pyWriteScript = `
import errno, json, os, sys, time
a = json.loads(sys.argv[1])
flags = {"trunc": os.O_WRONLY | os.O_CREAT | os.O_TRUNC, "rw": os.O_RDWR,
         "append": os.O_WRONLY | os.O_APPEND, "create": os.O_WRONLY | os.O_CREAT | os.O_EXCL}[a["flags"]]
data = sys.stdin.buffer.read() if a.get("stdin") else a["data"].encode()
res = {"pid": os.getpid(), "errno": 0, "stage": "", "error": ""}
stage = "open"
fd = -1
t0 = time.monotonic()
try:
    fd = os.open(a["path"], flags, 0o644)
    if a.get("hold"):
        print("opened", flush=True)
        sys.stdin.readline()
    stage = "write"
    while data:
        n = os.write(fd, data)
        data = data[n:]
    if a.get("fsync"):
        stage = "fsync"
        os.fsync(fd)
    stage = "close"
    f, fd = fd, -1
    os.close(f)
except OSError as e:
    res.update(errno=e.errno, stage=stage, error=str(e))
    if fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass
res["secs"] = time.monotonic() - t0
print(json.dumps(res), flush=True)
`

// pyResult is the outcome of pyWriteScript.
type pyResult struct {
	Pid   int    `json:"pid"`
	Errno int    `json:"errno"`
	Stage string `json:"stage"`
	Error string `json:"error"`
}

func (r pyResult) errno() syscall.Errno { return syscall.Errno(r.Errno) }

// pyWrite writes data to path (relative to dir, or absolute) from a python3
// child: flags is "trunc" (open("w")), "rw" (no O_TRUNC), "append" or
// "create".
func pyWrite(t *testing.T, dir, path, flags string, data []byte) pyResult {
	t.Helper()
	return pyWriteOpts(t, dir, map[string]any{"path": path, "flags": flags, "data": string(data)})
}

func pyWriteOpts(t *testing.T, dir string, opts map[string]any) pyResult {
	t.Helper()
	arg, _ := json.Marshal(opts)
	r := run(t, dir, "python3", "-c", pyWriteScript, string(arg))
	return parsePy(t, r)
}

// parsePy decodes the JSON outcome a python3 child printed last.
func parsePy(t *testing.T, r result) pyResult {
	t.Helper()
	var res pyResult
	decodeLastLine(t, r, &res)
	return res
}

func decodeLastLine(t *testing.T, r result, v any) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if r.Code != 0 || json.Unmarshal([]byte(lines[len(lines)-1]), v) != nil {
		t.Fatalf("python3 writer: exit %d\nstdout: %s\nstderr: %s", r.Code, short(r.Stdout), short(r.Stderr))
	}
}

// rawResult is pyWriteRaw's outcome: pyWrite's, and the seconds from
// open() to the end of close() (or of the call that failed).
type rawResult struct {
	pyResult
	Secs float64 `json:"secs"`
}

// pyWriteRaw is pyWrite for any bytes: they go to the writer on stdin.
func pyWriteRaw(t *testing.T, dir, path, flags string, data []byte) rawResult {
	t.Helper()
	arg, _ := json.Marshal(map[string]any{"path": path, "flags": flags, "stdin": true})
	var res rawResult
	decodeLastLine(t, runInput(t, dir, string(data), "python3", "-c", pyWriteScript, string(arg)), &res)
	return res
}

// pyHeld is a child with pipes on its stdin and stdout: a python3 writer
// that opened its file and waits to write, or any tool a test talks to.
type pyHeld struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   *bufio.Reader
}

// startPiped starts name with pipes on its stdin and stdout and its stderr
// into stderr; its cleanup kills it if it is still running.
func startPiped(t *testing.T, dir string, stderr io.Writer, name string, args ...string) *pyHeld {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return &pyHeld{cmd: cmd, stdin: stdin, out: bufio.NewReader(stdout)}
}

// startPy starts a python3 script with pipes on its stdin and stdout; its
// cleanup kills it if it is still running.
func startPy(t *testing.T, dir, script string, args ...string) *pyHeld {
	t.Helper()
	return startPiped(t, dir, os.Stderr, "python3", append([]string{"-c", script}, args...)...)
}

// startHeld starts a tool with pipes on its stdin and stdout and waits for
// it to print want (e.g. "opened", "read"); its cleanup kills it if it is
// still running.
func startHeld(t *testing.T, dir, want, name string, args ...string) (*pyHeld, *syncBuffer) {
	t.Helper()
	stderr := &syncBuffer{}
	h := startPiped(t, dir, stderr, name, args...)
	line, err := readLineTimeout(h.out, eventWait)
	if err != nil || line != want {
		t.Fatalf("%s %s: printed %q (%v), want %q\nstderr: %s", name, short(strings.Join(args, " ")), line, err, want, stderr.String())
	}
	return h, stderr
}

// pyOpenHeld starts pyWriteScript with hold and waits until it has opened
// the file.
func pyOpenHeld(t *testing.T, dir, path, flags string, data []byte) *pyHeld {
	t.Helper()
	arg, _ := json.Marshal(map[string]any{"path": path, "flags": flags, "data": string(data), "hold": true})
	h, _ := startHeld(t, dir, "opened", "python3", "-c", pyWriteScript, string(arg))
	return h
}

// finish lets the held writer write and close, and returns its outcome.
func (h *pyHeld) finish(t *testing.T) pyResult {
	t.Helper()
	io.WriteString(h.stdin, "go\n")
	line, err := readLineTimeout(h.out, 60*time.Second)
	if err != nil {
		t.Fatalf("python3 writer: %v", err)
	}
	var res pyResult
	if err := json.Unmarshal([]byte(line), &res); err != nil {
		t.Fatalf("python3 writer printed %q: %v", line, err)
	}
	h.cmd.Wait()
	return res
}

// start lets the held writer go without waiting for it.
func (h *pyHeld) start() { io.WriteString(h.stdin, "go\n") }

func readLineTimeout(r *bufio.Reader, d time.Duration) (string, error) {
	type res struct {
		s   string
		err error
	}
	ch := make(chan res, 1)
	go func() {
		s, err := r.ReadString('\n')
		ch <- res{strings.TrimSpace(s), err}
	}()
	select {
	case x := <-ch:
		return x.s, x.err
	case <-time.After(d):
		return "", fmt.Errorf("nothing after %s", d)
	}
}

// readerScript reads a YAML file through the mount until a stop file
// appears (and at least once) and reports what went wrong: ENOENT (the
// file missing between a rename away and the new file), other errors, and
// content that is not a YAML mapping with the key given. It creates a
// ready file after its first read, and reports each complete read as a
// span: its start and end (wall clock, seconds) and the revision: field it
// saw, so that the test can show the reads overlapped the commits.
const readerScript = `import errno, json, os, re, sys, time, yaml
path, stop, key = sys.argv[1], sys.argv[2], sys.argv[3]
reads, enoent, other, bad, spans = 0, 0, [], [], []
while not os.path.exists(stop) or reads == 0:
    t0 = time.time()
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        if e.errno == errno.ENOENT:
            enoent += 1
        else:
            other.append(repr(e)[:100])
        reads += 1
        continue
    t1 = time.time()
    m = re.search(r"(?m)^revision: (\d+)$", text)
    spans.append([t0, t1, int(m.group(1)) if m else -1])
    try:
        doc = yaml.safe_load(text)
        if not isinstance(doc, dict) or key not in doc:
            bad.append("no %s: %r" % (key, text[:60]))
    except Exception as e:
        bad.append("%s: %r" % (repr(e)[:80], text[:60]))
    reads += 1
    if reads == 1:
        open(stop + ".ready", "w").close()
print(json.dumps({"reads": reads, "enoent": enoent, "errors": other[:5], "nerrors": len(other), "bad": bad[:5], "nbad": len(bad), "spans": spans}))
`

// reader is readerScript running.
type reader struct {
	cmd  *exec.Cmd
	out  bytes.Buffer
	stop string
	done chan struct{} // closed once cmd.Wait returned err
	err  error
}

// startReader starts a reader looping over rel through the mount, checking
// that every read finds a YAML mapping with key, and returns once it has
// read the file once. It needs Debian's python3 with python3-yaml, and
// skips the test without them.
func startReader(t *testing.T, p *project, rel, key string) *reader {
	t.Helper()
	toolNeedPython(t, "yaml")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	t.Cleanup(cancel)
	r := &reader{stop: filepath.Join(p.Root, "stop-reader-"+strconv.FormatInt(time.Now().UnixNano(), 36))}
	r.cmd = exec.CommandContext(ctx, toolPython, "-c", readerScript, rel, r.stop, key)
	r.cmd.Dir = p.Dir
	r.cmd.Stdout, r.cmd.Stderr = &r.out, &r.out
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r.done = make(chan struct{})
	go func() { r.err = r.cmd.Wait(); close(r.done) }()
	waitUntil(t, "the reader's first read", func() bool {
		select {
		case <-r.done:
			t.Fatalf("the reader exited before its first read: %v: %s", r.err, short(r.out.String()))
		default:
		}
		_, err := os.Stat(r.stop + ".ready")
		return err == nil
	})
	return r
}

// finish stops the reader and asserts that every read, during what, found
// the file complete: never missing, failing, partial or invalid. It also
// asserts that the reads did overlap the writes, or the test proves
// nothing: reads saw at least two revisions of rel (they ran between
// commits), and at least one read was in flight when a commit of rel (the
// log lines after the first n) was logged.
func (r *reader) finish(t *testing.T, p *project, n int, rel, what string) {
	t.Helper()
	if err := os.WriteFile(r.stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	<-r.done // the reader's context ends it, should it hang
	if r.err != nil {
		t.Fatalf("reader: %v: %s", r.err, short(r.out.String()))
	}
	var rep struct {
		Reads   int         `json:"reads"`
		ENOENT  int         `json:"enoent"`
		Errors  []string    `json:"errors"`
		NErrors int         `json:"nerrors"`
		Bad     []string    `json:"bad"`
		NBad    int         `json:"nbad"`
		Spans   [][]float64 `json:"spans"`
	}
	if err := json.Unmarshal(r.out.Bytes(), &rep); err != nil {
		t.Fatalf("reader output %q: %v", short(r.out.String()), err)
	}
	if rep.ENOENT > 0 {
		t.Errorf("during %s, %d of %d reads got ENOENT: the file must stay visible (its last committed version) until the new one commits", what, rep.ENOENT, rep.Reads)
	}
	if rep.NErrors > 0 {
		t.Errorf("during %s, %d of %d reads failed: %q", what, rep.NErrors, rep.Reads, rep.Errors)
	}
	if rep.NBad > 0 {
		t.Errorf("during %s, %d of %d reads saw a partial or invalid file: %q", what, rep.NBad, rep.Reads, rep.Bad)
	}
	// The overlap: which revisions the reads saw, and how many commits
	// were logged while a read was in flight.
	revs := map[int]bool{}
	for _, s := range rep.Spans {
		revs[int(s[2])] = true
	}
	var commits []float64
	for _, e := range forPath(logSince(t, p.Dir, n), rel) {
		if ts, err := time.Parse(time.RFC3339Nano, e.Timestamp); err == nil && isCommitOp(e.Op) {
			commits = append(commits, float64(ts.UnixNano())/1e9)
		}
	}
	during := 0 // commits logged while some read was in flight
	for _, c := range commits {
		for _, s := range rep.Spans {
			if s[0] < c && c < s[1] {
				during++
				break
			}
		}
	}
	t.Logf("reader: %d reads during %s; they saw %d revisions, and %d of %d commits were logged while a read was in flight", rep.Reads, what, len(revs), during, len(commits))
	if len(revs) < 2 {
		t.Errorf("during %s the reads saw %d revision(s) of %s: they never ran between two commits, so they prove nothing", what, len(revs), rel)
	}
	if during == 0 {
		t.Errorf("during %s no commit of %s was logged while a read was in flight (%d reads, %d commits): the reads never overlapped a commit", what, rel, rep.Reads, len(commits))
	}
}
