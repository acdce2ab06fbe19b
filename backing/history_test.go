package backing

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestHistoryBoundsPrune(t *testing.T) {
	now := time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	var vs []Version
	for i := 0; i < 6; i++ {
		vs = append(vs, Version{Rev: int64(i), Time: now.Add(-time.Duration(6-i) * time.Hour)})
	}
	revsOf := func(vs []Version) string {
		return fmt.Sprint(func() (r []int64) {
			for _, v := range vs {
				r = append(r, v.Rev)
			}
			return
		}())
	}
	for _, c := range []struct {
		b          HistoryBounds
		drop, keep string
	}{
		{HistoryBounds{MaxVersions: 3, MaxAge: -1}, "[0 1 2]", "[3 4 5]"},
		{HistoryBounds{MaxVersions: 10, MaxAge: 150 * time.Minute}, "[0 1 2]", "[3 4 5]"}, // 3 was current until 2h ago
		{HistoryBounds{MaxVersions: 10, MaxAge: time.Minute}, "[0 1 2 3 4]", "[5]"},       // the newest stays
		{HistoryBounds{}, "[]", "[0 1 2 3 4 5]"},                                          // defaults: 100 versions, 30 days
	} {
		drop, keep := c.b.Prune(vs, now)
		if revsOf(drop) != c.drop || revsOf(keep) != c.keep {
			t.Errorf("%+v: drop %s keep %s, want drop %s keep %s", c.b, revsOf(drop), revsOf(keep), c.drop, c.keep)
		}
	}
	// A file left alone for years, then committed: the version it had
	// until now is kept by the default age bound (git or a backup may
	// write it back: a restore).
	old := []Version{{Rev: 11, Time: now.AddDate(-6, 0, 0)}, {Rev: 12, Time: now}}
	if drop, keep := (HistoryBounds{}).Prune(old, now); len(drop) != 0 || revsOf(keep) != "[11 12]" {
		t.Errorf("a years-old version replaced now: drop %s keep %s, want it kept", revsOf(drop), revsOf(keep))
	}
}

// BenchmarkCommitHistory measures a 4 KiB commit with its history record
// (object, link, index line, prune at the 100-version bound) and without
// (history off); BenchmarkRecordVersion the record alone.
func BenchmarkCommitHistory(b *testing.B) {
	b.Run("history", func(b *testing.B) { benchCommit(b, HistoryBounds{}) })
	b.Run("off", func(b *testing.B) { benchCommit(b, HistoryBounds{MaxVersions: -1}) })
}

func benchCommit(b *testing.B, h HistoryBounds) {
	d, err := Open(b.TempDir(), Config{History: h})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	data := make([]byte, 4096)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(data, fmt.Sprintf("# %d\n", i))
		if _, err := d.Commit(Write{Path: "x.md", Data: data, Base: -1, Caller: testCaller}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRecordVersion(b *testing.B) {
	d, err := Open(b.TempDir(), Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	data := make([]byte, 4096)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		copy(data, fmt.Sprintf("# %d\n", i))
		d.recordCommit("x.md", int64(i+1), "commit", testCaller, data, sha256hex(data))
	}
}

// An object no version names (a daemon killed between writing and linking
// it) is removed at the next Open; named ones stay.
func TestHistoryCollectObjects(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	if _, err := d.Commit(Write{Path: "a.md", Data: []byte("kept\n"), Base: -1, Caller: testCaller}); err != nil {
		t.Fatal(err)
	}
	orphan := filepath.Join(root, ObjectsDir, sha256hex([]byte("orphan\n")))
	if err := os.WriteFile(orphan, []byte("orphan\n"), 0o444); err != nil {
		t.Fatal(err)
	}
	d.Close()
	openDir(t, root, Config{})
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Errorf("orphan object after Open: %v, want it removed", err)
	}
	if _, err := os.Stat(filepath.Join(root, ObjectsDir, sha256hex([]byte("kept\n")))); err != nil {
		t.Errorf("named object after Open: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(root, HistoryPath("a.md"), "0.md")); err != nil || string(b) != "kept\n" {
		t.Errorf("a.md@0: %q, %v", b, err)
	}
}

// A version whose record a crash lost is kept when the next commit
// replaces it.
func TestHistoryLostRecord(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	for _, s := range []string{"one\n", "two\n"} {
		if _, err := d.Commit(Write{Path: "a.md", Data: []byte(s), Base: -1, Caller: testCaller}); err != nil {
			t.Fatal(err)
		}
	}
	d.Close()
	index := filepath.Join(root, HistoryPath("a.md"), HistoryIndex)
	b, err := os.ReadFile(index)
	if err != nil {
		t.Fatal(err)
	}
	first := b[:bytes.IndexByte(b, '\n')+1]
	if err := os.WriteFile(index, first, 0o644); err != nil { // revision 1's line lost
		t.Fatal(err)
	}
	d = openDir(t, root, Config{})
	if _, err := d.Commit(Write{Path: "a.md", Data: []byte("three\n"), Base: -1, Caller: testCaller}); err != nil {
		t.Fatal(err)
	}
	vs, err := d.Versions("a.md")
	if err != nil || len(vs) != 3 || vs[1].Rev != 1 || vs[1].Op != OpBefore || vs[1].Command != "(not recorded)" || vs[2].Rev != 2 {
		t.Fatalf("versions after a lost record: %+v (%v), want 0, 1 (kept when replaced), 2", vs, err)
	}
	if data, _, err := d.ReadVersion("a.md", 1); err != nil || string(data) != "two\n" {
		t.Errorf("a.md@1: %q, %v", data, err)
	}
}
