package tests

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A directory's times through the mount are a plain filesystem's
// (docs/commit.md, "Directory times"): a write to an existing managed file
// leaves its directory's mtime and ctime alone, although the commit renamed
// a temp file in the backing directory; a create, a delete or a file made
// anew moves them. Every stat here asks the daemon (AT_STATX_FORCE_SYNC),
// so the kernel's attribute cache cannot answer for it.

// dirStamp is what stat shows of a directory's mtime and ctime.
type dirStamp struct{ mtime, ctime unix.StatxTimestamp }

func (s dirStamp) String() string {
	f := func(ts unix.StatxTimestamp) string {
		return time.Unix(ts.Sec, int64(ts.Nsec)).UTC().Format(time.RFC3339Nano)
	}
	return "mtime " + f(s.mtime) + ", ctime " + f(s.ctime)
}

func (s dirStamp) mtimeAt() time.Time { return time.Unix(s.mtime.Sec, int64(s.mtime.Nsec)) }

// syncStat stats path, through the mount asking the daemon itself.
func syncStat(t *testing.T, path string) (dirStamp, unix.Statx_t) {
	t.Helper()
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, unix.AT_STATX_FORCE_SYNC|unix.AT_SYMLINK_NOFOLLOW, unix.STATX_BASIC_STATS, &stx); err != nil {
		t.Fatal(err)
	}
	return dirStamp{stx.Mtime, stx.Ctime}, stx
}

// setDirTime gives the backing directory rel (before the mount) a time far
// in the past, so that any change shows.
func setDirTime(t *testing.T, p *project, rel string) time.Time {
	t.Helper()
	old := time.Date(2020, 1, 2, 3, 4, 5, 123456789, time.UTC)
	ts := unix.NsecToTimespec(old.UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p.path(rel), []unix.Timespec{ts, ts}, 0); err != nil {
		t.Fatal(err)
	}
	return old
}

func TestDirTimesInPlace(t *testing.T) {
	p := newProject(t)
	const dirRel = "memory/knowledge"
	old := setDirTime(t, p, dirRel)
	mount(t, p)
	dir := p.path(dirRel)
	f := filepath.Join(dir, "architecture.md")
	before, _ := syncStat(t, dir)
	if !before.mtimeAt().Equal(old) {
		t.Fatalf("the directory shows %v before any write, want the mtime set on it (%v)", before, old)
	}
	inPlace := []struct {
		name string
		do   func() error
	}{
		{"O_TRUNC rewrite", func() error { return os.WriteFile(f, []byte("# Architecture\n\nrewritten\n"), 0o644) }},
		{"append", func() error {
			fd, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			if _, err := fd.WriteString("- appended\n"); err != nil {
				fd.Close()
				return err
			}
			return fd.Close()
		}},
		{"write without truncation", func() error {
			fd, err := os.OpenFile(f, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			if _, err := fd.WriteAt([]byte("#"), 0); err != nil {
				fd.Close()
				return err
			}
			return fd.Close()
		}},
		{"ftruncate", func() error {
			fd, err := os.OpenFile(f, os.O_WRONLY, 0)
			if err != nil {
				return err
			}
			if err := fd.Truncate(20); err != nil {
				fd.Close()
				return err
			}
			return fd.Close()
		}},
		{"truncate(2)", func() error { return os.Truncate(f, 10) }},
		{"fsync, more, close", func() error {
			fd, err := os.OpenFile(f, os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				return err
			}
			fd.WriteString("one\n")
			if err := fd.Sync(); err != nil {
				fd.Close()
				return err
			}
			fd.WriteString("two\n")
			return fd.Close()
		}},
	}
	for _, w := range inPlace {
		if err := w.do(); err != nil {
			t.Fatalf("%s: %v", w.name, err)
		}
		if got, _ := syncStat(t, dir); got != before {
			t.Errorf("after a write to an existing file (%s) the directory shows %v, want its times before: %v", w.name, got, before)
		}
	}
	var bst unix.Stat_t
	if err := unix.Lstat(p.backing(dirRel), &bst); err != nil {
		t.Fatal(err)
	}
	if time.Unix(bst.Mtim.Unix()).Equal(old) {
		t.Fatal("the commits left the backing directory's mtime: this test shows nothing")
	}

	// A file created in the directory moves its times, at once.
	start := time.Now()
	if err := os.WriteFile(filepath.Join(dir, "new.md"), []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	created, _ := syncStat(t, dir)
	if created.mtime == before.mtime || created.ctime == before.ctime || created.mtimeAt().Before(start.Add(-time.Second)) {
		t.Errorf("after a create the directory shows %v, want the time of the create (was %v)", created, before)
	}
	// From there, in-place writes keep the new times.
	if err := os.WriteFile(f, []byte("# again\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, _ := syncStat(t, dir); got != created {
		t.Errorf("after an in-place write following the create: %v, want %v", got, created)
	}
	// A delete moves them too (the backing file goes after a grace period).
	if err := os.Remove(filepath.Join(dir, "new.md")); err != nil {
		t.Fatal(err)
	}
	if got, _ := syncStat(t, dir); got == created {
		t.Errorf("after a delete the directory still shows %v", got)
	}

	// A restart of the daemon forgets what it showed: the backing times.
	unmountCmd(t, p)
	var real unix.Stat_t
	if err := unix.Lstat(p.path(dirRel), &real); err != nil {
		t.Fatal(err)
	}
	mount(t, p)
	got, _ := syncStat(t, dir)
	if got.mtime.Sec != real.Mtim.Sec || got.mtime.Nsec != uint32(real.Mtim.Nsec) {
		t.Errorf("after a remount the directory shows %v, want the backing mtime %v", got, time.Unix(real.Mtim.Unix()).UTC())
	}
}

// install(1) of the very bytes a managed file holds (unlink, create, write,
// fchmod): no new revision and no log line, but what a plain filesystem
// shows: the file's mode and a fresh mtime, and the directory's times
// moved by the unlink and create.
func TestDirTimesSameBytes(t *testing.T) {
	needTool(t, "install")
	p := newProject(t)
	const dirRel, rel = "memory/context", "memory/context/current_state.yaml"
	setDirTime(t, p, dirRel)
	old := unix.NsecToTimespec(time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p.path(rel), []unix.Timespec{old, old}, 0); err != nil {
		t.Fatal(err)
	}
	mount(t, p)
	src := filepath.Join(p.Root, "src.yaml")
	if err := os.WriteFile(src, readFile(t, p.path(rel)), 0o644); err != nil {
		t.Fatal(err)
	}
	dirBefore, _ := syncStat(t, p.path(dirRel))
	revBefore := rev(t, p.path(rel))
	lines := len(logLines(t, p.Dir))

	start := time.Now()
	mustRun(t, p.Root, "install", "-m", "600", src, p.path(rel))
	fst, stx := syncStat(t, p.path(rel))
	if stx.Mode&0o7777 != 0o600 {
		t.Errorf("mode after install -m 600: %#o", stx.Mode&0o7777)
	}
	if fst.mtimeAt().Before(start.Add(-time.Second)) {
		t.Errorf("the file's mtime after install of the same bytes: %v, want the install's time (after %v)", fst, start)
	}
	if got, _ := syncStat(t, p.path(dirRel)); got.mtime == dirBefore.mtime || got.ctime == dirBefore.ctime {
		t.Errorf("the directory after install (unlink, create) shows %v, as before", got)
	}
	if r := rev(t, p.path(rel)); r != revBefore {
		t.Errorf("revision %d after install of the same bytes, want %d (no commit)", r, revBefore)
	}
	if n := len(logLines(t, p.Dir)); n != lines {
		t.Errorf("%d log lines for install of the same bytes, want none:\n%v", n-lines, logSince(t, p.Dir, lines))
	}
	assertContent(t, p, rel, readFile(t, src))
}
