package changelog

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// diskFull lets the first `room` bytes through, then cuts every write
// short with ENOSPC, until freed.
type diskFull struct {
	room  int
	freed bool
}

func (d *diskFull) write(fd int, p []byte) (int, error) {
	if d.freed {
		return syscall.Write(fd, p)
	}
	if d.room <= 0 {
		return 0, syscall.ENOSPC
	}
	n := min(d.room, len(p))
	n, err := syscall.Write(fd, p[:n])
	d.room -= n
	return n, err
}

// A full disk cuts an append in the middle, and even its newline cannot be
// written. Once space is back, the next append first ends the torn line:
// the file then holds the good lines, one bad line, and the new line, none
// glued to another.
func TestTornAppendIsNeverGlued(t *testing.T) {
	name := filepath.Join(t.TempDir(), "log.jsonl")
	f := openLog(t, name)
	defer f.Close()
	w, _, err := NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(&Entry{Description: "first"}); err != nil {
		t.Fatal(err)
	}
	full := &diskFull{room: 7}
	w.sysWrite = full.write
	if err := w.Append(&Entry{Description: "cut"}); err == nil {
		t.Fatal("an append cut by ENOSPC reported no error")
	} else if !strings.Contains(err.Error(), "no space") {
		t.Errorf("error = %v, want ENOSPC", err)
	}
	// Still full: the next append cannot end the torn line, so it must
	// not write its own line either.
	if err := w.Append(&Entry{Description: "while full"}); err == nil {
		t.Fatal("an append after a torn one succeeded while the disk was still full")
	}
	full.freed = true
	if err := w.Append(&Entry{Description: "after"}); err != nil {
		t.Fatalf("append once space is back: %v", err)
	}
	if err := w.Append(&Entry{Description: "last"}); err != nil {
		t.Fatal(err)
	}

	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var descs []string
	bad := 0
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		var e Entry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			bad++
			continue
		}
		descs = append(descs, e.Description)
	}
	if got := strings.Join(descs, ","); got != "first,after,last" || bad != 1 {
		t.Errorf("log holds %q with %d unreadable line(s), want first,after,last and the one torn line:\n%s", got, bad, b)
	}
	if !strings.HasSuffix(string(b), "\n") {
		t.Errorf("log does not end with a newline:\n%s", b)
	}
}
