package backing

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A save of the very bytes already committed makes no revision and no log
// line, but the file gets the times a plain write gives it: mtime and
// ctime now, or the mtime the writer set on its handle; the mode the
// writer set applies. A rename onto P of the same bytes brings the
// renamed file's times.
func TestCommitSameBytesTimes(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "a.yaml", "a: 1\n")
	p := filepath.Join(root, "a.yaml")
	old := unix.NsecToTimespec(time.Date(2020, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano())
	setOld := func() unix.Stat_t {
		t.Helper()
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, []unix.Timespec{old, old}, 0); err != nil {
			t.Fatal(err)
		}
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	stat := func() unix.Stat_t {
		t.Helper()
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			t.Fatal(err)
		}
		return st
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	rev, err := d.Revision("a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := len(logEntries(t, root))

	// A plain save: a fresh mtime and ctime.
	before := setOld()
	start := time.Now()
	res, err := d.Commit(Write{Path: "a.yaml", Data: data, Base: rev, Caller: testCaller})
	if err != nil || res.Rev != rev {
		t.Fatalf("saving the same bytes: rev %d, %v; want %d, nil", res.Rev, err, rev)
	}
	st := stat()
	if st.Mtim == old || time.Unix(st.Mtim.Unix()).Before(start.Add(-10*time.Millisecond)) {
		t.Errorf("mtime after a save of the same bytes: %v, want now", time.Unix(st.Mtim.Unix()))
	}
	if st.Ctim == before.Ctim && st.Mtim == before.Mtim {
		t.Errorf("ctime did not move")
	}

	// futimens and fchmod on the handle: those stand.
	setOld()
	m := NewMeta()
	set := unix.NsecToTimespec(time.Date(2021, 5, 6, 7, 8, 9, 10, time.UTC).UnixNano())
	m.Mtime = set
	m.Mode, m.HasMode = 0o600, true
	if _, err := d.Commit(Write{Path: "a.yaml", Data: data, Base: rev, Caller: testCaller, Meta: &m}); err != nil {
		t.Fatal(err)
	}
	if st := stat(); st.Mtim != set || st.Mode&0o7777 != 0o600 {
		t.Errorf("with the writer's mtime and mode: mtime %v, mode %#o; want %v, 0600", time.Unix(st.Mtim.Unix()), st.Mode&0o7777, time.Unix(set.Unix()))
	}

	// A rename of a copy: the copy's times.
	setOld()
	src := filepath.Join(root, "copy.tmp")
	mustWrite(t, src, string(data), 0o644)
	srcTime := unix.NsecToTimespec(time.Date(2019, 1, 1, 0, 0, 0, 7, time.UTC).UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, src, []unix.Timespec{srcTime, srcTime}, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Rename("copy.tmp", "a.yaml", 0, testCaller); err != nil {
		t.Fatal(err)
	}
	if st := stat(); st.Mtim != srcTime {
		t.Errorf("after a rename of a copy: mtime %v, want the copy's %v", time.Unix(st.Mtim.Unix()), time.Unix(srcTime.Unix()))
	}

	wantRev(t, d, "a.yaml", rev)
	if got := len(logEntries(t, root)); got != n {
		t.Errorf("%d new log lines for saves of the same bytes, want 0", got-n)
	}
}
