package fs

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/backing"
)

// The directory times the mount shows (dirtimes.go), on a node tree with
// no mount: DIR/sub holds a committed sub/a.yaml, and sub's backing times
// are set far in the past, so that any commit visibly moves them.

var dirTimesOld = time.Date(2020, 1, 2, 3, 4, 5, 123456789, time.UTC)

type dirTimesFixture struct {
	t       *testing.T
	dir     string
	d       *backing.Dir
	root    *Node
	sub     *Node
	file    *Node
	version int
}

func newDirTimesFixture(t *testing.T) *dirTimesFixture {
	t.Helper()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := backing.Open(dir, backing.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	f := &dirTimesFixture{t: t, dir: dir, d: d}
	f.root = NewRoot(d, true)
	fs.NewNodeFS(f.root, &fs.Options{}) // gives the tree its bridge; nothing is mounted
	ctx := context.Background()
	sub := &Node{r: f.root.r}
	st, err := d.Lstat("sub")
	if err != nil {
		t.Fatal(err)
	}
	f.root.AddChild("sub", f.root.NewPersistentInode(ctx, sub, fs.StableAttr{Mode: syscall.S_IFDIR, Ino: st.Ino, Gen: st.Birth}), false)
	f.sub = sub
	f.write() // sub/a.yaml is created: a real change, before the fixed times
	file := &Node{r: f.root.r}
	sub.AddChild("a.yaml", sub.NewPersistentInode(ctx, file, fs.StableAttr{Mode: syscall.S_IFREG}), false)
	f.file = file
	ts := unix.NsecToTimespec(dirTimesOld.UnixNano())
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(dir, "sub"), []unix.Timespec{ts, ts}, 0); err != nil {
		t.Fatal(err)
	}
	return f
}

// write commits a new version of sub/a.yaml.
func (f *dirTimesFixture) write() {
	f.t.Helper()
	f.version++
	data := []byte("a: " + time.Now().Format(time.RFC3339Nano) + "\nn: " + string(rune('0'+f.version%10)) + "\n")
	rev, err := f.d.Revision("sub/a.yaml")
	if err != nil {
		f.t.Fatal(err)
	}
	if _, err := f.d.Commit(backing.Write{Path: "sub/a.yaml", Data: data, Base: rev, Caller: backing.Caller{Pid: 4242, Command: "tester"}}); err != nil {
		f.t.Fatal(err)
	}
}

// inPlace commits sub/a.yaml as a writer that opened the existing name.
func (f *dirTimesFixture) inPlace() {
	f.t.Helper()
	done := f.file.dirWrite(true)
	f.write()
	done(true)
}

// shown is sub's mtime and ctime through the mount.
func (f *dirTimesFixture) shown() dirStamp {
	f.t.Helper()
	var out fuse.AttrOut
	if e := f.sub.Getattr(context.Background(), nil, &out); e != 0 {
		f.t.Fatal(e)
	}
	return attrStamp(&out.Attr)
}

// backing is sub's mtime and ctime in the backing directory.
func (f *dirTimesFixture) backing() dirStamp {
	f.t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(filepath.Join(f.dir, "sub"), &st); err != nil {
		f.t.Fatal(err)
	}
	return stampOf(&st)
}

func TestDirTimesInPlaceCommit(t *testing.T) {
	f := newDirTimesFixture(t)
	before := f.shown()
	if before != f.backing() || !time.Unix(before.mtime.Unix()).Equal(dirTimesOld) {
		t.Fatalf("before any commit: shown %v, backing %v", before, f.backing())
	}
	f.inPlace()
	if f.backing() == before {
		t.Fatal("the commit did not move the backing directory's times: the test shows nothing")
	}
	if got := f.shown(); got != before {
		t.Errorf("after an in-place commit the directory shows %v, want its times before %v", got, before)
	}
	// A second one, and one through a handle-less truncate, keep them.
	f.inPlace()
	if got := f.shown(); got != before {
		t.Errorf("after a second in-place commit: %v, want %v", got, before)
	}
	moved := f.backing()
	if e := f.file.truncate(context.Background(), nil, "sub/a.yaml", 3); e != 0 {
		t.Fatal(e)
	}
	if f.backing() == moved {
		t.Log("the truncate's commit left the backing times (same tick)")
	}
	if got := f.shown(); got != before {
		t.Errorf("after truncate(2) of the file: %v, want %v", got, before)
	}
	// Entry replies (a lookup of sub from DIR) show the same times.
	var out fuse.EntryOut
	if _, e := f.root.Lookup(context.Background(), "sub", &out); e != 0 {
		t.Fatal(e)
	}
	if got := attrStamp(&out.Attr); got != before {
		t.Errorf("lookup of the directory shows %v, want %v", got, before)
	}
}

// A real change made through the mount ends the shadow even when the
// backing times did not move since it was recorded (ext4's coarse clock).
func TestDirTimesRealChangeEndsShadow(t *testing.T) {
	f := newDirTimesFixture(t)
	before := f.shown()
	f.inPlace()
	moved := f.backing()
	f.sub.dirChanging()() // a change in the same tick: the backing times stay
	if f.backing() != moved {
		t.Fatal("the backing times moved")
	}
	if got := f.shown(); got != moved {
		t.Errorf("after a real change the directory shows %v, want the backing times %v (not %v)", got, moved, before)
	}
	// mkdir through the mount is one.
	f.inPlace()
	if f.shown() != moved {
		t.Fatalf("an in-place commit after the real change shows %v, want %v", f.shown(), moved)
	}
	var eo fuse.EntryOut
	if _, e := f.sub.Mkdir(context.Background(), "d", 0o755, &eo); e != 0 {
		t.Fatal(e)
	}
	if got, b := f.shown(), f.backing(); got != b {
		t.Errorf("after mkdir the directory shows %v, want the backing times %v", got, b)
	}
}

// A commit under way hides its rename from a stat in between; a real
// change that begins meanwhile wins.
func TestDirTimesInFlight(t *testing.T) {
	f := newDirTimesFixture(t)
	before := f.shown()
	done := f.file.dirWrite(true)
	f.write()
	if got := f.shown(); got != before {
		t.Errorf("between the rename and the commit's end the directory shows %v, want %v", got, before)
	}
	done(true)

	end := f.file.dirWrite(true)
	f.write()
	f.sub.dirChanging()()
	end(true)
	if got, b := f.shown(), f.backing(); got != b || got == before {
		t.Errorf("a real change during an in-place commit: shown %v, want the backing times %v", got, b)
	}
}

// A file made anew (unlink, then create) whose commit finds the very bytes
// committed changes nothing on disk; the directory still shows the time
// of the change, as on a plain filesystem.
func TestDirTimesReplacedNoChange(t *testing.T) {
	f := newDirTimesFixture(t)
	before := f.shown()
	start := time.Now()
	done := f.file.dirWrite(false)
	done(true) // nothing moved on disk
	got := f.shown()
	if f.backing() != before {
		t.Fatal("the backing times moved")
	}
	if m := time.Unix(got.mtime.Unix()); m.Before(start.Add(-time.Millisecond)) || got.ctime != got.mtime {
		t.Errorf("after a re-created file's no-op commit the directory shows %v, want now (after %v)", got, start)
	}
	// A refused one shows nothing.
	g := newDirTimesFixture(t)
	gb := g.shown()
	g.file.dirWrite(false)(false)
	if got := g.shown(); got != gb {
		t.Errorf("a refused creation moved the directory's times: %v, want %v", got, gb)
	}
}

// State on nodes the kernel forgot, or never had, is no state.
func TestDirChangedNil(t *testing.T) {
	var n *Node
	n.dirChanged()
	(&Node{}).dirChanged()
	a := fuse.Attr{Mode: syscall.S_IFDIR, Mtime: 7}
	(&Node{}).showDirTimes(&a)
	if a.Mtime != 7 {
		t.Errorf("a node with no record changed the times: %+v", a)
	}
}
