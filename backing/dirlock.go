package backing

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// lockDir makes fd's directory this daemon's: it refuses a directory that
// is itself the root of a paracfs mount (DIR opened after another daemon
// mounted over it), then takes flock(LOCK_EX) on the directory without
// waiting. Both compare the directory by device and inode, never by path.
func lockDir(fd int) error {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return err
	}
	if isPARACFSDevice(st.Dev) {
		return fmt.Errorf("%w (it is a paracfs mount)", ErrAlreadyServed)
	}
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == unix.EINTR {
			continue
		}
		if err == unix.EWOULDBLOCK {
			return ErrAlreadyServed
		}
		return err
	}
}

// isPARACFSDevice reports whether dev is the device of a paracfs mount
// seen in /proc/self/mountinfo.
func isPARACFSDevice(dev uint64) bool {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	defer f.Close()
	want := fmt.Sprintf("%d:%d", unix.Major(dev), unix.Minor(dev))
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint opts [optional...] - fstype source super
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 || fields[2] != want {
			continue
		}
		for i, f := range fields {
			if f == "-" && i+1 < len(fields) {
				if fields[i+1] == "fuse.paracfs" {
					return true
				}
				break
			}
		}
	}
	return false
}
