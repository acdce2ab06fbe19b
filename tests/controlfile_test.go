package tests

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// The control file behind the mount (beside DIR) is the daemon's alone (0600): nobody can append
// requests to it while DIR is not mounted. Through an --allow-other mount
// it shows as 0666 and answers anyone who can enter the mount.
func TestControlFileNotWritableUnmounted(t *testing.T) {
	p := newProject(t)
	openToOthers(t, p)
	mount(t, p, "--allow-other")
	fi, err := os.Stat(p.path(".paracfs/control"))
	if err != nil || fi.Mode().Perm() != 0o666 {
		t.Fatalf("control file through the mount: %v, mode %v; want 0666", err, fi.Mode())
	}
	if r := runAsNobody(t, p.Dir, paracfsBin, "status"); r.Code != 0 || !strings.Contains(r.Stdout, p.Dir) {
		t.Errorf("paracfs status as nobody through the mount: %s", r)
	}
	unmountCmd(t, p)
	var st syscall.Stat_t
	if err := syscall.Lstat(p.meta("control"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o600 || st.Uid != 0 {
		t.Errorf("control file in the unmounted DIR: mode %#o uid %d, want 0600 owned by the daemon's user (root)", st.Mode&0o7777, st.Uid)
	}
	got := asNobodyOps(t, p.Dir, "append:"+p.meta("control"))
	if e := got["append:"+p.meta("control")]; e != syscall.EACCES {
		t.Errorf("nobody appending to the unmounted control file: errno %v, want EACCES", e)
	}
}
