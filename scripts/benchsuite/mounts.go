package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Mount is a FUSE mount this run made: paracfs (the real binary, mounted
// in place) or a loopback child of this binary.
type Mount struct {
	Kind    string // "paracfs", "loopback", "loopback-strict"
	Backing string
	Path    string
	Pid     int           // the serving process
	Ready   time.Duration // from starting the mount command to a stat answered through it
	cmd     *exec.Cmd     // loopback child
	once    sync.Once
	err     error
}

var daemonPid = regexp.MustCompile(`daemon pid (\d+)`)

// startMount runs start, which brings up a mount, under the lock that
// cleanup takes: a mount is either refused (cleanup has begun) or
// registered before cleanup looks, never left behind by an interrupt.
func (b *Bench) startMount(start func() (*Mount, error)) (*Mount, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closing {
		return nil, errors.New("interrupted")
	}
	m, err := start()
	if m != nil {
		b.mounts = append(b.mounts, m)
	}
	return m, err
}

// mountParacfs runs `paracfs mount DIR` (in place) and waits until a stat of
// probe (relative to DIR) is answered through the mount.
func (b *Bench) mountParacfs(dir, probe string, extra ...string) (*Mount, error) {
	args := append([]string{"mount"}, extra...)
	args = append(args, dir)
	t0 := time.Now()
	m, err := b.startMount(func() (*Mount, error) {
		cmd := exec.Command(b.cfg.Paracfs, args...)
		cmd.Env = append(os.Environ(), b.cfg.Env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("paracfs mount %s: %v: %s", dir, err, strings.TrimSpace(string(out)))
		}
		m := &Mount{Kind: "paracfs", Backing: dir, Path: dir}
		if g := daemonPid.FindSubmatch(out); g != nil {
			m.Pid, _ = strconv.Atoi(string(g[1]))
		}
		if m.Pid == 0 {
			return m, fmt.Errorf("paracfs mount %s: no daemon pid in %q", dir, out)
		}
		return m, nil
	})
	if err != nil {
		return m, err
	}
	if err := waitStat(filepath.Join(dir, probe)); err != nil {
		return m, err
	}
	m.Ready = time.Since(t0)
	return m, nil
}

// mountLoopback starts `benchsuite loopback [--strict] SRC MNT` and waits
// for it to report the mount, then for a stat of probe through it.
func (b *Bench) mountLoopback(src, mnt, probe string, strict bool) (*Mount, error) {
	args := []string{"loopback"}
	kind := "loopback"
	if strict {
		args = append(args, "--strict")
		kind = "loopback-strict"
	}
	args = append(args, src, mnt)
	t0 := time.Now()
	m, err := b.startMount(func() (*Mount, error) {
		cmd := exec.Command(b.self, args...)
		cmd.Stderr = os.Stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		if strings.TrimSpace(line) != "ok" {
			cmd.Wait()
			return nil, fmt.Errorf("loopback %s: %s", mnt, strings.TrimSpace(line))
		}
		return &Mount{Kind: kind, Backing: src, Path: mnt, Pid: cmd.Process.Pid, cmd: cmd}, nil
	})
	if err != nil {
		return m, err
	}
	if err := waitStat(filepath.Join(mnt, probe)); err != nil {
		return m, err
	}
	m.Ready = time.Since(t0)
	return m, nil
}

func waitStat(p string) error {
	var st unix.Stat_t
	var err error
	for i := 0; i < 1000; i++ {
		if err = unix.Stat(p, &st); err == nil {
			return nil
		}
		time.Sleep(time.Millisecond)
	}
	return fmt.Errorf("stat %s through the new mount: %v", p, err)
}

// unmount undoes m and waits for its serving process to exit. Only the
// first call acts; the others wait for it and return its error.
func (b *Bench) unmount(m *Mount) error {
	if m == nil {
		return nil
	}
	m.once.Do(func() { m.err = b.undo(m) })
	return m.err
}

func (b *Bench) undo(m *Mount) error {
	switch m.Kind {
	case "paracfs":
		out, err := exec.Command(b.cfg.Paracfs, "unmount", m.Path).CombinedOutput()
		if err != nil {
			// Last resort: a lazy detach of our own mount point.
			unix.Unmount(m.Path, unix.MNT_DETACH)
			return fmt.Errorf("paracfs unmount %s: %v: %s", m.Path, err, strings.TrimSpace(string(out)))
		}
		if m.Pid > 0 && !waitGone(m.Pid, 10*time.Second) {
			return fmt.Errorf("paracfs daemon %d still running 10s after unmount", m.Pid)
		}
	default:
		m.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- m.cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				if isMounted(m.Path) {
					unix.Unmount(m.Path, unix.MNT_DETACH)
				}
				return fmt.Errorf("loopback %s exited: %v", m.Path, err)
			}
		case <-time.After(10 * time.Second):
			unix.Unmount(m.Path, unix.MNT_DETACH)
			m.cmd.Process.Kill()
			return errors.New("loopback did not exit 10s after SIGTERM")
		}
	}
	return nil
}

// isMounted reports whether p is a mount point in this namespace.
func isMounted(p string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && f[4] == p {
			return true
		}
	}
	return false
}

// waitGone waits for a process that is not our child to exit.
func waitGone(pid int, limit time.Duration) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return true
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && len(b) > i+2 && b[i+2] == 'Z' {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// rssMiB reads a process's resident set (VmRSS) and its peak (VmHWM).
func rssMiB(pid int) (rss, hwm float64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseFloat(f[1], 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb / 1024
		case "VmHWM:":
			hwm = kb / 1024
		}
	}
	return rss, hwm, nil
}
