package tests

import (
	"os"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The inode number stat shows for a file does not change when its
// attributes do (chmod, chown, utimes, truncate, by path and through a
// descriptor), for managed and scratch files and directories; for
// scratch files and directories it is the number the backing filesystem
// shows. The kernel takes the number from each reply, a SETATTR's too,
// and keeps it for the attribute timeout.
func TestInodeStable(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	if err := os.Mkdir(p.path("ino"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p.path("ino/dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"ino/scratch.txt", "ino/managed.md"} {
		if err := os.WriteFile(p.path(rel), []byte("hello world\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	stamp := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	viaFd := func(rel string, fn func(fd int) error) error {
		fd, err := unix.Open(p.path(rel), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return err
		}
		if err := fn(fd); err != nil {
			unix.Close(fd)
			return err
		}
		return unix.Close(fd)
	}
	ops := []struct {
		name  string
		files bool // regular files only
		do    func(rel string) error
	}{
		{"chmod", false, func(rel string) error { return os.Chmod(p.path(rel), 0o700) }},
		{"chmod back", false, func(rel string) error { return os.Chmod(p.path(rel), 0o755) }},
		{"chown", false, func(rel string) error { return os.Lchown(p.path(rel), os.Getuid(), os.Getgid()) }},
		{"utimes", false, func(rel string) error { return os.Chtimes(p.path(rel), stamp, stamp) }},
		{"utimes now", false, func(rel string) error {
			return unix.UtimesNanoAt(unix.AT_FDCWD, p.path(rel), []unix.Timespec{{Nsec: unix.UTIME_NOW}, {Nsec: unix.UTIME_NOW}}, 0)
		}},
		{"truncate", true, func(rel string) error { return os.Truncate(p.path(rel), 5) }},
		{"ftruncate", true, func(rel string) error { return viaFd(rel, func(fd int) error { return unix.Ftruncate(fd, 3) }) }},
		{"fchmod", true, func(rel string) error { return viaFd(rel, func(fd int) error { return unix.Fchmod(fd, 0o640) }) }},
		{"futimens", true, func(rel string) error {
			return viaFd(rel, func(fd int) error {
				return unix.UtimesNanoAt(fd, "", []unix.Timespec{unix.NsecToTimespec(stamp.UnixNano()), {Nsec: unix.UTIME_OMIT}}, unix.AT_EMPTY_PATH)
			})
		}},
	}
	for _, target := range []struct {
		rel     string
		scratch bool
		dir     bool
	}{
		{"ino/scratch.txt", true, false},
		{"ino/dir", true, true},
		{"ino/managed.md", false, false},
	} {
		for _, op := range ops {
			if op.files && target.dir {
				continue
			}
			before := statIno(t, p.path(target.rel))
			if err := op.do(target.rel); err != nil {
				t.Errorf("%s %s: %v", op.name, target.rel, err)
				continue
			}
			after := statIno(t, p.path(target.rel))
			if after != before {
				t.Errorf("%s %s: stat shows inode %d right after, %d right before", op.name, target.rel, after, before)
			}
			if target.scratch {
				if b := statIno(t, p.backing(target.rel)); after != b {
					t.Errorf("%s %s: stat through the mount shows inode %d, the backing filesystem %d", op.name, target.rel, after, b)
				}
			}
		}
	}

	// A rename and a hard link keep a scratch file's number.
	before := statIno(t, p.path("ino/scratch.txt"))
	if err := os.Rename(p.path("ino/scratch.txt"), p.path("ino/renamed.txt")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(p.path("ino/renamed.txt"), p.path("ino/linked.txt")); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"ino/renamed.txt", "ino/linked.txt"} {
		if got, b := statIno(t, p.path(rel)), statIno(t, p.backing(rel)); got != before || got != b {
			t.Errorf("%s: inode %d through the mount, %d on the backing filesystem; the file had %d", rel, got, b, before)
		}
	}
}

// A scratch file renamed onto a managed name becomes that file, and the
// commit replaces its backing inode: a new scratch file that reuses the
// number on the backing filesystem (the next temp file of a tool that
// saves by rename) never shows the managed file's number, or mv would
// refuse to move it there ("are the same file").
func TestInodeReusedAfterRenameCommit(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	if err := os.Mkdir(p.path("reuse"), 0o755); err != nil {
		t.Fatal(err)
	}
	target, tmp := p.path("reuse/notes.md"), p.path("reuse/notes.md.tmp")
	for i := 0; i < 30; i++ {
		if err := os.WriteFile(tmp, []byte("version "+itoa(i)+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if a, b := statIno(t, tmp), statIno(t, target); a == b {
				t.Fatalf("round %d: the new temp file and %s both show inode %d", i, target, a)
			}
		}
		if r := run(t, p.path("reuse"), "mv", "notes.md.tmp", "notes.md"); r.Code != 0 {
			t.Fatalf("round %d: mv: %s", i, r)
		}
		if got := string(readFile(t, target)); got != "version "+itoa(i)+"\n" {
			t.Fatalf("round %d: %s holds %q", i, target, got)
		}
	}
}

func statIno(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	return st.Ino
}
