package fs

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/backing"
)

func TestHasCap(t *testing.T) {
	for _, tc := range []struct {
		status string
		want   bool
	}{
		{"Name:\tbash\nCapInh:\t0000000000000000\nCapPrm:\t000001ffffffffff\nCapEff:\t000001ffffffffff\n", true},
		{"Name:\tbash\nCapPrm:\t000001ffffffffff\nCapEff:\t0000000000000000\n", false},
		{"CapEff:\t0000000008000000\n", true},  // CAP_MKNOD alone (bit 27)
		{"CapEff:\t00000000f7ffffff\n", false}, // everything but CAP_MKNOD
		{"CapEff:\tzz\n", false},
		{"Name:\tx\n", false},
	} {
		if got := hasCap(tc.status, unix.CAP_MKNOD); got != tc.want {
			t.Errorf("hasCap(%q, CAP_MKNOD) = %v, want %v", tc.status, got, tc.want)
		}
	}
}

// TestMknodNeedsCapMknod: the daemon, which may run as root, makes a device
// node only for a caller with CAP_MKNOD in its effective capabilities. The
// kernel refuses most such calls before they reach the mount, so no
// end-to-end test can get one to the daemon: a thread of this test that
// dropped CAP_MKNOD asks Node.Mknod directly.
func TestMknodNeedsCapMknod(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: the check matters to a daemon that could make the node")
	}
	dir := t.TempDir()
	d, err := backing.Open(dir, backing.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	root := NewRoot(d, false)
	tids := make(chan int)
	release := make(chan struct{})
	defer close(release)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			t.Error(err)
		}
		data[0].Effective &^= 1 << unix.CAP_MKNOD
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			t.Error(err)
		}
		tids <- unix.Gettid()
		<-release
	}()
	tid := <-tids
	b, err := os.ReadFile("/proc/" + strconv.Itoa(tid) + "/status")
	if err != nil || hasCap(string(b), unix.CAP_MKNOD) {
		t.Fatalf("the test's thread %d still has CAP_MKNOD (%v)", tid, err)
	}
	ctx := fuse.NewContext(context.Background(), &fuse.Caller{Owner: fuse.Owner{Uid: 0, Gid: 0}, Pid: uint32(tid)})
	var out fuse.EntryOut
	for _, dev := range []struct {
		name string
		mode uint32
	}{{"null", unix.S_IFCHR | 0o666}, {"loop", unix.S_IFBLK | 0o660}} {
		errno := func() (e syscall.Errno) {
			defer func() {
				// Past the check, Mknod makes the node and then its inode,
				// which needs a mount this test does not have.
				if r := recover(); r != nil {
					e = syscall.Errno(0)
				}
			}()
			_, e = root.Mknod(ctx, dev.name, dev.mode, uint32(unix.Mkdev(1, 3)), &out)
			return e
		}()
		if errno != syscall.EPERM {
			t.Errorf("Mknod %s by a root thread without CAP_MKNOD: %v, want EPERM", dev.name, errno)
		}
		if _, err := os.Lstat(filepath.Join(dir, dev.name)); !os.IsNotExist(err) {
			t.Errorf("the refused %s is in the backing directory: %v", dev.name, err)
		}
	}
}
