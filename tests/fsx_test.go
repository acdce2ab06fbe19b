package tests

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// fsx: random writes, truncations, extensions, holes, reads and mmap reads
// on one file through the mount, each checked against an in-memory model
// of the file. PARACFS_FSX_SEED replays a run (the seed is logged);
// PARACFS_FSX_OPS sets the number of operations (100000 by default).
//
// A scratch file passes straight through to the backing file; a managed
// (.md) file is written into a handle's staging copy, and each close
// commits it, so the model is also checked against the committed bytes
// after every close.
func TestFsx(t *testing.T) {
	ops := 100000
	if s := os.Getenv("PARACFS_FSX_OPS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("PARACFS_FSX_OPS=%q: want a positive number", s)
		}
		ops = n
	}
	seed := time.Now().UnixNano()
	if s := os.Getenv("PARACFS_FSX_SEED"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("PARACFS_FSX_SEED=%q: %v", s, err)
		}
		seed = n
	}
	p := newProject(t)
	mount(t, p)
	if err := os.Mkdir(p.path("fsx"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, rel string
		maxLen    int
		reopen    int // one close and open in this many operations
	}{
		{"scratch", "fsx/scratch.bin", 256 << 10, 500},
		{"managed", "fsx/managed.md", 128 << 10, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			t.Logf("seed %d (PARACFS_FSX_SEED=%d replays it), %d operations", seed, seed, ops)
			x := &fsx{t: t, p: p, rel: tc.rel, maxLen: tc.maxLen, rnd: rand.New(rand.NewSource(seed))}
			x.open(unix.O_CREAT | unix.O_EXCL)
			defer x.close()
			// The case that found staging's stale bytes: write 100,
			// truncate to 10, write at 50; bytes 10-49 are zeros.
			x.write(0, 100)
			x.truncate(10)
			x.write(50, 10)
			x.checkAll("after write 100, truncate 10, write at 50")
			x.reopen()
			for i := 0; i < ops && !t.Failed(); i++ {
				x.step(i, tc.reopen)
			}
			if t.Failed() {
				return
			}
			x.reopen()
			x.checkBacking()
			t.Logf("%d operations, %d reopens, final size %d", ops, x.reopens, len(x.model))
		})
	}
}

type fsx struct {
	t       *testing.T
	p       *project
	rel     string
	maxLen  int
	rnd     *rand.Rand
	fd      int
	model   []byte
	history []string // the last operations, for a failure's report
	reopens int
}

func (x *fsx) note(format string, args ...any) {
	x.history = append(x.history, fmt.Sprintf(format, args...))
	if len(x.history) > 30 {
		x.history = x.history[1:]
	}
}

func (x *fsx) fail(format string, args ...any) {
	x.t.Helper()
	x.t.Fatalf("%s: %s\nlast operations:\n  %s", x.rel, fmt.Sprintf(format, args...), joinLines(x.history))
}

func joinLines(s []string) string {
	var b bytes.Buffer
	for i, l := range s {
		if i > 0 {
			b.WriteString("\n  ")
		}
		b.WriteString(l)
	}
	return b.String()
}

func (x *fsx) open(extra int) {
	x.t.Helper()
	fd, err := unix.Open(x.p.path(x.rel), unix.O_RDWR|unix.O_CLOEXEC|extra, 0o644)
	if err != nil {
		x.fail("open: %v", err)
	}
	x.fd = fd
	x.note("open")
}

func (x *fsx) close() {
	if x.fd > 0 {
		if err := unix.Close(x.fd); err != nil {
			x.fail("close: %v", err)
		}
		x.fd = -1
		x.note("close")
	}
}

// reopen closes the file (a commit, for a managed file), checks what a
// new reader sees, and opens it again for writing.
func (x *fsx) reopen() {
	x.t.Helper()
	x.close()
	x.reopens++
	got, err := os.ReadFile(x.p.path(x.rel))
	if err != nil {
		x.fail("read after close: %v", err)
	}
	x.compare("a new reader after close", got, x.model)
	x.open(0)
	x.checkAll("after reopen")
}

func (x *fsx) step(i, reopen int) {
	x.t.Helper()
	n := len(x.model)
	if x.rnd.Intn(reopen) == 0 {
		x.reopen()
		return
	}
	switch r := x.rnd.Intn(1000); {
	case r < 300: // write inside or across the end
		size := x.size()
		x.write(x.rnd.Intn(x.maxLen-size+1), size)
	case r < 400: // append at the end
		size := x.size()
		if n+size <= x.maxLen {
			x.write(n, size)
		}
	case r < 480: // write past the end, leaving a hole
		size := x.size()
		off := n + 1 + x.rnd.Intn(16<<10)
		if off+size <= x.maxLen {
			x.write(off, size)
		}
	case r < 560: // truncate anywhere
		x.truncate(x.rnd.Intn(x.maxLen + 1))
	case r < 600: // truncate down a little, so a later write reuses the room
		if n > 0 {
			x.truncate(n - 1 - x.rnd.Intn(min(n, 4096)))
		}
	case r < 630: // extend by truncate
		if n < x.maxLen {
			x.truncate(n + 1 + x.rnd.Intn(x.maxLen-n))
		}
	case r < 900: // read anywhere, past the end too
		off := x.rnd.Intn(x.maxLen + 1)
		x.read(off, x.size())
	case r < 950:
		x.mmapRead()
	default:
		x.checkSize("fstat")
	}
	if i%5000 == 4999 {
		x.checkAll(fmt.Sprintf("after operation %d", i+1))
	}
}

// size is an I/O size: mostly small, sometimes large.
func (x *fsx) size() int {
	if x.rnd.Intn(10) == 0 {
		return 1 + x.rnd.Intn(64<<10)
	}
	return 1 + x.rnd.Intn(4096)
}

func (x *fsx) write(off, size int) {
	x.t.Helper()
	if off+size > x.maxLen {
		size = x.maxLen - off
	}
	if size <= 0 {
		return
	}
	buf := make([]byte, size)
	x.rnd.Read(buf)
	x.note("write off %d size %d (size was %d)", off, size, len(x.model))
	n, err := unix.Pwrite(x.fd, buf, int64(off))
	if err != nil || n != size {
		x.fail("pwrite(off %d, size %d) = %d, %v", off, size, n, err)
	}
	if end := off + size; end > len(x.model) {
		x.model = append(x.model, make([]byte, end-len(x.model))...)
	}
	copy(x.model[off:], buf)
}

func (x *fsx) truncate(size int) {
	x.t.Helper()
	x.note("ftruncate %d (size was %d)", size, len(x.model))
	if err := unix.Ftruncate(x.fd, int64(size)); err != nil {
		x.fail("ftruncate(%d): %v", size, err)
	}
	if size <= len(x.model) {
		x.model = x.model[:size:size] // a later append must not see the cut bytes
	} else {
		x.model = append(x.model, make([]byte, size-len(x.model))...)
	}
}

func (x *fsx) read(off, size int) {
	x.t.Helper()
	x.note("read off %d size %d (size %d)", off, size, len(x.model))
	buf := make([]byte, size)
	n, err := unix.Pread(x.fd, buf, int64(off))
	if err != nil {
		x.fail("pread(off %d, size %d): %v", off, size, err)
	}
	var want []byte
	if off < len(x.model) {
		want = x.model[off:min(off+size, len(x.model))]
	}
	x.compareAt(fmt.Sprintf("pread(off %d, size %d)", off, size), off, buf[:n], want)
}

func (x *fsx) mmapRead() {
	x.t.Helper()
	n := len(x.model)
	x.note("mmap read of %d bytes", n)
	if n == 0 {
		return
	}
	m, err := unix.Mmap(x.fd, 0, n, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		x.fail("mmap(%d bytes): %v", n, err)
	}
	got := bytes.Clone(m)
	unix.Munmap(m)
	x.compareAt("mmap read", 0, got, x.model)
}

func (x *fsx) checkSize(what string) {
	x.t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(x.fd, &st); err != nil {
		x.fail("fstat: %v", err)
	}
	if st.Size != int64(len(x.model)) {
		x.fail("%s: size %d, want %d", what, st.Size, len(x.model))
	}
}

// checkAll reads the whole file through the open descriptor.
func (x *fsx) checkAll(what string) {
	x.t.Helper()
	x.checkSize(what)
	buf := make([]byte, len(x.model)+1)
	got := 0
	for got < len(buf) {
		n, err := unix.Pread(x.fd, buf[got:], int64(got))
		if err != nil {
			x.fail("%s: pread: %v", what, err)
		}
		if n == 0 {
			break
		}
		got += n
	}
	x.compare(what, buf[:got], x.model)
}

// checkBacking compares the file in the backing directory with the model:
// a scratch file's bytes, or what the last close committed.
func (x *fsx) checkBacking() {
	x.t.Helper()
	got, err := os.ReadFile(x.p.backing(x.rel))
	if err != nil {
		x.fail("reading the backing file: %v", err)
	}
	x.compare("the backing file", got, x.model)
}

func (x *fsx) compare(what string, got, want []byte) {
	x.t.Helper()
	x.compareAt(what, 0, got, want)
}

func (x *fsx) compareAt(what string, off int, got, want []byte) {
	x.t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	if len(got) != len(want) {
		x.fail("%s: %d bytes, want %d", what, len(got), len(want))
	}
	i := 0
	for got[i] == want[i] {
		i++
	}
	j := i
	for j < len(got) && got[j] != want[j] {
		j++
	}
	x.fail("%s: bytes %d to %d differ (file offsets %d to %d): got % x..., want % x...",
		what, i, j, off+i, off+j, got[i:min(j, i+16)], want[i:min(j, i+16)])
}

// A process with two handles on one managed file, the older one with
// nothing to commit: fstat of the newer one shows what that handle has
// written, not the committed size. The kernel sends fstat's GETATTR with
// no handle, and the daemon is handed the oldest open one; fsx found this
// with a reader that os.ReadFile had not released yet.
func TestFstatOwnSizeBesideOlderHandle(t *testing.T) {
	p := newProject(t)
	mount(t, p)
	path := p.path("notes.md")
	if err := os.WriteFile(path, []byte("0123456789\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, older := range []struct {
		name string
		flag int
	}{{"reader", unix.O_RDONLY}, {"committed writer", unix.O_RDWR}} {
		t.Run(older.name, func(t *testing.T) {
			old, err := unix.Open(path, older.flag|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(old)
			if older.flag == unix.O_RDWR {
				if _, err := unix.Pwrite(old, []byte("x"), 0); err != nil {
					t.Fatal(err)
				}
				if err := unix.Fsync(old); err != nil { // committed: nothing of its own left
					t.Fatal(err)
				}
			}
			var st unix.Stat_t
			if err := unix.Fstat(old, &st); err != nil {
				t.Fatal(err)
			}
			committed := st.Size
			fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unix.Close(fd)
			want := committed + 5000
			if _, err := unix.Pwrite(fd, bytes.Repeat([]byte("y"), 5000), committed); err != nil {
				t.Fatal(err)
			}
			if err := unix.Fstat(fd, &st); err != nil {
				t.Fatal(err)
			}
			if st.Size != want {
				t.Fatalf("fstat of the writing handle: size %d, want %d (committed %d)", st.Size, want, committed)
			}
			if err := unix.Close(fd); err != nil {
				t.Fatalf("close (the commit): %v", err)
			}
			if got := readFile(t, path); int64(len(got)) != want {
				t.Fatalf("committed %d bytes, want %d", len(got), want)
			}
		})
	}
}
