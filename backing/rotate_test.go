package backing

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Appends past LogMaxSize rotate the log: every line is in LOG.1 or LOG,
// once, and LOG starts with the rotation's own line.
func TestRotate(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{LogMaxSize: 4096})
	const n = 12 // about 5 KiB of lines: one rotation
	for i := 0; i < n; i++ {
		commit(t, d, "a.yaml", fmt.Sprintf("k%d: 1\n", i))
	}
	logPath := filepath.Join(root, DefaultLogPath)
	cur, prev := string(mustRead(t, logPath)), string(mustRead(t, logPath+RotatedSuffix))
	if !strings.HasPrefix(cur, "{") || !strings.Contains(strings.SplitN(cur, "\n", 2)[0], `"op":"rotate"`) {
		t.Errorf("the new log does not start with the rotation's line:\n%s", cur)
	}
	if len(cur) >= 4096+1024 || len(prev) < 4096 {
		t.Errorf("sizes after the rotation: log %d, %s %d", len(cur), RotatedSuffix, len(prev))
	}
	if c := strings.Count(prev+cur, `"path":"a.yaml"`); c != n || strings.Count(prev+cur, `"op":"rotate"`) != 1 {
		t.Errorf("%d lines for a.yaml across the two files, want %d, after one rotation:\n%s\n--\n%s", c, n, prev, cur)
	}
}

// A kill between the link and the rename leaves LOG.1 a second name of
// LOG: the next Open removes that name, so no line is read twice.
func TestRotateInterrupted(t *testing.T) {
	root := newRoot(t)
	logPath := filepath.Join(root, DefaultLogPath)
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		t.Fatal(err)
	}
	mustWrite(t, logPath, `{"timestamp":"2026-11-28T00:00:00.000000+00:00","process_id":1,"change_type":"note","description":"one"}`+"\n", 0o644)
	if err := os.Link(logPath, logPath+RotatedSuffix); err != nil {
		t.Fatal(err)
	}
	openDir(t, root, Config{LogMaxSize: 1 << 20})
	if _, err := os.Stat(logPath + RotatedSuffix); !os.IsNotExist(err) {
		t.Errorf("%s%s, a second name of the log, is still there (%v)", DefaultLogPath, RotatedSuffix, err)
	}
	if got := string(mustRead(t, logPath)); !strings.Contains(got, `"description":"one"`) {
		t.Errorf("the log lost its line:\n%s", got)
	}
}
