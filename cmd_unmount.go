package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

func unmountFlagSet(lazy *bool) *pflag.FlagSet {
	flags := flagSet("unmount", "[--lazy] [MOUNTPOINT]",
		"Unmounts a paracfs mount (default: the nearest .parac at or above the current directory).\n"+
			"A busy mount is left alone, naming the processes that hold it, unless --lazy.")
	flags.BoolVarP(lazy, "lazy", "z", false, "detach now even if busy; the kernel lets go once the last file is closed")
	return flags
}

func runUnmount(args []string) error {
	lazy := new(bool)
	flags := unmountFlagSet(lazy)
	if err := parse(flags, args, 1); err != nil {
		return err
	}
	mp, err := dirOperand(flags.Args(), 0)
	if err != nil {
		return err
	}
	if isStale(mp) {
		if err := detach(mp); err != nil {
			return fmt.Errorf("%s: stale mount (its daemon died): %v", mp, err)
		}
		fmt.Printf("paracfs: cleaned up the stale mount at %s\n", mp)
		return nil
	}
	if _, ok := mountAt(mp); !ok {
		return fmt.Errorf("%s is not mounted by paracfs", mp)
	}
	st, _ := readState(mp)
	os.Chdir("/") // our own working directory must not hold the mount
	if err := unmount(mp, *lazy); err != nil {
		if errors.Is(err, syscall.EBUSY) {
			msg := fmt.Sprintf("%s is busy", mp)
			if h := holders(mp, st.Pid); len(h) > 0 {
				msg += " (held by " + strings.Join(h, ", ") + ")"
			}
			return errors.New(msg + "; close those files or use --lazy")
		}
		return fmt.Errorf("%s: %v", mp, err)
	}
	// The daemon finishes its commits and exits once the kernel lets go.
	if st.Pid > 0 && !*lazy {
		for i := 0; i < 100 && alive(st.Pid); i++ {
			time.Sleep(50 * time.Millisecond)
		}
	}
	fmt.Printf("paracfs: unmounted %s\n", mp)
	return nil
}

// unmount asks the kernel to unmount mp, directly as root, else through
// fusermount3.
func unmount(mp string, lazy bool) error {
	if os.Geteuid() == 0 {
		flags := 0
		if lazy {
			flags = unix.MNT_DETACH
		}
		return unix.Unmount(mp, flags)
	}
	args := []string{"-u"}
	if lazy {
		args = append(args, "-z")
	}
	out, err := exec.Command("fusermount3", append(args, mp)...).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "busy") {
			return syscall.EBUSY
		}
		return fmt.Errorf("fusermount3: %s", strings.TrimSpace(string(out)))
	}
	return nil
}

// holders names the processes with a file, cwd or root inside mp, other
// than the daemon itself (whose backing descriptor has the same path).
func holders(mp string, daemon int) []string {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	seen := map[string]bool{}
	var out []string
	inside := func(p string) bool { return p == mp || strings.HasPrefix(p, mp+"/") }
	for _, p := range procs {
		pid := filepath.Base(p)
		if pid == strconv.Itoa(os.Getpid()) || pid == strconv.Itoa(daemon) {
			continue
		}
		var links []string
		for _, l := range []string{"cwd", "root"} {
			links = append(links, filepath.Join(p, l))
		}
		fds, _ := filepath.Glob(filepath.Join(p, "fd", "*"))
		links = append(links, fds...)
		for _, l := range links {
			t, err := os.Readlink(l)
			if err != nil || !inside(strings.TrimSuffix(t, " (deleted)")) {
				continue
			}
			comm, _ := os.ReadFile(filepath.Join(p, "comm"))
			name := fmt.Sprintf("%s[%s]", strings.TrimSpace(string(comm)), pid)
			if !seen[name] {
				seen[name] = true
				out = append(out, name)
			}
			break
		}
	}
	sort.Strings(out)
	return out
}

// alive reports whether pid runs (a zombie waiting for its parent does not).
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}
