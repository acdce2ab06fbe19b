package backing

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
)

// Shared helpers of the backing tests. Every test works in its own
// t.TempDir() (ext4 here, so user xattrs work) and reads the change log
// back with the changelog package.

// testCaller is the writer the tests commit as.
var testCaller = Caller{Pid: 4242, Uid: 0, Gid: 0, Command: "tester"}

// newRoot returns a fresh DIR.
func newRoot(t *testing.T) string {
	t.Helper()
	return t.TempDir()
}

// openDir opens root and closes it at the end of the test (unless the
// test closed it already).
func openDir(t *testing.T, root string, cfg Config) *Dir {
	t.Helper()
	d, err := Open(root, cfg)
	if err != nil {
		t.Fatalf("Open(%s): %v", root, err)
	}
	t.Cleanup(func() { closeOnce(d) })
	return d
}

// closeOnce closes d if it is not closed yet.
func closeOnce(d *Dir) {
	d.closeMu.RLock()
	closed := d.closed
	d.closeMu.RUnlock()
	if !closed {
		d.Close()
	}
}

// logEntries reads the whole change log of root.
func logEntries(t *testing.T, root string) []*changelog.Entry {
	t.Helper()
	f, err := os.Open(filepath.Join(root, DefaultLogPath))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("open log: %v", err)
	}
	defer f.Close()
	var out []*changelog.Entry
	if err := changelog.Scan(f, changelog.Filter{}, func(e *changelog.Entry) bool {
		out = append(out, e)
		return true
	}); err != nil {
		t.Fatalf("scan log: %v", err)
	}
	return out
}

// entriesFor returns the log entries with op (any if "") about path (any
// if "").
func entriesFor(t *testing.T, root, op, path string) []*changelog.Entry {
	t.Helper()
	var out []*changelog.Entry
	for _, e := range logEntries(t, root) {
		if (op == "" || e.Op == op) && (path == "" || e.Path == path) {
			out = append(out, e)
		}
	}
	return out
}

// oneEntry returns the single log entry with op about path.
func oneEntry(t *testing.T, root, op, path string) *changelog.Entry {
	t.Helper()
	es := entriesFor(t, root, op, path)
	if len(es) != 1 {
		var raw []string
		for _, e := range logEntries(t, root) {
			raw = append(raw, string(e.Raw))
		}
		t.Fatalf("want exactly one %q log line for %q, got %d; log:\n%s", op, path, len(es), strings.Join(raw, "\n"))
	}
	return es[0]
}

// commit commits data to rel with an unknown base and fails the test on
// error.
func commit(t *testing.T, d *Dir, rel, data string) Result {
	t.Helper()
	res, err := d.Commit(Write{Path: rel, Data: []byte(data), Base: -1, Caller: testCaller})
	if err != nil {
		t.Fatalf("Commit(%s): %v", rel, err)
	}
	return res
}

// mustRead reads a file of the test by its real path.
func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustWrite(t *testing.T, p, data string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
}

func fileBytesIs(t *testing.T, p, want string) {
	t.Helper()
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	if string(got) != want {
		t.Errorf("%s holds\n%q\nwant\n%q", p, got, want)
	}
}

func notExist(t *testing.T, p string) {
	t.Helper()
	if _, err := os.Lstat(p); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s: want it gone, Lstat says %v", p, err)
	}
}

// wantRefusal checks that err is a *Refusal of kind op with errno e, and
// returns it.
func wantRefusal(t *testing.T, err error, op string, e syscall.Errno) *Refusal {
	t.Helper()
	var r *Refusal
	if !errors.As(err, &r) {
		t.Fatalf("want a *Refusal (%s), got %T: %v", op, err, err)
	}
	if r.Op != op {
		t.Errorf("Refusal.Op = %q, want %q (%v)", r.Op, op, r)
	}
	if got := Errno(err); got != e {
		t.Errorf("Errno = %v (%d), want %v (%d)", got, int(got), e, int(e))
	}
	return r
}

// wantKept checks that the refused bytes are kept at r.Kept under
// .paracfs/rejected/, and that the log line names the same place.
func wantKept(t *testing.T, root string, r *Refusal, e *changelog.Entry, data string) {
	t.Helper()
	if !strings.HasPrefix(r.Kept, MetaDir+"/rejected/") {
		t.Fatalf("Refusal.Kept = %q, want a path under %s/rejected/", r.Kept, MetaDir)
	}
	fileBytesIs(t, bpath(root, r.Kept), data)
	if e != nil && e.Kept != r.Kept {
		t.Errorf("log line kept = %q, Refusal.Kept = %q", e.Kept, r.Kept)
	}
}

// wantRefusalLine checks the common fields of a refusal's log line.
func wantRefusalLine(t *testing.T, e *changelog.Entry, op, rel string, errno syscall.Errno, data string) {
	t.Helper()
	if e.Op != op || e.ChangeType != op || e.Path != rel {
		t.Errorf("log line op/change_type/path = %q/%q/%q, want %q/%q", e.Op, e.ChangeType, e.Path, op, rel)
	}
	if e.Errno != ErrnoName(errno) {
		t.Errorf("log line errno = %q, want %q", e.Errno, ErrnoName(errno))
	}
	if e.Reason == "" {
		t.Errorf("log line has no reason: %s", e.Raw)
	}
	if e.ProcessID != testCaller.Pid || e.Command != testCaller.Command {
		t.Errorf("log line process_id/command = %d/%q, want %d/%q", e.ProcessID, e.Command, testCaller.Pid, testCaller.Command)
	}
	if data != "" {
		if e.Size == nil || *e.Size != int64(len(data)) {
			t.Errorf("log line size = %v, want %d", ptrStr(e.Size), len(data))
		}
		if e.SHA256 != sha(data) {
			t.Errorf("log line sha256 = %q, want %q", e.SHA256, sha(data))
		}
	}
}

func sha(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func ptrStr[T any](p *T) any {
	if p == nil {
		return "<nil>"
	}
	return *p
}

// wantRev checks d.Revision(rel).
func wantRev(t *testing.T, d *Dir, rel string, want int64) {
	t.Helper()
	got, err := d.Revision(rel)
	if err != nil {
		t.Fatalf("Revision(%s): %v", rel, err)
	}
	if got != want {
		t.Errorf("Revision(%s) = %d, want %d", rel, got, want)
	}
}

// revXattrOf reads user.paracfs.rev of a backing file by its real path.
func revXattrOf(t *testing.T, p string) string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(p, revXattr, buf)
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", p, revXattr, err)
	}
	return string(buf[:n])
}

// withTimeout runs fn and fails the test if it has not returned after d,
// showing where fn is stuck. It reports whether fn returned.
func withTimeout(t *testing.T, d time.Duration, what string, fn func()) bool {
	t.Helper()
	done := make(chan struct{})
	ids := make(chan string, 1)
	go func() {
		defer close(done)
		buf := make([]byte, 64)
		hdr := string(buf[:runtime.Stack(buf, false)])
		ids <- hdr[:strings.IndexByte(hdr, '[')] // "goroutine N "
		fn()
	}()
	select {
	case <-done:
		return true
	case <-time.After(d):
		t.Errorf("%s did not return within %s (deadlock?)", what, d)
		id := <-ids
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.HasPrefix(g, id+"[") {
				t.Logf("stuck:\n%s", g)
			}
		}
		return false
	}
}

// equalBytes reports a mismatch of whole files.
func equalBytes(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	if !bytes.Equal(got, []byte(want)) {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

// wantStamp checks the stamp a commit left on the backing file p: its
// revision, the content's sha256, and the file's size and mtime.
func wantStamp(t *testing.T, p string, rev int64, content string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("%d %s %d %d", rev, sha(content), len(content), fi.ModTime().UnixNano())
	if got := revXattrOf(t, p); got != want {
		t.Errorf("xattr %s of %s = %q, want %q", revXattr, p, got, want)
	}
}
