package fs

import (
	"context"
	"encoding/binary"
	"os"
	"runtime"
	"slices"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/backing"
)

// Fast tests of the FUSE layer's decisions that need no mount, no root
// and no /dev/fuse: what is shown for .paracfs/, which xattrs travel with
// a commit, the mode of a new file, which thread belongs to which
// process, the attributes copied from the backing directory.

func TestWrites(t *testing.T) {
	for _, tc := range []struct {
		flags uint32
		want  bool
	}{
		{syscall.O_RDONLY, false},
		{syscall.O_RDONLY | syscall.O_TRUNC, false}, // the kernel opens it read-only; truncation is a SETATTR
		{syscall.O_RDONLY | syscall.O_APPEND, false},
		{syscall.O_WRONLY, true},
		{syscall.O_RDWR, true},
		{syscall.O_WRONLY | syscall.O_APPEND, true},
	} {
		if got := writes(tc.flags); got != tc.want {
			t.Errorf("writes(%#o) = %v, want %v", tc.flags, got, tc.want)
		}
	}
}

func TestHandleXattr(t *testing.T) {
	for name, want := range map[string]bool{
		"user.mime_type":           true,
		"user.":                    true,
		"system.posix_acl_access":  true,
		"system.posix_acl_default": false, // a file has none; a directory's is not a commit's
		"user.paracfs.revision":    false, // paracfs's own
		"user.paracfs.x":           false,
		"security.capability":      false,
		"trusted.x":                false,
	} {
		if got := handleXattr(name); got != want {
			t.Errorf("handleXattr(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestGuardedMeta(t *testing.T) {
	for rel, want := range map[string]bool{
		backing.HistoryDir:                      true,
		backing.HistoryDir + "/a/b.yaml/1.yaml": true,
		backing.RejectedDir:                     true,
		backing.RejectedDir + "/x":              true,
		backing.MetaDir:                         false,
		backing.MetaDir + "/historyx":           false,
		backing.MetaDir + "/daemon.json":        false,
		"history/a":                             false,
		"":                                      false,
	} {
		if got := guardedMeta(rel); got != want {
			t.Errorf("guardedMeta(%q) = %v, want %v", rel, got, want)
		}
	}
}

// TestMetaAttr checks what the history and the kept refused writes look
// like through the mount: folders 0555, versions 0444, a refused write
// its own mode; anything else as it is.
func TestMetaAttr(t *testing.T) {
	for _, tc := range []struct {
		rel        string
		mode, want uint32
	}{
		{backing.HistoryDir, syscall.S_IFDIR | 0o700, syscall.S_IFDIR | 0o555},
		{backing.HistoryDir + "/a.yaml", syscall.S_IFDIR | 0o700, syscall.S_IFDIR | 0o555},
		{backing.HistoryDir + "/a.yaml/3.yaml", syscall.S_IFREG | 0o600, syscall.S_IFREG | 0o444},
		{backing.HistoryDir + "/a.yaml/.index.jsonl", syscall.S_IFREG | 0o644, syscall.S_IFREG | 0o444},
		{backing.RejectedDir, syscall.S_IFDIR | 0o711, syscall.S_IFDIR | 0o555},
		{backing.RejectedDir + "/1000/x", syscall.S_IFREG | 0o600, syscall.S_IFREG | 0o600},
		{backing.MetaDir + "/daemon.json", syscall.S_IFREG | 0o600, syscall.S_IFREG | 0o600},
		{"state.yaml", syscall.S_IFREG | 0o640, syscall.S_IFREG | 0o640},
	} {
		out := fuse.Attr{Mode: tc.mode, Size: 7}
		metaAttr(tc.rel, &out)
		if out.Mode != tc.want || out.Size != 7 {
			t.Errorf("metaAttr(%q, %#o) = %#o (size %d), want %#o", tc.rel, tc.mode, out.Mode, out.Size, tc.want)
		}
	}
	out := fuse.Attr{Mode: syscall.S_IFREG | 0o600, Size: 99}
	controlAttr(backing.ControlFile, &out)
	if out.Mode != syscall.S_IFREG|0o666 || out.Size != 0 {
		t.Errorf("the control file shows as %#o, size %d; want 0100666, 0", out.Mode, out.Size)
	}
	out = fuse.Attr{Mode: syscall.S_IFREG | 0o600, Size: 99}
	controlAttr("state.yaml", &out)
	if out.Mode != syscall.S_IFREG|0o600 || out.Size != 99 {
		t.Errorf("controlAttr changed another file: %#o, %d", out.Mode, out.Size)
	}
}

func TestValidACL(t *testing.T) {
	entry := func(tag, perm uint16, id uint32) []byte {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint16(b, tag)
		binary.LittleEndian.PutUint16(b[2:], perm)
		binary.LittleEndian.PutUint32(b[4:], id)
		return b
	}
	head := []byte{2, 0, 0, 0}
	good := slices.Concat(head, entry(1, 6, 0), entry(4, 4, 0), entry(0x20, 4, 0))
	for _, tc := range []struct {
		v    []byte
		want bool
	}{
		{good, true},
		{head, true},
		{good[:len(good)-1], false},
		{slices.Concat([]byte{1, 0, 0, 0}, entry(1, 6, 0)), false},
		{[]byte{2, 0, 0}, false},
		{nil, false},
	} {
		if got := validACL(tc.v); got != tc.want {
			t.Errorf("validACL(% x) = %v, want %v", tc.v, got, tc.want)
		}
	}
}

func TestFillAttr(t *testing.T) {
	p := t.TempDir() + "/f"
	if err := os.WriteFile(p, []byte("hello"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, 0o640); err != nil { // past the umask
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	var out fuse.Attr
	fillAttr(&out, &st)
	if out.Ino != st.Ino || out.Size != 5 || out.Blocks != uint64(st.Blocks) || out.Mode != syscall.S_IFREG|0o640 ||
		out.Nlink != 1 || out.Uid != uint32(os.Getuid()) || out.Gid != st.Gid || out.Blksize != uint32(st.Blksize) ||
		out.Mtime != uint64(st.Mtim.Sec) || out.Mtimensec != uint32(st.Mtim.Nsec) ||
		out.Atime != uint64(st.Atim.Sec) || out.Atimensec != uint32(st.Atim.Nsec) ||
		out.Ctime != uint64(st.Ctim.Sec) || out.Ctimensec != uint32(st.Ctim.Nsec) || out.Rdev != 0 {
		t.Errorf("fillAttr: %+v from %+v", out, st)
	}
}

func TestJoin(t *testing.T) {
	for _, tc := range []struct{ dir, name, want string }{
		{"", "a.yaml", "a.yaml"},
		{"roadmap", "a.yaml", "roadmap/a.yaml"},
		{"a/b", "c", "a/b/c"},
	} {
		if got := join(tc.dir, tc.name); got != tc.want {
			t.Errorf("join(%q, %q) = %q, want %q", tc.dir, tc.name, got, tc.want)
		}
	}
}

// TestMixedIno checks the number shown for a file whose own inode number
// a retired node still shows: its low 40 bits, bit 62, and bits from its
// birth time, so that two births of one number differ.
func TestMixedIno(t *testing.T) {
	if got := mixedIno(&backing.Stat{Stat_t: unix.Stat_t{Ino: 1234}}); got != 1234 {
		t.Errorf("mixedIno with no birth time = %d, want the inode number 1234", got)
	}
	a := mixedIno(&backing.Stat{Stat_t: unix.Stat_t{Ino: 1234}, Birth: 1_700_000_000_000_000_001})
	b := mixedIno(&backing.Stat{Stat_t: unix.Stat_t{Ino: 1234}, Birth: 1_700_000_000_000_000_002})
	for _, m := range []uint64{a, b} {
		if m&(1<<40-1) != 1234 || m&(1<<62) == 0 || m>>63 != 0 || m == 1234 {
			t.Errorf("mixedIno = %#x: want bit 62 set, bit 63 clear, low 40 bits 1234", m)
		}
	}
	if a == b {
		t.Errorf("two birth times gave the same number %#x", a)
	}
}

// TestCallerUmask reads the umask of the process a request names, from
// /proc; 022 when there is no caller or it is gone.
func TestCallerUmask(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	ctx := func(pid uint32) context.Context {
		return fuse.NewContext(context.Background(), &fuse.Caller{Pid: pid})
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want uint32
	}{
		{"this process", ctx(uint32(os.Getpid())), 0o027},
		{"no caller", context.Background(), 0o022},
		{"pid 0", ctx(0), 0o022},
		{"a pid that is gone", ctx(1 << 30), 0o022},
	} {
		if got := callerUmask(tc.ctx); got != tc.want {
			t.Errorf("callerUmask(%s) = %#o, want %#o", tc.name, got, tc.want)
		}
	}
}

// TestCreateMode checks the mode of a file created through the mount: the
// caller's umask applies, unless the directory has a default ACL, which
// then decides (as on a plain filesystem; the kernel leaves both to us).
func TestCreateMode(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(dir+"/acl", 0o755); err != nil {
		t.Fatal(err)
	}
	// A default ACL: user::rwx group::r-x other::---.
	acl := []byte{2, 0, 0, 0, 1, 0, 7, 0, 0, 0, 0, 0, 4, 0, 5, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0}
	if err := unix.Setxattr(dir+"/acl", "system.posix_acl_default", acl, 0); err != nil {
		t.Skipf("no default ACLs on %s: %v", dir, err)
	}
	d, err := backing.Open(dir, backing.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	r := &Root{d: d}
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	ctx := fuse.NewContext(context.Background(), &fuse.Caller{Pid: uint32(os.Getpid())})
	for _, tc := range []struct {
		rel        string
		mode, want uint32
	}{
		{"x.yaml", 0o666, 0o600},
		{"sub/x.yaml", 0o644, 0o600},
		{"d", 0o777, 0o700},
		{"x.sh", 0o4755, 0o4700},
		{"acl/x.yaml", 0o666, 0o666}, // the default ACL decides, not the umask
		{"acl/d", 0o777, 0o777},
	} {
		if got := r.createMode(ctx, tc.rel, tc.mode); got != tc.want {
			t.Errorf("createMode(%q, %#o) = %#o, want %#o", tc.rel, tc.mode, got, tc.want)
		}
	}
}

// TestInProcess checks which threads belong to a process, as told by its
// thread list.
func TestInProcess(t *testing.T) {
	pid := os.Getpid()
	tids := make(chan int)
	release := make(chan struct{})
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		tids <- unix.Gettid()
		<-release
	}()
	tid := <-tids
	defer close(release)
	for _, tc := range []struct {
		pid, tid int
		want     bool
	}{
		{pid, pid, true},
		{pid, tid, true},
		{5, 5, true}, // a process is its own first thread, whatever it is
		{1, pid, false},
		{pid, 1, false},
		{0, pid, false},
		{pid, -1, false},
		{pid, 1 << 30, false},
	} {
		if got := inProcess(tc.pid, tc.tid); got != tc.want {
			t.Errorf("inProcess(%d, %d) = %v, want %v", tc.pid, tc.tid, got, tc.want)
		}
	}
	if got := readTgid(tid); got != pid {
		t.Errorf("readTgid(%d) = %d, want %d", tid, got, pid)
	}
	if got := tgid(tid); got != pid {
		t.Errorf("tgid(%d) = %d, want %d", tid, got, pid)
	}
	if got := readTgid(1 << 30); got != -1 {
		t.Errorf("readTgid of a thread that is gone = %d, want -1", got)
	}
	if got := parentPid(pid); got != os.Getppid() {
		t.Errorf("parentPid(%d) = %d, want %d", pid, got, os.Getppid())
	}
	if got := parentPid(1 << 30); got != 0 {
		t.Errorf("parentPid of a process that is gone = %d, want 0", got)
	}
	ctx := fuse.NewContext(context.Background(), &fuse.Caller{Pid: uint32(tid)})
	if !sameProcess(ctx, pid) || sameProcess(ctx, 1) || sameProcess(context.Background(), pid) {
		t.Errorf("sameProcess: a thread of this process is not told from pid 1")
	}
}

// TestLockHolders checks whose locks a commit must not wait for: those a
// process took through the mount, seen from it and from its children.
func TestLockHolders(t *testing.T) {
	var l lockHolders
	h1, h2 := new(int), new(int)
	pid := os.Getpid()
	if l.heldBy("a.lock", pid) {
		t.Errorf("heldBy with no locks")
	}
	l.add("a.lock", os.Getppid(), h1) // our parent holds it: we act for it (flock -c)
	if !l.heldBy("a.lock", pid) || l.heldBy("b.lock", pid) {
		t.Errorf("heldBy: a lock held by the parent is not ours, or one on b.lock is")
	}
	l.add("a.lock", pid, h2)
	l.drop("a.lock", h1)
	if !l.heldBy("a.lock", pid) {
		t.Errorf("dropping the parent's handle dropped ours too")
	}
	l.drop("", h2)
	if l.heldBy("a.lock", pid) || len(l.m) != 0 {
		t.Errorf("drop of every lock of h2 left %v", l.m)
	}
	if l.stuck("a.lock") {
		t.Errorf("stuck with no holder")
	}
	l.add("a.lock", 1<<30, h1) // a holder that is gone is not blocked
	if l.stuck("a.lock") {
		t.Errorf("stuck: a holder that exited counts as blocked")
	}
}

// TestReaders checks the record of the revision each process last read,
// and that it forgets processes that have exited.
func TestReaders(t *testing.T) {
	var r readers
	start, ok := startTime(os.Getpid())
	if !ok || start == 0 {
		t.Fatalf("startTime(self) = %d, %v", start, ok)
	}
	me := procKey{tgid: os.Getpid(), start: start}
	gone := procKey{tgid: 1 << 30, start: 1}
	reborn := procKey{tgid: os.Getpid(), start: start + 1} // our pid, another process
	r.saw(me, "a.yaml", 3)
	r.saw(me, "a.yaml", 4)
	r.saw(gone, "a.yaml", 1)
	r.saw(reborn, "a.yaml", 2)
	if rev, ok := r.last(me, "a.yaml"); !ok || rev != 4 {
		t.Errorf("last = %d, %v; want 4", rev, ok)
	}
	if _, ok := r.last(me, "b.yaml"); ok {
		t.Errorf("last of a file never read says it was")
	}
	for i := 4; i < pruneEvery; i++ {
		r.saw(me, "b.yaml", int64(i))
	}
	if _, ok := r.last(gone, "a.yaml"); ok {
		t.Errorf("a process that exited is still remembered after %d reads", pruneEvery)
	}
	if _, ok := r.last(reborn, "a.yaml"); ok {
		t.Errorf("a process whose pid was reused is still remembered")
	}
	if rev, ok := r.last(me, "b.yaml"); !ok || rev != pruneEvery-1 {
		t.Errorf("last(b.yaml) = %d, %v; want %d", rev, ok, pruneEvery-1)
	}
}

// TestOptions checks the mount options: go-fuse's permission checks off
// (the kernel's default_permissions only with --allow-other), the fs
// name, and the backing filesystem's flags mirrored when mounting
// directly (as root).
func TestOptions(t *testing.T) {
	o := Options("/p/.parac", false, false)
	if o.FsName != "/p/.parac" || o.Name != "paracfs" || !o.NullPermissions || !o.EnableLocks || o.AllowOther ||
		slices.Contains(o.Options, "default_permissions") || o.EnableAcl || o.Debug {
		t.Errorf("Options(no allow-other): %+v", o.MountOptions)
	}
	if o.ExtraCapabilities&fuse.CAP_DONT_MASK == 0 || o.DisabledCapabilities&fuse.CAP_PASSTHROUGH == 0 {
		t.Errorf("capabilities: extra %#x, disabled %#x", o.ExtraCapabilities, o.DisabledCapabilities)
	}
	dir := t.TempDir()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	want := []string{"dev", "suid", "exec"}
	for i, flag := range []int64{unix.ST_NODEV, unix.ST_NOSUID, unix.ST_NOEXEC} {
		if st.Flags&flag != 0 {
			want[i] = "no" + want[i]
		}
	}
	if got := backingFlags(dir); !slices.Equal(got, want) {
		t.Errorf("backingFlags(%s) = %q, want %q (statfs flags %#x)", dir, got, want, st.Flags)
	}
	o = Options(dir, true, true)
	if !o.AllowOther || !slices.Contains(o.Options, "default_permissions") || !o.EnableAcl || !o.Debug {
		t.Errorf("Options(allow-other, debug): %+v", o.MountOptions)
	}
	mirrored := slices.Contains(o.Options, want[0])
	if root := os.Geteuid() == 0; o.DirectMount != root || mirrored != root {
		t.Errorf("euid %d: DirectMount %v, options %q", os.Geteuid(), o.DirectMount, o.Options)
	}
	if got := backingFlags("/nonexistent/x"); got != nil {
		t.Errorf("backingFlags of a missing directory = %q, want nil", got)
	}
}

// TestTempNamesHidden checks that the daemon's own temp files (a commit's
// .paracfs-tmp.<name>.<12 hex>) cannot be looked up nor created through
// the mount, while a user's name that only looks alike is the user's.
func TestTempNamesHidden(t *testing.T) {
	n := &Node{} // a temp name is refused before the node's tree is looked at
	ctx := context.Background()
	for _, name := range []string{".paracfs-tmp.x.yaml.0123456789ab", ".paracfs-tmp.a.ffffffffffff"} {
		if !backing.IsTemp(name) {
			t.Fatalf("backing.IsTemp(%q) = false", name)
		}
		var out fuse.EntryOut
		if ch, e := n.Lookup(ctx, name, &out); ch != nil || e != syscall.ENOENT {
			t.Errorf("Lookup(%q) = %v, %v; want ENOENT", name, ch, e)
		}
		if ch, fh, _, e := n.Create(ctx, name, syscall.O_WRONLY, 0o644, &out); ch != nil || fh != nil || e != syscall.EPERM {
			t.Errorf("Create(%q) = %v, %v, %v; want EPERM", name, ch, fh, e)
		}
	}
	for _, name := range []string{".paracfs-tmp.x.yaml", ".paracfs-tmp.x.0123456789AB", ".paracfs-tmp.x-0123456789ab", "x.yaml"} {
		if backing.IsTemp(name) {
			t.Errorf("backing.IsTemp(%q) = true: a user's name would be hidden", name)
		}
	}
}
