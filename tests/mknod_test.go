package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// mknodOps makes nodes and prints one JSON object: for each operation, 0
// or the errno it failed with. "chr:P" is /dev/null's device (1:3),
// "whiteout:P" a character device 0:0, "fifo:P" a named pipe.
const mknodOps = `import json, os, stat, sys
out = {}
for op in sys.argv[1:]:
    kind, p = op.split(":", 1)
    try:
        if kind == "chr":
            os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        elif kind == "whiteout":
            os.mknod(p, 0o666 | stat.S_IFCHR, os.makedev(0, 0))
        elif kind == "fifo":
            os.mkfifo(p, 0o644)
        out[op] = 0
    except OSError as e:
        out[op] = e.errno
print(json.dumps(out))
`

// mknod of a device is made for a caller that could make it itself, and
// refused to others, as on the plain filesystem: root makes /dev/null's
// device through the mount (it lands in the backing directory as one,
// owned by root), nobody gets EPERM, and a whiteout or a named pipe is
// nobody's to make on both. The mount is nodev: the node cannot be opened
// through it.
func TestMknodDevice(t *testing.T) {
	t.Parallel()
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a device node")
	}
	toolNeedPython(t)
	p := newProject(t)
	openToOthers(t, p)
	mount(t, p, "--allow-other")
	plain := filepath.Join(p.Root, "plain")
	for _, d := range []string{p.path("dev"), plain} {
		if err := os.Mkdir(d, 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(d, 0o777); err != nil {
			t.Fatal(err)
		}
	}

	// As root.
	rdev := unix.Mkdev(1, 3)
	for _, dir := range []string{p.path("dev"), plain} {
		if err := unix.Mknod(dir+"/null", unix.S_IFCHR|0o666, int(rdev)); err != nil {
			t.Errorf("root: mknod %s/null c 1 3: %v", dir, err)
		}
	}
	var want unix.Stat_t
	if err := unix.Lstat(plain+"/null", &want); err != nil {
		t.Fatal(err)
	}
	for _, where := range []string{p.path("dev/null"), p.backing("dev/null")} {
		var st unix.Stat_t
		if err := unix.Lstat(where, &st); err != nil {
			t.Errorf("%s: %v", where, err)
		} else if st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != rdev || st.Uid != 0 || st.Mode != want.Mode {
			t.Errorf("%s: mode %o rdev %d:%d uid %d, want a character device 1:3 of root's, mode %o as on the plain filesystem",
				where, st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev), st.Uid, want.Mode)
		}
	}
	// The mount mirrors the backing filesystem's dev flag: the device
	// opens through it as in the plain directory.
	_, plainErr := os.OpenFile(plain+"/null", os.O_WRONLY, 0)
	if f, err := os.OpenFile(p.path("dev/null"), os.O_WRONLY, 0); errnoOf(err) != errnoOf(plainErr) {
		t.Errorf("opening the device through the mount: %v; on the plain filesystem: %v", err, plainErr)
	} else if err == nil {
		if _, err := f.Write([]byte("x")); err != nil {
			t.Errorf("writing to /dev/null's twin through the mount: %v", err)
		}
		f.Close()
	}

	// As nobody, through the mount and on the plain filesystem.
	var args []string
	for _, dir := range []string{p.path("dev"), plain} {
		for _, kind := range []string{"chr", "whiteout", "fifo"} {
			args = append(args, kind+":"+dir+"/"+kind+"-nobody")
		}
	}
	r := runAsNobody(t, p.Root, toolPython, append([]string{"-c", mknodOps}, args...)...)
	var got map[string]int
	if r.Code != 0 || json.Unmarshal([]byte(strings.TrimSpace(r.Stdout)), &got) != nil {
		t.Fatalf("python3 as nobody: %s", r)
	}
	for _, kind := range []string{"chr", "whiteout", "fifo"} {
		onMount := syscall.Errno(got[kind+":"+p.path("dev")+"/"+kind+"-nobody"])
		onPlain := syscall.Errno(got[kind+":"+plain+"/"+kind+"-nobody"])
		if onMount != onPlain {
			t.Errorf("nobody: mknod %s: %s through the mount, %s on the plain filesystem", kind, errName(onMount), errName(onPlain))
		}
	}
	if e := syscall.Errno(got["chr:"+p.path("dev")+"/chr-nobody"]); e != syscall.EPERM {
		t.Errorf("nobody: mknod c 1 3 through the mount: %s, want EPERM", errName(e))
	}
	if _, err := os.Lstat(p.backing("dev/chr-nobody")); !os.IsNotExist(err) {
		t.Errorf("nobody's refused device node is in the backing directory: %v", err)
	}
	for _, kind := range []string{"whiteout", "fifo"} {
		var st unix.Stat_t
		if err := unix.Lstat(p.backing("dev/"+kind+"-nobody"), &st); err != nil {
			t.Errorf("nobody's %s: %v", kind, err)
		} else if st.Uid != nobodyUID {
			t.Errorf("nobody's %s belongs to uid %d in the backing directory, want %d", kind, st.Uid, nobodyUID)
		}
	}
}
