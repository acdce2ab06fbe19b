package fs

import (
	"context"
	"os"
	"strconv"
	"strings"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// mayMknod reports whether the thread behind a request has CAP_MKNOD in
// its effective capabilities, so that it could make a device node itself.
// The kernel asks the same of a mknod before it reaches the mount; the
// daemon, which may run as root, does not make one for anyone else.
func mayMknod(ctx context.Context) bool {
	fc, ok := fuse.FromContext(ctx)
	if !ok || fc.Pid == 0 {
		return false
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(fc.Pid)) + "/status")
	if err != nil {
		return false
	}
	return hasCap(string(b), unix.CAP_MKNOD)
}

// hasCap reports whether a /proc/PID/status text lists capability c in
// CapEff.
func hasCap(status string, c int) bool {
	for _, line := range strings.Split(status, "\n") {
		v, ok := strings.CutPrefix(line, "CapEff:")
		if !ok {
			continue
		}
		mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
		return err == nil && mask&(1<<uint(c)) != 0
	}
	return false
}
