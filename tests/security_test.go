package tests

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// nobodyOps runs file operations as the user nobody (Debian's python3,
// outside /root) and prints one JSON object: for each operation, 0 or the
// errno it failed with. Operations: "stat:P", "list:P", "read:P",
// "write:P" (open O_WRONLY|O_TRUNC, write, close), "create:P" (open
// O_CREAT|O_EXCL, write "a: 1\n", close), "append:P", "mkdir:P".
const nobodyOps = `import json, os, sys
out = {}
for op in sys.argv[1:]:
    kind, p = op.split(":", 1)
    try:
        if kind == "stat":
            os.stat(p)
        elif kind == "list":
            os.listdir(p)
        elif kind == "read":
            with open(p, "rb") as f:
                f.read()
        elif kind in ("write", "create", "append"):
            flags = {"write": os.O_WRONLY | os.O_TRUNC, "create": os.O_WRONLY | os.O_CREAT | os.O_EXCL,
                     "append": os.O_WRONLY | os.O_APPEND}[kind]
            fd = os.open(p, flags, 0o644)
            os.write(fd, b'{"by": "nobody"}\n' if p.endswith(".jsonl") else b"a: 1\n")
            os.close(fd)
        elif kind == "mkdir":
            os.mkdir(p)
        out[op] = 0
    except OSError as e:
        out[op] = e.errno
print(json.dumps(out))
`

// asNobodyOps runs nobodyOps and returns the errno of each operation.
func asNobodyOps(t *testing.T, dir string, ops ...string) map[string]syscall.Errno {
	t.Helper()
	toolNeedPython(t)
	r := runAsNobody(t, dir, toolPython, append([]string{"-c", nobodyOps}, ops...)...)
	var m map[string]int
	if r.Code != 0 || json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &m) != nil {
		t.Fatalf("python3 as nobody: %s", r)
	}
	out := map[string]syscall.Errno{}
	for k, v := range m {
		out[k] = syscall.Errno(v)
	}
	return out
}

func wantErrnos(t *testing.T, who string, got map[string]syscall.Errno, want map[string]syscall.Errno) {
	t.Helper()
	for op, w := range want {
		if g, ok := got[op]; !ok || g != w {
			t.Errorf("%s: %s: %s, want %s", who, op, errName(g), errName(w))
		}
	}
}

const nobodyUID, nobodyGID = 65534, 65534

// By default only the mounting user enters the mount: another user (nobody)
// cannot stat, list, read or write through it, although every directory on
// the way and the files themselves would let it.
func TestSecurityOtherUserDefault(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	openToOthers(t, p)
	mount(t, p)
	state := p.path(stateRel)
	got := asNobodyOps(t, p.Root, "stat:"+p.Dir, "list:"+p.Dir, "read:"+state, "write:"+state, "create:"+p.path("new.yaml"))
	wantErrnos(t, "nobody, default mount", got, map[string]syscall.Errno{
		"stat:" + p.Dir: syscall.EACCES, "list:" + p.Dir: syscall.EACCES, "read:" + state: syscall.EACCES,
		"write:" + state: syscall.EACCES, "create:" + p.path("new.yaml"): syscall.EACCES,
	})
	if !bytes.Equal(readFile(t, state), fixture(t, stateRel)) {
		t.Errorf("%s changed", stateRel)
	}
	// The owner still can.
	if _, err := os.ReadDir(p.Dir); err != nil {
		t.Errorf("the mounting user lists the mount: %v", err)
	}
}

// With --allow-other the kernel checks permissions (default_permissions):
// a root file of mode 0600 is unreadable for nobody, a 0644 one readable
// but not writable, a root directory not writable; in a directory nobody
// may write, the files and directories it creates are its own (also in the
// backing directory, and in the log's uid), commits keep the owner, and a
// root commit of nobody's file leaves it nobody's.
func TestSecurityAllowOther(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	openToOthers(t, p)
	mount(t, p, "--allow-other")
	ctx := "memory/context/"
	secret, public := p.path(ctx+"secret.yaml"), p.path(ctx+"public.yaml")
	if res := pyWrite(t, p.Dir, ctx+"secret.yaml", "trunc", []byte("token: s3cr3t\n")); res.Errno != 0 {
		t.Fatal(res.Error)
	}
	if err := os.Chmod(secret, 0o600); err != nil {
		t.Fatalf("chmod through the mount: %v", err)
	}
	if res := pyWrite(t, p.Dir, ctx+"public.yaml", "trunc", []byte("hello: world\n")); res.Errno != 0 {
		t.Fatal(res.Error)
	}
	if err := os.Mkdir(p.path("shared"), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p.path("shared"), 0o777); err != nil {
		t.Fatal(err)
	}
	n := len(logLines(t, p.Dir))
	got := asNobodyOps(t, p.Root,
		"stat:"+p.Dir, "list:"+p.path(ctx), "read:"+secret, "read:"+public, "write:"+public, "write:"+secret,
		"create:"+p.path(ctx+"mine.yaml"), "append:"+p.path(logRel),
		"create:"+p.path("shared/n.yaml"), "create:"+p.path("shared/s.txt"), "mkdir:"+p.path("shared/sub"))
	wantErrnos(t, "nobody, --allow-other", got, map[string]syscall.Errno{
		"stat:" + p.Dir: 0, "list:" + p.path(ctx): 0, "read:" + secret: syscall.EACCES, "read:" + public: 0,
		"write:" + public: syscall.EACCES, "write:" + secret: syscall.EACCES,
		"create:" + p.path(ctx+"mine.yaml"): syscall.EACCES, "append:" + p.path(logRel): syscall.EACCES,
		"create:" + p.path("shared/n.yaml"): 0, "create:" + p.path("shared/s.txt"): 0, "mkdir:" + p.path("shared/sub"): 0,
	})
	for _, rel := range []string{"shared/n.yaml", "shared/s.txt", "shared/sub"} {
		for _, where := range []string{p.path(rel), p.backing(rel)} {
			var st unix.Stat_t
			if err := unix.Lstat(where, &st); err != nil {
				t.Errorf("%s: %v", where, err)
			} else if st.Uid != nobodyUID || st.Gid != nobodyGID {
				t.Errorf("%s created by nobody through a root daemon's mount: owner %d:%d, want %d:%d", where, st.Uid, st.Gid, nobodyUID, nobodyGID)
			}
		}
	}
	lines := forPath(logSince(t, p.Dir, n), "shared/n.yaml")
	if len(lines) != 1 || lines[0].UID == nil || *lines[0].UID != nobodyUID {
		t.Errorf("the log of nobody's create of shared/n.yaml: %v, want one line with uid %d", lines, nobodyUID)
	}
	// A second commit by nobody, then one by root: still nobody's.
	if got := asNobodyOps(t, p.Root, "write:"+p.path("shared/n.yaml")); got["write:"+p.path("shared/n.yaml")] != 0 {
		t.Errorf("nobody rewrites its own file: %v", got)
	}
	if res := pyWrite(t, p.Dir, "shared/n.yaml", "trunc", []byte("a: 2\n")); res.Errno != 0 {
		t.Fatal(res.Error)
	}
	for _, where := range []string{p.path("shared/n.yaml"), p.backing("shared/n.yaml")} {
		var st unix.Stat_t
		if err := unix.Stat(where, &st); err != nil || st.Uid != nobodyUID || st.Mode&0o777 != 0o644 {
			t.Errorf("after commits by nobody and root, %s: owner %d mode %o (%v), want nobody's, 0644", where, st.Uid, st.Mode&0o777, err)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat(secret, &st); err != nil || st.Mode&0o777 != 0o600 || st.Uid != 0 {
		t.Errorf("secret.yaml: mode %o owner %d (%v), want 0600 root", st.Mode&0o777, st.Uid, err)
	}
}

// What a user may not read through the file, it may not read elsewhere
// either: with --allow-other, the values of a root-only (0600) file must
// not show in the log other users can read (its lines name the changed
// keys only), nor in the kept copy of a refused write to it.
func TestSecurityUnreadableStaysUnreadable(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	openToOthers(t, p)
	mount(t, p, "--allow-other")
	const rel = "memory/context/secret.yaml"
	if res := pyWrite(t, p.Dir, rel, "trunc", []byte("token: first-s3cr3t\n")); res.Errno != 0 {
		t.Fatal(res.Error)
	}
	if err := os.Chmod(p.path(rel), 0o600); err != nil {
		t.Fatal(err)
	}
	// The first value was written while everyone could read the file; from
	// now on, nothing of it may show.
	n := len(logLines(t, p.Dir))
	if res := pyWrite(t, p.Dir, rel, "trunc", []byte("token: second-s3cr3t\n")); res.Errno != 0 {
		t.Fatal(res.Error)
	}
	res := pyWrite(t, p.Dir, rel, "trunc", []byte("token: [third-s3cr3t\n"))
	if res.errno() != syscall.EBADMSG {
		t.Fatalf("invalid write: %s", res.Error)
	}
	var kept string
	for _, e := range forPath(logLines(t, p.Dir), rel) {
		if e.Kept != "" {
			kept = e.Kept
		}
	}
	logPath, keptPath := p.path(logRel), p.path(kept)
	// Its history too: the old versions follow the file's mode at each commit.
	hist1, hist2 := historyFile(p, rel, 0), historyFile(p, rel, 1) // a new name starts at 0
	readFile(t, hist2)
	got := asNobodyOps(t, p.Root, "read:"+p.path(rel), "read:"+logPath, "read:"+keptPath, "read:"+hist1, "read:"+hist2)
	for _, h := range []string{hist1, hist2} {
		if got["read:"+h] == 0 {
			t.Errorf("nobody reads %s, an old version of a file it may not read", h)
		}
	}
	if got["read:"+p.path(rel)] != syscall.EACCES {
		t.Fatalf("nobody reads the 0600 file: %v", got)
	}
	if kept != "" && got["read:"+keptPath] == 0 {
		t.Errorf("nobody reads the kept copy of root's refused write to a 0600 file (%s): the refused bytes are readable by everyone", kept)
	}
	// The commit of the 0600 file names the changed key, not its values.
	var named bool
	for _, e := range forPath(logSince(t, p.Dir, n), rel) {
		if e.Op == "commit" && strings.Contains(e.Raw, `"keys":{"token":{"hidden":true}}`) {
			named = true
		}
	}
	if !named {
		t.Errorf("no commit line of the 0600 file names its changed key token (hidden): %v", forPath(logSince(t, p.Dir, n), rel))
	}
	if got["read:"+logPath] == 0 {
		for _, e := range forPath(logSince(t, p.Dir, n), rel) {
			if strings.Contains(e.Raw, "s3cr3t") {
				t.Errorf("nobody can read the log, whose line for the 0600 file shows its values: %s", e)
				break
			}
		}
	}
}

// .paracfs/ and the change log cannot be rewritten through the mount, even
// by root: every change inside .paracfs/ is EPERM; the log can be appended
// to but not truncated, rewritten, replaced, renamed or deleted, nor moved
// away with the directory that holds it. The revision xattr cannot be
// forged.
func TestSecurityMetaAndLogReadOnly(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	meta := p.path(".paracfs")
	logPath := p.path(logRel)
	beforeLog := readFile(t, logPath)
	eperm := func(what string, err error) {
		t.Helper()
		if errnoOf(err) != syscall.EPERM {
			t.Errorf("%s: %v, want EPERM", what, err)
		}
	}
	for _, f := range []string{"daemon.json", "daemon.log"} {
		p := filepath.Join(meta, f)
		_, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
		eperm("open .paracfs/"+f+" for writing", err)
		eperm("truncate .paracfs/"+f, os.Truncate(p, 0))
		eperm("unlink .paracfs/"+f, os.Remove(p))
		eperm("chmod .paracfs/"+f, os.Chmod(p, 0o666))
		eperm("rename .paracfs/"+f+" away", os.Rename(p, p+".x"))
		eperm("setxattr on .paracfs/"+f, unix.Lsetxattr(p, "user.x", []byte("1"), 0))
	}
	_, err := os.Create(filepath.Join(meta, "planted"))
	eperm("create in .paracfs", err)
	eperm("mkdir in .paracfs", os.Mkdir(filepath.Join(meta, "rejected", "planted"), 0o755))
	eperm("symlink in .paracfs", os.Symlink("/etc", filepath.Join(meta, "etc")))
	writeMount(p.path("scratch.txt"), []byte("x"), 0o644)
	eperm("rename into .paracfs", os.Rename(p.path("scratch.txt"), filepath.Join(meta, "scratch.txt")))
	eperm("link into .paracfs", os.Link(p.path("scratch.txt"), filepath.Join(meta, "scratch.txt")))
	eperm("rename .paracfs", os.Rename(meta, p.path("meta2")))
	eperm("rmdir .paracfs/rejected", os.Remove(filepath.Join(meta, "rejected")))

	// The log: append only.
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatalf("open the log for appending: %v", err)
	}
	line := []byte(`{"event": "appended by a test"}` + "\n")
	if _, err := f.Write(line); err != nil {
		t.Errorf("append to the log: %v", err)
	}
	if err := f.Close(); err != nil {
		t.Errorf("close after appending to the log: %v", err)
	}
	_, err = os.OpenFile(logPath, os.O_WRONLY|os.O_TRUNC, 0)
	eperm("open the log with O_TRUNC", err)
	eperm("truncate the log", os.Truncate(logPath, 10))
	if f, err := os.OpenFile(logPath, os.O_WRONLY, 0); err == nil {
		_, werr := f.WriteAt([]byte("XXXX"), 0)
		cerr := f.Close()
		if errnoOf(werr) != syscall.EPERM && errnoOf(cerr) != syscall.EPERM {
			t.Errorf("overwriting the log in place: write %v, close %v; want EPERM from one of them", werr, cerr)
		}
	}
	writeMount(p.path("memory/logs/new.jsonl"), []byte("{}\n"), 0o644)
	eperm("rename a file onto the log", os.Rename(p.path("memory/logs/new.jsonl"), logPath))
	eperm("rename the log away", os.Rename(logPath, logPath+".old"))
	eperm("unlink the log", os.Remove(logPath))
	eperm("hard link to the log", os.Link(logPath, p.path("memory/logs/copy.txt")))
	if err := os.Rename(p.path("memory/logs"), p.path("memory/logs-moved")); errnoOf(err) != syscall.EPERM {
		t.Errorf("rename of the log's directory: %v, want EPERM: it moves the log out of place, where it can be rewritten", err)
		if err == nil {
			os.Rename(p.path("memory/logs-moved"), p.path("memory/logs"))
		}
	}
	if err := os.Rename(p.path("memory"), p.path("memory-moved")); errnoOf(err) != syscall.EPERM {
		t.Errorf("rename of the directory above the log's: %v, want EPERM", err)
		if err == nil {
			os.Rename(p.path("memory-moved"), p.path("memory"))
		}
	}
	after := readFile(t, logPath)
	if !bytes.HasPrefix(after, beforeLog) || !bytes.Contains(after[len(beforeLog):], line) {
		t.Errorf("the log is not its old content plus the appended line (was %d bytes, now %d)", len(beforeLog), len(after))
	}

	// The revision cannot be forged through the mount.
	eperm("setxattr user.paracfs.revision", unix.Setxattr(p.path(stateRel), revXattr, []byte("99"), 0))
	eperm("setxattr user.paracfs.rev", unix.Setxattr(p.path(stateRel), "user.paracfs.rev", []byte("99"), 0))
	eperm("removexattr user.paracfs.revision", unix.Removexattr(p.path(stateRel), revXattr))
	if r := rev(t, p.path(stateRel)); r != 11 {
		t.Errorf("revision = %d after forging attempts, want 11", r)
	}
	// Nor can a file take the daemon's temp names.
	tmp := p.path("memory/context/.paracfs-tmp.current_state.yaml.000000000000")
	if err := writeMount(tmp, []byte("x"), 0o644); err == nil {
		t.Errorf("a file named like the daemon's temp files was created through the mount (the next start deletes it)")
	}
}

// No operation through the mount reaches outside DIR: on a symlink that
// points outside, lsetxattr, lgetxattr, llistxattr, lremovexattr, lchown,
// utimensat(AT_SYMLINK_NOFOLLOW) and fchmodat2(AT_SYMLINK_NOFOLLOW) act on
// the symlink (or fail), never on its target; a rename or link through a
// symlinked directory to outside DIR fails with EXDEV.
func TestSecurityNoEscape(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	outside := filepath.Join(p.Root, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(outside, "target.yaml")
	if err := os.WriteFile(target, []byte("outside: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(target, "user.outside", []byte("secret"), 0); err != nil {
		t.Skipf("the backing filesystem has no user xattrs: %v", err)
	}
	mount(t, p)
	link := p.path("memory/context/out.yaml")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, p.path("memory/outdir")); err != nil {
		t.Fatal(err)
	}
	var before unix.Stat_t
	unix.Stat(target, &before)

	unix.Lsetxattr(link, "user.planted", []byte("1"), 0)
	if _, err := unix.Getxattr(target, "user.planted", make([]byte, 16)); err == nil {
		t.Errorf("lsetxattr on a symlink through the mount set the xattr on its target outside DIR")
	}
	buf := make([]byte, 64)
	if n, err := unix.Lgetxattr(link, "user.outside", buf); err == nil {
		t.Errorf("lgetxattr on a symlink through the mount read its outside target's xattr: %q", buf[:n])
	}
	lbuf := make([]byte, 1024)
	if n, err := unix.Llistxattr(link, lbuf); err == nil && bytes.Contains(lbuf[:n], []byte("user.outside")) {
		t.Errorf("llistxattr on a symlink through the mount lists its outside target's xattrs: %q", lbuf[:n])
	}
	unix.Lremovexattr(link, "user.outside")
	if _, err := unix.Getxattr(target, "user.outside", buf); err != nil {
		t.Errorf("lremovexattr on a symlink through the mount removed its outside target's xattr: %v", err)
	}
	unix.Lchown(link, nobodyUID, nobodyGID)
	ts := []unix.Timespec{unix.NsecToTimespec(0), unix.NsecToTimespec(0)}
	unix.UtimesNanoAt(unix.AT_FDCWD, link, ts, unix.AT_SYMLINK_NOFOLLOW)
	fchmodat2(link, 0o777)
	var after unix.Stat_t
	unix.Stat(target, &after)
	if after.Uid != before.Uid || after.Gid != before.Gid {
		t.Errorf("lchown of a symlink through the mount changed its outside target's owner to %d:%d", after.Uid, after.Gid)
	}
	if after.Mtim != before.Mtim {
		t.Errorf("utimensat(AT_SYMLINK_NOFOLLOW) of a symlink through the mount changed its outside target's mtime")
	}
	if after.Mode != before.Mode {
		t.Errorf("fchmodat2(AT_SYMLINK_NOFOLLOW) of a symlink through the mount changed its outside target's mode to %o", after.Mode)
	}
	if got, _ := os.ReadFile(target); string(got) != "outside: 1\n" {
		t.Errorf("the outside target changed: %q", got)
	}
	// Through a symlinked directory, the kernel leaves the mount.
	writeMount(p.path("memory/scratch.txt"), []byte("x"), 0o644)
	if err := os.Rename(p.path("memory/scratch.txt"), p.path("memory/outdir/moved.yaml")); errnoOf(err) != syscall.EXDEV {
		t.Errorf("rename through a symlinked directory out of DIR: %v, want EXDEV", err)
	}
	if err := os.Link(p.path("memory/scratch.txt"), p.path("memory/outdir/linked.txt")); errnoOf(err) != syscall.EXDEV {
		t.Errorf("link through a symlinked directory out of DIR: %v, want EXDEV", err)
	}
	if err := os.Link(target, p.path("memory/context/in.txt")); errnoOf(err) != syscall.EXDEV {
		t.Errorf("link from outside DIR into the mount: %v, want EXDEV", err)
	}
}

// fchmodat2(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW); ENOSYS on kernels
// before 6.6.
func fchmodat2(path string, mode uint32) error {
	const sysFchmodat2 = 452
	b, err := unix.BytePtrFromString(path)
	if err != nil {
		return err
	}
	atFdcwd := unix.AT_FDCWD
	_, _, e := unix.Syscall6(sysFchmodat2, uintptr(atFdcwd), uintptr(unsafe.Pointer(b)), uintptr(mode), uintptr(unix.AT_SYMLINK_NOFOLLOW), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// fdLeakScript exercises the handles a daemon keeps: commits (valid,
// invalid, stale), renames onto and away from managed names, deletes,
// reads, scratch files, lock files, flock, xattrs, log appends, and writers
// killed with staged bytes.
const fdLeakScript = `import errno, fcntl, os, signal, subprocess, sys, time
d = sys.argv[1]
def w(p, data, flags=os.O_WRONLY | os.O_CREAT | os.O_TRUNC):
    try:
        fd = os.open(os.path.join(d, p), flags, 0o644)
        os.write(fd, data)
        os.close(fd)
    except OSError:
        pass
for i in range(30):
    w("memory/context/leak%d.yaml" % (i % 5), b"revision: 0\nv: %d\n" % i)
    w("memory/context/leak%d.yaml" % (i % 5), b"v: [\n")
    w("memory/context/leak.json", b'{"v": %d}' % i)
    w("memory/scratch%d.tmp" % i, b"x%d" % i * 2000)
    for a, b in (("memory/scratch%d.tmp" % i, "memory/context/moved%d.yaml" % (i % 3)),
                 ("memory/context/moved%d.yaml" % (i % 3), "memory/context/moved%d.bak" % (i % 3))):
        try:
            os.rename(os.path.join(d, a), os.path.join(d, b))
        except OSError:
            pass
    with open(os.path.join(d, "memory/context/current_state.yaml")) as f:
        f.read()
    try:
        os.getxattr(os.path.join(d, "memory/context/current_state.yaml"), "user.paracfs.revision")
    except OSError:
        pass
    with open(os.path.join(d, "memory/context/leak0.yaml.lock"), "w") as lf:
        fcntl.flock(lf, fcntl.LOCK_EX)
        fcntl.flock(lf, fcntl.LOCK_UN)
    with open(os.path.join(d, "memory/logs/state_changes.jsonl"), "a") as f:
        f.write('{"event": %d}\n' % i)
    w("memory/context/gone%d.md" % i, b"bye\n")
    os.unlink(os.path.join(d, "memory/context/gone%d.md" % i))
    os.listdir(os.path.join(d, "memory/context"))
# Writers killed with staged, uncommitted bytes.
for i in range(5):
    child = subprocess.Popen([sys.executable, "-c",
        "import os, sys, time\nfd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)\nos.write(fd, b'half: ')\nprint('ready', flush=True)\ntime.sleep(60)\n",
        os.path.join(d, "memory/context/leak1.yaml")], stdout=subprocess.PIPE)
    child.stdout.readline()
    child.send_signal(signal.SIGKILL)
    child.wait()
print("done")
`

// After a workload of commits, refusals, renames, deletes, locks, reads
// and killed writers in one mount, the daemon's open descriptors are back
// to their count at the start, or fewer (descriptors the daemon keeps for
// a moment, of directories it looked in, may have been open then).
func TestSecurityNoFdLeak(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	pid := p.daemonPid(t)
	// Let the daemon settle (its first requests open the log, the lock
	// table, ...): count after one commit and one read.
	if res := pyWrite(t, p.Dir, "config/logging.yaml", "trunc", []byte("level: info\n")); res.Errno != 0 {
		t.Fatal(res.Error)
	}
	readFile(t, p.path(stateRel))
	time.Sleep(200 * time.Millisecond)
	start := fdCount(t, pid)
	startList := fdList(pid)
	r := run(t, p.Root, "python3", "-c", fdLeakScript, p.Dir)
	if r.Code != 0 || !strings.Contains(r.Stdout, "done") {
		t.Fatalf("workload: %s", r)
	}
	peak := fdCount(t, pid)
	// Kept names are released after their grace period; the kernel
	// sends the last RELEASEs asynchronously.
	deadline := time.Now().Add(eventWait)
	now := fdCount(t, pid)
	for now > start && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
		now = fdCount(t, pid)
	}
	if now > start {
		t.Errorf("the daemon had %d open descriptors before the workload and %d well after it (%d at its end)\nbefore:\n%s\nafter:\n%s", start, now, peak, startList, fdList(pid))
	}
	figure(t, "daemon descriptors: %d before, %d at the end of the workload, %d after it settled", start, peak, now)
	if !alive(pid) {
		t.Errorf("the daemon died")
	}
}
