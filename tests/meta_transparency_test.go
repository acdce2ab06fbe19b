package tests

// Metadata through the mount behaves as on a plain file: each test does
// the same thing to a plain copy of the fixture (beside the project, on
// the same filesystem) and to the mount, and compares what a user sees:
// exit status, bytes, mode, owner, times, user.* xattrs and the ACL.

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// twin is a mounted project and a plain copy of the same fixture.
type twin struct {
	p     *project
	plain string // the plain copy
	src   string // a scratch directory outside both, for sources
}

func newTwin(t *testing.T, flags ...string) *twin {
	t.Helper()
	needTool(t, "setfacl", "getfacl")
	p := newProject(t)
	tw := &twin{p: p, plain: filepath.Join(p.Root, "plain"), src: filepath.Join(p.Root, "src")}
	if err := copyTree("testdata/parac", tw.plain); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(tw.src, 0o755); err != nil {
		t.Fatal(err)
	}
	mount(t, p, flags...)
	return tw
}

// both runs a shell script once with $1 the plain copy and once with $1
// the mount ($2 is the source directory), and fails the test unless both
// exit with the same status and print the same.
func (tw *twin) both(t *testing.T, script string) result {
	t.Helper()
	return tw.bothWith(t, nil, script)
}

func (tw *twin) bothWith(t *testing.T, pre []string, script string) result {
	t.Helper()
	args := func(dir string) []string {
		return append(append(append([]string{}, pre...), "sh", "-c", script, "sh"), dir, tw.src)
	}
	a := args(tw.plain)
	want := run(t, tw.src, a[0], a[1:]...)
	m := args(tw.p.Dir)
	got := run(t, tw.src, m[0], m[1:]...)
	norm := func(s, dir string) string { return strings.ReplaceAll(s, dir, "DIR") }
	if got.Code != want.Code || norm(got.Stdout, tw.p.Dir) != norm(want.Stdout, tw.plain) {
		t.Errorf("script %q:\nplain: %s\nmount: %s", script, want, got)
	}
	return got
}

// fileMeta is what a user sees of a file besides its name.
type fileMeta struct {
	Data       []byte
	Mode       uint32
	Uid, Gid   uint32
	Mtime      unix.Timespec
	UserXattrs string // sorted name=value lines, without paracfs's own
	ACL        string // getfacl's entries
}

func metaOf(t *testing.T, path string) fileMeta {
	t.Helper()
	var m fileMeta
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatalf("stat %s: %v", path, err)
	}
	m.Mode, m.Uid, m.Gid, m.Mtime = st.Mode, st.Uid, st.Gid, st.Mtim
	if st.Mode&unix.S_IFMT == unix.S_IFREG {
		m.Data = readFile(t, path)
	}
	buf := make([]byte, 64<<10)
	n, err := unix.Listxattr(path, buf)
	if err != nil {
		t.Fatalf("listxattr %s: %v", path, err)
	}
	var lines []string
	for _, name := range strings.Split(string(buf[:n]), "\x00") {
		if !strings.HasPrefix(name, "user.") || strings.HasPrefix(name, "user.paracfs.") {
			continue
		}
		v := make([]byte, 64<<10)
		vn, err := unix.Getxattr(path, name, v)
		if err != nil {
			t.Fatalf("getxattr %s %s: %v", path, name, err)
		}
		lines = append(lines, name+"="+string(v[:vn]))
	}
	sortStrings(lines)
	m.UserXattrs = strings.Join(lines, "\n")
	m.ACL = mustRun(t, "/", "getfacl", "-c", "-p", path).Stdout
	return m
}

func sortStrings(s []string) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j] < s[j-1]; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// same compares rel in the plain copy and in the mount; times only when
// the test set them.
func (tw *twin) same(t *testing.T, rel string, times bool) fileMeta {
	t.Helper()
	want := metaOf(t, filepath.Join(tw.plain, rel))
	got := metaOf(t, tw.p.path(rel))
	if !bytes.Equal(got.Data, want.Data) || got.Mode != want.Mode || got.Uid != want.Uid || got.Gid != want.Gid ||
		(times && got.Mtime != want.Mtime) || got.UserXattrs != want.UserXattrs || got.ACL != want.ACL {
		t.Errorf("%s differs:\nplain: %s\nmount: %s", rel, want, got)
	}
	return got
}

func (m fileMeta) String() string {
	return fmt.Sprintf("mode %#o uid %d gid %d mtime %d.%09d bytes %q\n  xattrs [%s]\n  acl [%s]",
		m.Mode, m.Uid, m.Gid, m.Mtim().Sec, m.Mtim().Nsec, short(string(m.Data)), m.UserXattrs, strings.ReplaceAll(strings.TrimSpace(m.ACL), "\n", " "))
}

func (m fileMeta) Mtim() unix.Timespec { return m.Mtime }

// source makes a file in the source directory with a mode, an old mtime,
// a user xattr and an ACL entry for nobody.
func (tw *twin) source(t *testing.T, name, content string, mode uint32) string {
	t.Helper()
	path := filepath.Join(tw.src, name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	mustRun(t, tw.src, "setfattr", "-n", "user.origin", "-v", "src", path)
	mustRun(t, tw.src, "setfacl", "-m", "u:nobody:r", path)
	if err := os.Chmod(path, os.FileMode(mode)); err != nil {
		t.Fatal(err)
	}
	mustRun(t, tw.src, "touch", "-d", "2020-02-03 04:05:06.789", path)
	return path
}

// cp -p and cp -a to a new managed name and over an existing one keep
// mode, owner, times, xattrs and ACL.
func TestMetaCpPreserve(t *testing.T) {
	t.Parallel()
	needTool(t, "setfattr")
	tw := newTwin(t)
	tw.source(t, "f.json", `{"a": 1}`+"\n", 0o640)
	tw.both(t, `echo '{"old": true}' > "$1/old.json" && chmod 644 "$1/old.json"`)
	for _, flag := range []string{"-p", "-a"} {
		r := tw.both(t, `cp `+flag+` "$2/f.json" "$1/new`+flag+`.json"; echo $?`)
		if strings.TrimSpace(r.Stdout) != "0" {
			t.Errorf("cp %s: %s", flag, r)
		}
		got := tw.same(t, "new"+flag+".json", true)
		if got.Mtime.Sec == 0 || got.Mode&0o777 != 0o640 {
			t.Errorf("cp %s: %s", flag, got)
		}
		tw.both(t, `cp `+flag+` "$2/f.json" "$1/old.json"; echo $?`)
		tw.same(t, "old.json", true)
	}
}

// install -m sets the mode it is asked for, on a new and an existing name.
func TestMetaInstallMode(t *testing.T) {
	t.Parallel()
	tw := newTwin(t)
	if err := os.WriteFile(filepath.Join(tw.src, "f.md"), []byte("# f\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"644", "600", "755"} {
		tw.both(t, `install -m `+m+` "$2/f.md" "$1/inst`+m+`.md"; echo $?`)
		if got := tw.same(t, "inst"+m+".md", false); fmt.Sprintf("%o", got.Mode&0o7777) != m {
			t.Errorf("install -m %s: %s", m, got)
		}
		tw.both(t, `install -m `+m+` "$2/f.md" "$1/notes.md"; echo $?`)
		tw.same(t, "notes.md", false)
	}
}

// tar -x restores the archived times, modes and xattrs.
func TestMetaTarTimes(t *testing.T) {
	t.Parallel()
	needTool(t, "tar", "setfattr")
	tw := newTwin(t)
	tw.source(t, "a.yaml", "a: 1\n", 0o640)
	tw.source(t, "b.md", "# b\n", 0o600)
	mustRun(t, tw.src, "tar", "--xattrs", "--acls", "-cf", "../x.tar", "a.yaml", "b.md")
	tw.both(t, `cd "$1" && tar --xattrs --xattrs-include='user.*' --acls -xpf ../x.tar; echo $?`)
	tw.same(t, "a.yaml", true)
	tw.same(t, "b.md", true)
}

// rsync -a brings times along, so a second run transfers nothing.
func TestMetaRsyncTwice(t *testing.T) {
	t.Parallel()
	needTool(t, "rsync", "setfattr")
	tw := newTwin(t)
	tw.source(t, "a.yaml", "a: 1\n", 0o640)
	tw.source(t, "b.json", `{"b": 2}`+"\n", 0o644)
	tw.both(t, `mkdir -p "$1/synced" && rsync -a -AX "$2/" "$1/synced/"; echo $?`)
	tw.same(t, "synced/a.yaml", true)
	tw.same(t, "synced/b.json", true)
	r := tw.both(t, `rsync -a -AX --itemize-changes "$2/" "$1/synced/"; echo $?`)
	if strings.TrimSpace(r.Stdout) != "0" {
		t.Errorf("second rsync -a transferred something: %s", r)
	}
}

// rsync -a into the mount's top directory sets its owner and times.
func TestMetaRsyncIntoRoot(t *testing.T) {
	t.Parallel()
	needTool(t, "rsync")
	tw := newTwin(t)
	if err := os.WriteFile(filepath.Join(tw.src, "n.md"), []byte("# n\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := tw.both(t, `rsync -a "$2/" "$1/"; echo $?`)
	if strings.TrimSpace(r.Stdout) != "0" {
		t.Errorf("rsync -a src/ MOUNT/: %s", r)
	}
	tw.same(t, "n.md", true)
	r = tw.both(t, `cd "$1" && touch . && chown root:root . && touch -d '2021-01-01' . && stat -c '%Y %U' .; echo $?`)
	if !strings.HasSuffix(strings.TrimSpace(r.Stdout), "0") {
		t.Errorf("touch/chown of the mount's top: %s", r)
	}
}

// mv of a private temp file onto P gives P the temp file's mode (as
// write-file-atomic and renameio ask), owner, times and xattrs.
func TestMetaRenameOnto(t *testing.T) {
	t.Parallel()
	needTool(t, "setfattr")
	tw := newTwin(t)
	tw.both(t, `printf '# notes\n' > "$1/n.md" && chmod 644 "$1/n.md" && setfattr -n user.old -v 1 "$1/n.md"`)
	tw.both(t, `cd "$1" && printf '# new\n' > n.md.tmp && chmod 600 n.md.tmp && setfattr -n user.new -v 2 n.md.tmp &&
		setfacl -m u:nobody:r n.md.tmp && chown nobody:nogroup n.md.tmp && touch -d '2019-05-06 07:08:09' n.md.tmp && mv n.md.tmp n.md; echo $?`)
	if got := tw.same(t, "n.md", true); got.Mode&0o777 != 0o640 || got.Uid != nobodyUID { // the ACL's mask shows as group bits
		t.Errorf("mv of a 0600 file onto n.md: %s", got)
	}
	toolNeedPython(t)
	tw.both(t, toolPython+` -c '
import os, sys, tempfile
d = sys.argv[1]
fd, tmp = tempfile.mkstemp(dir=d, prefix=".state.", suffix=".tmp")
os.write(fd, b"a: 2\n")
os.close(fd)
os.replace(tmp, os.path.join(d, "private.yaml"))
st = os.stat(os.path.join(d, "private.yaml"))
print(oct(st.st_mode & 0o7777))
' "$1"`)
	tw.same(t, "private.yaml", false)
}

// A rewrite keeps the file's ACL (with its mask) and user xattrs.
func TestMetaRewriteKeepsACLAndXattrs(t *testing.T) {
	t.Parallel()
	needTool(t, "setfattr")
	tw := newTwin(t)
	tw.both(t, `cd "$1" && printf '# x\n' > x.md && chmod 640 x.md && setfacl -m u:nobody:rw x.md && setfacl -m m::r x.md &&
		setfattr -n user.tag -v blue x.md && touch -d 2020-01-01 x.md; echo $?`)
	tw.same(t, "x.md", true)
	toolNeedPython(t)
	start := time.Now().Add(-time.Second)
	tw.both(t, toolPython+` -c '
import sys
open(sys.argv[1] + "/x.md", "w").write("# rewritten\n")
open(sys.argv[1] + "/x.md", "a").write("more\n")
' "$1"; echo $?`)
	got := tw.same(t, "x.md", false)
	if !strings.Contains(got.ACL, "user:nobody:rw-") || !strings.Contains(got.ACL, "mask::r--") || got.UserXattrs != "user.tag=blue" {
		t.Errorf("after rewrites: %s", got)
	}
	if mt := time.Unix(got.Mtime.Unix()); mt.Before(start) {
		t.Errorf("after rewrites, mtime %s: want the time of the write (after %s)", mt, start)
	}
	// sed -i writes a new file, copies the ACL and renames it over x.md.
	tw.both(t, `sed -i 's/more/less/' "$1/x.md"; echo $?`)
	if got := tw.same(t, "x.md", false); !strings.Contains(got.ACL, "user:nobody:rw-") || !strings.Contains(got.ACL, "mask::r--") {
		t.Errorf("after sed -i: %s", got)
	}
}

// A directory's default ACL applies to the managed and scratch files
// created in it through the mount.
func TestMetaDefaultACL(t *testing.T) {
	t.Parallel()
	tw := newTwin(t)
	tw.both(t, `mkdir "$1/shared" && setfacl -d -m u:nobody:rw,g::r,o::- "$1/shared"; echo $?`)
	tw.both(t, `cd "$1/shared" && echo '{}' > a.json && echo x > scratch.txt && printf '# m\n' > m.md && mkdir sub; echo $?`)
	for _, rel := range []string{"shared/a.json", "shared/scratch.txt", "shared/m.md"} {
		if got := tw.same(t, rel, false); !strings.Contains(got.ACL, "user:nobody:rw-") {
			t.Errorf("%s: no inherited ACL: %s", rel, got)
		}
	}
	tw.both(t, `getfacl -c "$1/shared/sub"`)
}

// fchmod, fchown, futimens and fsetxattr on a handle that has not
// committed yet (a new file, and an existing one) apply to the committed
// file, and fstat on it shows the handle's size and a fresh mtime.
func TestMetaOnWritingHandle(t *testing.T) {
	t.Parallel()
	toolNeedPython(t)
	tw := newTwin(t)
	tw.both(t, `printf '{}\n' > "$1/old.json" && touch -d 2020-01-01 "$1/old.json"`)
	script := toolPython + ` -c '
import os, sys, time
d = sys.argv[1]
for name in ("new.json", "old.json"):
    p = os.path.join(d, name)
    t0 = time.time() - 1
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.write(fd, b"{\"k\": 1}\n")
    st = os.fstat(fd)
    print(name, "size", st.st_size, "fresh", st.st_mtime > t0, st.st_ctime > t0)
    os.fchmod(fd, 0o664)
    os.fchown(fd, 65534, 65534)
    os.setxattr(fd, "user.k", b"v")
    os.setxattr(fd, "system.posix_acl_access", b"\x02\x00\x00\x00\x01\x00\x06\x00\xff\xff\xff\xff\x02\x00\x06\x00\xfe\xff\x00\x00\x04\x00\x04\x00\xff\xff\xff\xff\x10\x00\x06\x00\xff\xff\xff\xff\x20\x00\x04\x00\xff\xff\xff\xff")
    os.utime(fd, ns=(1500000000123456789, 1500000000123456789))
    st = os.fstat(fd)
    print(name, oct(st.st_mode & 0o7777), st.st_uid, st.st_gid, st.st_mtime_ns)
    os.close(fd)
' "$1"; echo $?`
	r := tw.both(t, script)
	if !strings.Contains(r.Stdout, "new.json size 9 fresh True True") || !strings.HasSuffix(strings.TrimSpace(r.Stdout), "0") {
		t.Errorf("python: %s", r)
	}
	for _, rel := range []string{"new.json", "old.json"} {
		got := tw.same(t, rel, true)
		if got.Uid != 65534 || got.Mtime.Sec != 1500000000 || !strings.Contains(got.ACL, "user:nobody:rw-") {
			t.Errorf("%s: %s", rel, got)
		}
	}
}

// setuid and setgid are cleared when another user rewrites the file, and
// kept when its owner (root) does, as on ext4.
func TestMetaSetuidCleared(t *testing.T) {
	t.Parallel()
	tw := newTwin(t, "--allow-other")
	openToOthers(t, tw.p)
	if err := os.Chmod(tw.plain, 0o755); err != nil {
		t.Fatal(err)
	}
	tw.both(t, `cd "$1" && printf '# s\n' > s.md && printf '# r\n' > r.md && chmod 6777 s.md && chmod 6755 r.md; echo $?`)
	tw.bothWith(t, asNobody(t), `printf '# by nobody\n' > "$1/s.md"; echo $?`)
	if got := tw.same(t, "s.md", false); got.Mode&0o6000 != 0 || string(got.Data) != "# by nobody\n" {
		t.Errorf("rewritten by nobody: %s", got)
	}
	tw.both(t, `printf '# by root\n' > "$1/r.md"; echo $?`)
	if got := tw.same(t, "r.md", false); got.Mode&0o7777 != 0o6755 {
		t.Errorf("rewritten by its owner: %s", got)
	}
}
