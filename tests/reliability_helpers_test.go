package tests

// Helpers of the reliability tests (crash_test.go, soak_test.go,
// badinput_test.go, differential_test.go, security_test.go).
//
// They run with the rest of the package (go test ./tests/, scripts/test).
// Their long versions are chosen by environment variables (scripts/soak
// sets them); the defaults keep each test short enough for CI:
//
//	PARACFS_KILLS    kill -9 cycles of TestCrashKill9Stream      (CI 50, full 200)
//	PARACFS_COMMITS  acknowledged commits it waits for at least   (CI 1000, full 5000)
//	PARACFS_SOAK     duration of TestSoakConcurrentWriters        (CI 10s, full 60s)
//	PARACFS_SOAK_WRITERS  its writer processes                    (16)
//	PARACFS_SOAK_TOOLS    their tools, in turn: python,sed,echo,rsync,paracle
//	PARACFS_SEED          replay TestCrashKill9Stream's kill timing
//	PARACFS_FORK_SECS     duration of TestSoakForkExecWhileWriting (8)
//	PARACFS_DIFF_OPS      operations per seed of TestDifferential (CI 1000)
//	PARACFS_DIFF_SEEDS    seeds it runs                           (CI 4)
//	PARACFS_DIFF_SEED     run this one seed (to reproduce a failure)
//	PARACFS_FIGURES  a file the tests append their figures to (one line each)

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// envInt reads a positive integer from the environment, or def.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// envDuration reads a duration (e.g. 60s, 5m) from the environment, or def.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		t.Fatalf("%s=%q: want a positive duration like 60s", name, s)
	}
	return d
}

var figuresMu sync.Mutex

// figure logs one measured figure, prefixed FIGURE so that scripts/soak can
// collect them, and appends it to $PARACFS_FIGURES when set.
func figure(t *testing.T, format string, args ...any) {
	t.Helper()
	line := fmt.Sprintf("%s: %s", t.Name(), fmt.Sprintf(format, args...))
	t.Logf("FIGURE %s", line)
	if path := os.Getenv("PARACFS_FIGURES"); path != "" {
		figuresMu.Lock()
		defer figuresMu.Unlock()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err == nil {
			fmt.Fprintln(f, line)
			f.Close()
		}
	}
}

// countsLine lists counts by name for a figure: "a 3, b 1", sorted.
func countsLine(counts map[string]int) string {
	var out []string
	for name, n := range counts {
		out = append(out, fmt.Sprintf("%s %d", name, n))
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// percentile returns the p-th percentile (0..100) of xs (nearest rank).
func percentile(xs []float64, p float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(math.Ceil(p/100*float64(len(s)))) - 1
	if i < 0 {
		i = 0
	}
	if i >= len(s) {
		i = len(s) - 1
	}
	return s[i]
}

// ms formats seconds as milliseconds.
func ms(sec float64) string { return strconv.FormatFloat(sec*1000, 'f', 1, 64) + " ms" }

// killDaemon kill -9s the daemon serving p and waits until it is gone and
// its mount answers ENOTCONN ("Transport endpoint is not connected").
func killDaemon(t *testing.T, p *project, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatal("no daemon pid to kill")
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", pid, err)
	}
	if !waitGone(pid, eventWait) {
		t.Fatalf("daemon %d still alive 10s after kill -9", pid)
	}
	if err := waitNotConnected(p.Dir); errnoOf(err) != syscall.ENOTCONN {
		t.Fatalf("after kill -9 of the daemon, stat %s: %v, want ENOTCONN (Transport endpoint is not connected)", p.Dir, err)
	}
}

// remount runs `paracfs mount DIR` over a dead mount, as a user does after
// a crash, and returns the new daemon's pid.
func remount(t *testing.T, p *project, flags ...string) int {
	t.Helper()
	mount(t, p, flags...)
	if n := countMounts(p.Dir); n != 1 {
		t.Fatalf("%d paracfs mounts on %s after the remount, want 1 (the stale one cleaned up)", n, p.Dir)
	}
	pid := p.daemonPid(t)
	if pid <= 0 {
		t.Fatal("no daemon pid in .paracfs/daemon.json after the remount")
	}
	return pid
}

// fdCount counts the open descriptors of a process.
func fdCount(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatalf("listing the descriptors of %d: %v", pid, err)
	}
	return len(ents)
}

// fdList describes the open descriptors of a process, for failure messages.
func fdList(pid int) string {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, _ := os.ReadDir(dir)
	var b strings.Builder
	for _, e := range ents {
		l, _ := os.Readlink(dir + "/" + e.Name())
		fmt.Fprintf(&b, "  %s -> %s\n", e.Name(), l)
	}
	return b.String()
}

// vmHWM is the peak resident set size of a process, in KiB (0 if unknown).
func vmHWM(pid int) int64 {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n
		}
	}
	return 0
}

// asNobody is the command line prefix that runs a command as the user
// nobody, with no supplementary groups.
func asNobody(t *testing.T) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to switch to the user nobody")
	}
	if p, err := exec.LookPath("setpriv"); err == nil {
		return []string{p, "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--"}
	}
	if p, err := exec.LookPath("runuser"); err == nil {
		return []string{p, "-u", "nobody", "--"}
	}
	skipUnlessCI(t, "needs setpriv or runuser (util-linux)")
	return nil
}

// runAsNobody runs a command as nobody in dir.
func runAsNobody(t *testing.T, dir string, name string, args ...string) result {
	t.Helper()
	pre := asNobody(t)
	return run(t, dir, pre[0], append(append(pre[1:], name), args...)...)
}

// openToOthers lets other users traverse down to p.Dir: the run directory
// and the project's root are 0700 when created.
func openToOthers(t *testing.T, p *project) {
	t.Helper()
	for _, d := range []string{testsBase, runDir, p.Root} {
		st, err := os.Stat(d)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm()&0o011 != 0o011 {
			if err := os.Chmod(d, st.Mode().Perm()|0o011); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// signalAll sends a signal (SIGSTOP, SIGCONT) to each pid.
func signalAll(pids []int, sig syscall.Signal) {
	for _, pid := range pids {
		syscall.Kill(pid, sig)
	}
}

// waitStopped waits until each pid is in the stopped state (T).
func waitStopped(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for _, pid := range pids {
		for {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				break // exited
			}
			s := string(b)
			if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) && (s[i+2] == 'T' || s[i+2] == 'Z') {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("process %d did not stop within %s of SIGSTOP: %s", pid, eventWait, s)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// isCommitOp tells the ops of log lines that record a new committed version.
func isCommitOp(op string) bool {
	switch op {
	case "commit", "create", "rename", "truncate", "restore":
		return true
	}
	return false
}

// writeMount is os.WriteFile for a file through the mount, made while no
// process can be forked from this one (syscall.ForkLock): a child forked
// while the descriptor is open would inherit it, and close it in execve
// (close-on-exec), which sends the daemon a FLUSH that commits this
// process's bytes from inside the child's exec. The daemon then deadlocks
// reading the child's /proc/PID/stat (see TestSoakForkExecWhileWriting);
// other parallel tests exec tools all the time.
func writeMount(path string, data []byte, perm os.FileMode) error {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	return os.WriteFile(path, data, perm)
}
