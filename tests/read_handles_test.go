package tests

// What a read of a managed file promises, whatever the kernel caches: a
// handle opened for reading keeps the version it opened, as on a plain
// directory where a writer replaces the file by rename; a reader that
// opens after another process's commit reads that commit's bytes at once;
// and what a process read is the base of its next write, so a stale
// read-modify-write is refused even when the read came after the commit.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
)

// heldReaderScript opens argv[1] read-only and prints "opened", then runs
// one command per stdin line (JSON) and answers each with one JSON line:
//
//	{"op": "read"}                read from the offset to EOF
//	{"op": "pread"}               read the whole handle from offset 0
//	{"op": "fstat"}               the handle's size
//	{"op": "write", "old", "new"} open(argv[1], "w") and write what this
//	                              process read so far, old replaced by new
const heldReaderScript = `import json, os, sys
p = sys.argv[1]
fd = os.open(p, os.O_RDONLY)
seen = b""
print("opened", flush=True)
for line in sys.stdin:
    c = json.loads(line)
    res = {"pid": os.getpid(), "errno": 0, "error": "", "data": "", "size": -1}
    try:
        if c["op"] == "read":
            got = b""
            while True:
                b = os.read(fd, 65536)
                if not b:
                    break
                got += b
            seen += got
            res["data"] = got.decode()
        elif c["op"] == "pread":
            got, off = b"", 0
            while True:
                b = os.pread(fd, 65536, off)
                if not b:
                    break
                got, off = got + b, off + len(b)
            res["data"] = got.decode()
        elif c["op"] == "fstat":
            res["size"] = os.fstat(fd).st_size
        elif c["op"] == "write":
            data = seen.decode().replace(c["old"], c["new"], 1)
            res["data"] = data
            with open(p, "w") as f:
                f.write(data)
    except OSError as e:
        res.update(errno=e.errno, error=str(e))
    print(json.dumps(res), flush=True)
`

// mmapReadScript prints argv[1] as read through a shared read-only mmap.
const mmapReadScript = `import mmap, os, sys
with open(sys.argv[1], "rb") as f:
    n = os.fstat(f.fileno()).st_size
    with mmap.mmap(f.fileno(), n, access=mmap.ACCESS_READ) as m:
        sys.stdout.buffer.write(m[:])
`

type heldReply struct {
	Pid   int    `json:"pid"`
	Errno int    `json:"errno"`
	Error string `json:"error"`
	Data  string `json:"data"`
	Size  int64  `json:"size"`
}

// heldReader is a python3 process holding rel open for reading.
type heldReader struct{ h *pyHeld }

func openHeldReader(t *testing.T, p *project, rel string) *heldReader {
	t.Helper()
	h, _ := startHeld(t, p.Dir, "opened", "python3", "-c", heldReaderScript, rel)
	return &heldReader{h: h}
}

// do runs one command in the reader and returns its answer.
func (r *heldReader) do(t *testing.T, op string, args ...string) heldReply {
	t.Helper()
	c := map[string]string{"op": op}
	for i := 0; i+1 < len(args); i += 2 {
		c[args[i]] = args[i+1]
	}
	b, _ := json.Marshal(c)
	io.WriteString(r.h.stdin, string(b)+"\n")
	line, err := readLineTimeout(r.h.out, eventWait)
	var res heldReply
	if err != nil || json.Unmarshal([]byte(line), &res) != nil {
		t.Fatalf("the held reader, %s: printed %q (%v)", op, line, err)
	}
	if res.Errno != 0 && op != "write" {
		t.Fatalf("the held reader, %s: %s", op, res.Error)
	}
	return res
}

// A handle opened for reading before another process's commit reads the
// version it opened, whole, as on a plain directory (the commit renames a
// new file over the name); a process that opens the file after the
// commit reads the new bytes at once; and the held reader's write of what
// it read is refused as a conflict, although its read came after the
// commit: the version a handle reads is the one it opened.
func TestReadHandleKeepsItsVersion(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const rel = "config/logging.yaml" // no revision field: only what was read can tell
	orig := readFile(t, p.path(rel))
	start := rev(t, p.path(rel))

	r := openHeldReader(t, p, rel)
	other := []byte("level: debug\nformat: text\nrotate: daily\n")
	if res := pyWrite(t, p.Dir, rel, "trunc", other); res.Errno != 0 {
		t.Fatalf("the other writer: %s failed: %s", res.Stage, res.Error)
	}

	if got := r.do(t, "read"); got.Data != string(orig) {
		t.Errorf("a handle opened before another process's commit read %q, want the version it opened %q", got.Data, orig)
	}
	if got := r.do(t, "fstat"); got.Size != int64(len(orig)) {
		t.Errorf("fstat of that handle: size %d, want %d (its version's)", got.Size, len(orig))
	}
	if got := readFile(t, p.path(rel)); !bytes.Equal(got, other) {
		t.Errorf("a new open after the commit read %q, want the committed %q", got, other)
	}
	if st, err := os.Stat(p.path(rel)); err != nil || st.Size() != int64(len(other)) {
		t.Errorf("stat after the commit: %v, size %d, want %d", err, st.Size(), len(other))
	}
	n := len(logLines(t, p.Dir))
	res := r.do(t, "write", "old", "level: info", "new", "level: warn")
	if syscall.Errno(res.Errno) != syscall.EBUSY {
		t.Errorf("write of what was read through a handle opened at revision %d, after revision %d: errno %d (%s), want EBUSY",
			start, start+1, res.Errno, res.Error)
	}
	toolRefused(t, p, n, rel, other, start+1, "conflict", "EBUSY", res.Pid, []byte(res.Data))
	if got := r.do(t, "pread"); got.Data != string(orig) {
		t.Errorf("reading the held handle again from 0 gave %q, want its version %q", got.Data, orig)
	}
}

// A reader that opens the file anew after each of many commits by another
// process reads exactly that commit's bytes and size, whether the file
// grew or shrank, and whether it was read (and so possibly cached) just
// before: read(2), stat(2) and mmap all agree, at once.
func TestReadAnewAfterEachCommit(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const rel = "memory/knowledge/architecture.md"
	path := p.path(rel)
	first := readFile(t, path)
	held := openHeldReader(t, p, rel) // a handle kept on the first version throughout

	sizes := []int{5000, 120, 100 << 10, 4096, 4095, 70 << 10, 1, 8192}
	for i, size := range sizes {
		// Warm whatever a read leaves behind, then commit from another process.
		readFile(t, path)
		readFile(t, path)
		run(t, p.Dir, "python3", "-c", mmapReadScript, rel)
		want := []byte(strings.Repeat(fmt.Sprintf("commit %d, %d bytes\n", i, size), size)[:size])
		if res := pyWrite(t, p.Dir, rel, "trunc", want); res.Errno != 0 {
			t.Fatalf("commit %d: %s failed: %s", i, res.Stage, res.Error)
		}
		if st, err := os.Stat(path); err != nil || st.Size() != int64(size) {
			t.Fatalf("commit %d: stat right after it: %v, size %d, want %d", i, err, st.Size(), size)
		}
		if got := readFile(t, path); !bytes.Equal(got, want) {
			t.Fatalf("commit %d: a new open right after it read %d bytes %q..., want the %d bytes committed", i, len(got), short(string(got)), size)
		}
		if got := run(t, p.Dir, "cat", rel); got.Stdout != string(want) {
			t.Fatalf("commit %d: cat right after it printed %d bytes, want the %d committed", i, len(got.Stdout), size)
		}
		if got := run(t, p.Dir, "python3", "-c", mmapReadScript, rel); got.Stdout != string(want) {
			t.Fatalf("commit %d: mmap of a new open right after it read %d bytes, want the %d committed", i, len(got.Stdout), size)
		}
	}
	if got := held.do(t, "pread"); got.Data != string(first) {
		t.Errorf("the handle held since before the commits read %d bytes, want its own version's %d", len(got.Data), len(first))
	}
}

// A reader at the end of a file follows an append by another process
// (tail -f): the appended bytes are what it reads next, and having read
// them it has read the appended version, whose bytes it now holds all of,
// so its read-modify-write commits. A reader that only saw the file grow
// (fstat) and did not read the appended bytes writes a stale file: that
// is still a conflict.
func TestReadFollowedAppendIsRead(t *testing.T) {
	t.Parallel()
	const rel = "memory/logs/agents.jsonl"
	first := []byte("{\"n\": 1}\n")
	more := []byte("{\"n\": 2}\n")
	for _, readMore := range []bool{true, false} {
		name := "read the append"
		if !readMore {
			name = "fstat only"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			mount(t, p)
			if res := pyWrite(t, p.Dir, rel, "trunc", first); res.Errno != 0 {
				t.Fatalf("creating %s: %s failed: %s", rel, res.Stage, res.Error)
			}
			r := openHeldReader(t, p, rel)
			if got := r.do(t, "read"); got.Data != string(first) {
				t.Fatalf("the reader read %q, want %q", got.Data, first)
			}
			if res := pyWrite(t, p.Dir, rel, "append", more); res.Errno != 0 {
				t.Fatalf("the appender: %s failed: %s", res.Stage, res.Error)
			}
			start := rev(t, p.path(rel))
			if got := r.do(t, "fstat"); got.Size != int64(len(first)+len(more)) {
				t.Errorf("fstat of the reader at the end after the append: size %d, want %d", got.Size, len(first)+len(more))
			}
			if readMore {
				if got := r.do(t, "read"); got.Data != string(more) {
					t.Fatalf("the reader at the end read %q after the append, want the appended %q", got.Data, more)
				}
			}
			appended := append(append([]byte{}, first...), more...)
			n := len(logLines(t, p.Dir))
			res := r.do(t, "write", "old", `"n": 1`, "new", `"n": 0`)
			if !readMore {
				if syscall.Errno(res.Errno) != syscall.EBUSY {
					t.Errorf("write of %q, read before the append it never read: errno %d (%s), want EBUSY", res.Data, res.Errno, res.Error)
				}
				toolRefused(t, p, n, rel, appended, start, "conflict", "EBUSY", res.Pid, []byte(res.Data))
				return
			}
			if res.Errno != 0 {
				t.Fatalf("write of %q, after reading every byte of the appended version: %s, want it committed", res.Data, res.Error)
			}
			want := bytes.Replace(appended, []byte(`"n": 1`), []byte(`"n": 0`), 1)
			toolCommitted(t, p, n, rel, start, want, res.Pid, "python3")
		})
	}
}
