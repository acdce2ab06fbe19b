// Package tests holds the end-to-end tests of paracfs: they build the real
// binary once, mount real FUSE filesystems with it the way a user does
// (`paracfs mount DIR`), and drive them with real tools (python3, bash,
// sed, coreutils), asserting what a user sees: bytes on disk, errnos, the
// change log.
//
// Every project lives in a fresh directory under /var/tmp/paracfs-tests/
// (not /tmp: some tools behave differently there). Mounts are cleaned up
// even when a test fails; TestMain fails the run if one is left behind.
//
// The binary is built with the race detector (PARACFS_RACE=0 builds it
// plainly): every daemon and command the tests start writes its race
// reports to a file of its own (GORACE log_path), and the test that owns
// the process fails with the report (race_helpers_test.go).
package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// testsBase is where every test project is created.
const testsBase = "/var/tmp/paracfs-tests"

// fuseSuperMagic is statfs(2)'s f_type of a FUSE filesystem.
const fuseSuperMagic = 0x65735546

// revXattr is the revision of a managed file, as shown on the mount.
const revXattr = "user.paracfs.revision"

// logRel is the change log relative to DIR.
const logRel = "memory/logs/state_changes.jsonl"

// stateRel is the fixture's paracle state file (revision: 11).
const stateRel = "memory/context/current_state.yaml"

var (
	paracfsBin string // the binary under test, built by TestMain
	repoRoot   string // the module root
	runDir     string // this run's directory under testsBase
)

func TestMain(m *testing.M) { os.Exit(testMain(m)) }

func testMain(m *testing.M) int {
	flag.Parse()
	var err error
	if repoRoot, err = findRepoRoot(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: tests: %v\n", err)
		return 1
	}
	binDir, err := os.MkdirTemp("", "paracfs-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: tests: %v\n", err)
		return 1
	}
	defer os.RemoveAll(binDir)
	paracfsBin = filepath.Join(binDir, "paracfs")
	goBin := findGo()
	buildArgs := buildFlags()
	build := exec.Command(goBin, append(append([]string{"build"}, buildArgs...), "-o", paracfsBin, ".")...)
	build.Dir = repoRoot
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: tests: cannot build paracfs (%s build %s -o %s . in %s): %v\n%s\n",
			goBin, strings.Join(buildArgs, " "), paracfsBin, repoRoot, err, out)
		return 1
	}
	if f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: tests: these end-to-end tests mount real FUSE filesystems and need /dev/fuse: %v\n"+
			"(run as root, or in a container started with --device /dev/fuse --cap-add SYS_ADMIN)\n", err)
		return 1
	} else {
		f.Close()
	}
	if _, err := exec.LookPath("python3"); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: tests: python3 is needed to drive the mount (apt-get install python3)\n")
		return 1
	}
	if err := os.MkdirAll(testsBase, 0o755); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: tests: %v\n", err)
		return 1
	}
	reapOldRuns()
	if runDir, err = os.MkdirTemp(testsBase, "run-"); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: tests: %v\n", err)
		return 1
	}
	// Held for the life of this process: the reaper of another run
	// tells a live run by it, whatever pid namespace either runs in.
	if f, err := os.OpenFile(filepath.Join(runDir, "owner.lock"), os.O_CREATE|os.O_RDWR, 0o644); err == nil {
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err == nil {
			defer f.Close()
		}
	}
	os.WriteFile(filepath.Join(runDir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o644)
	if err := setupCover(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: tests: %v\n", err)
		return 1
	}
	if err := setupRaceReports(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: tests: %v\n", err)
		return 1
	}

	stop := startWatchdog()
	code := m.Run()
	stop()
	if unclaimedRaceReports() {
		code = 1
	}

	if left := mountsUnder(runDir); len(left) > 0 {
		fmt.Fprintf(os.Stderr, "FAIL: tests: %d paracfs mount(s) left behind by the tests:\n", len(left))
		for _, mi := range left {
			fmt.Fprintf(os.Stderr, "  %s on %s\n", mi.Source, mi.Mountpoint)
		}
		killDaemons(runDir)
		detachAll(runDir)
		if len(mountsUnder(runDir)) == 0 && os.Getenv("PARACFS_KEEP") == "" {
			os.RemoveAll(runDir)
		}
		return 1
	}
	if os.Getenv("PARACFS_KEEP") == "" {
		os.RemoveAll(runDir)
	}
	return code
}

// findRepoRoot walks up from the cwd (the tests/ directory under go test)
// to the paracfs module root.
func findRepoRoot() (string, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := cwd; ; dir = filepath.Dir(dir) {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/paracfs/paracfs\n")) {
			return dir, nil
		}
		if dir == "/" {
			return "", fmt.Errorf("no go.mod of github.com/paracfs/paracfs at or above %s", cwd)
		}
	}
}

// findGo finds the go command: on PATH, else under $GOROOT or
// /usr/local/go; "go" (which then fails to run, saying so) when none is.
func findGo() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	if g := os.Getenv("GOROOT"); g != "" {
		if _, err := os.Stat(filepath.Join(g, "bin", "go")); err == nil {
			return filepath.Join(g, "bin", "go")
		}
	}
	if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		return "/usr/local/go/bin/go"
	}
	return "go"
}

// startWatchdog makes sure a run killed by -timeout leaves no mount behind:
// shortly before the deadline it kills this run's daemons (which aborts
// their FUSE connections, so hung calls return) and detaches their mounts.
func startWatchdog() (stop func()) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return func() {}
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return func() {}
	}
	timeout, _ := g.Get().(time.Duration)
	if timeout < time.Minute {
		return func() {}
	}
	timer := time.AfterFunc(timeout-20*time.Second, func() {
		fmt.Fprintf(os.Stderr, "tests: the -timeout of %s is near: killing this run's daemons and detaching its mounts\n", timeout)
		killDaemons(runDir)
		detachAll(runDir)
	})
	return func() { timer.Stop() }
}

// reapOldRuns cleans up after earlier runs that died (a -timeout panic, a
// kill): their mounts are detached and their directories removed. Runs
// whose test process is still alive (it holds owner.lock) are left alone.
func reapOldRuns() {
	dirs, _ := filepath.Glob(filepath.Join(testsBase, "run-*"))
	for _, d := range dirs {
		if runAlive(d) {
			continue
		}
		killDaemons(d)
		detachAll(d)
		if len(mountsUnder(d)) == 0 {
			os.RemoveAll(d)
		}
	}
}

// runAlive reports whether the test process of run directory d still
// runs: it holds d/owner.lock (a run from before that lock existed is
// judged by owner.pid). Unsure counts as alive.
func runAlive(d string) bool {
	if f, err := os.Open(filepath.Join(d, "owner.lock")); err == nil {
		defer f.Close()
		if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
			return true
		}
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		return false
	}
	b, err := os.ReadFile(filepath.Join(d, "owner.pid"))
	if err != nil {
		return true
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return err != nil || pid <= 0 || syscall.Kill(pid, 0) == nil
}

// ---------------------------------------------------------------------------
// Mount table

type mountInfo struct {
	Mountpoint string
	Source     string // the backing directory
}

// paracfsMounts lists the paracfs mounts in /proc/self/mountinfo.
func paracfsMounts() []mountInfo {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []mountInfo
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, x := range fields {
			if x == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || sep+2 >= len(fields) || fields[sep+1] != "fuse.paracfs" {
			continue
		}
		out = append(out, mountInfo{Mountpoint: unescapeMount(fields[4]), Source: unescapeMount(fields[sep+2])})
	}
	return out
}

func unescapeMount(s string) string {
	re := regexp.MustCompile(`\\[0-7]{3}`)
	return re.ReplaceAllStringFunc(s, func(m string) string {
		v, _ := strconv.ParseUint(m[1:], 8, 8)
		return string([]byte{byte(v)})
	})
}

// mountsUnder lists the paracfs mounts whose mountpoint is dir or inside it.
func mountsUnder(dir string) []mountInfo {
	var out []mountInfo
	for _, m := range paracfsMounts() {
		if m.Mountpoint == dir || strings.HasPrefix(m.Mountpoint, dir+"/") {
			out = append(out, m)
		}
	}
	return out
}

// isMounted reports whether a paracfs mount sits on mp.
func isMounted(mp string) bool {
	for _, m := range paracfsMounts() {
		if m.Mountpoint == mp {
			return true
		}
	}
	return false
}

// countMounts counts the paracfs mounts stacked on mp.
func countMounts(mp string) int {
	n := 0
	for _, m := range paracfsMounts() {
		if m.Mountpoint == mp {
			n++
		}
	}
	return n
}

// detachAll lazily detaches every paracfs mount under dir (deepest first).
func detachAll(dir string) {
	for i := 0; i < 10; i++ {
		ms := mountsUnder(dir)
		if len(ms) == 0 {
			return
		}
		for j := len(ms) - 1; j >= 0; j-- {
			unix.Unmount(ms[j].Mountpoint, unix.MNT_DETACH)
		}
	}
}

// daemonPids finds running paracfs processes of the binary under test whose
// command line names a path inside dir: only processes this run started.
func daemonPids(dir string) []int {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil || pid == os.Getpid() {
			continue
		}
		exe, err := os.Readlink(filepath.Join(p, "exe"))
		if err != nil {
			continue
		}
		exe = strings.TrimSuffix(exe, " (deleted)")
		if paracfsBin == "" || exe != paracfsBin {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(p, "cmdline"))
		if err != nil {
			continue
		}
		for _, a := range strings.Split(string(cmdline), "\x00") {
			if a == dir || strings.HasPrefix(a, dir+"/") {
				out = append(out, pid)
				break
			}
		}
	}
	return out
}

// killDaemons SIGKILLs this run's daemons serving paths under dir.
func killDaemons(dir string) {
	for _, pid := range daemonPids(dir) {
		syscall.Kill(pid, syscall.SIGKILL)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	if pid <= 0 || syscall.Kill(pid, 0) != nil {
		return false
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && b[i+2] == 'Z' {
		return false
	}
	return true
}

// waitGone waits up to d for pid to exit.
func waitGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if !alive(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return !alive(pid)
}

// ---------------------------------------------------------------------------
// Projects

// project is a fresh copy of testdata/parac.
type project struct {
	Root string // a fresh directory of its own
	Dir  string // Root/.parac: DIR, and the mountpoint of an in-place mount

	backingFd int // O_PATH descriptor on DIR opened before any mount
	rootFd    int // O_PATH descriptor on Root, DIR's parent, where paracfs's data is

	mu   sync.Mutex
	pids []int // daemon pids seen
}

// newProject copies tests/testdata/parac to <fresh dir>/.parac. Its cleanup
// unmounts whatever is still mounted under the fresh dir (even when the
// test failed), kills the daemons still alive and removes the directory.
func newProject(t *testing.T) *project {
	t.Helper()
	if runDir == "" {
		t.Fatal("runDir not set: TestMain did not run")
	}
	root, err := os.MkdirTemp(runDir, safeName(t.Name())+"-")
	if err != nil {
		t.Fatal(err)
	}
	p := &project{Root: root, Dir: filepath.Join(root, ".parac"), backingFd: -1, rootFd: -1}
	t.Cleanup(func() { p.teardown(t) })
	if err := copyTree("testdata/parac", p.Dir); err != nil {
		t.Fatalf("copying testdata/parac: %v", err)
	}
	p.openBacking(t)
	return p
}

// openBacking opens the descriptors p.backing goes through: DIR's (its
// files) and Root's (paracfs's data beside DIR). Call it before the mount.
func (p *project) openBacking(t *testing.T) {
	t.Helper()
	var err error
	if p.backingFd, err = unix.Open(p.Dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		t.Fatal(err)
	}
	if p.rootFd, err = unix.Open(p.Root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		t.Fatal(err)
	}
}

func safeName(s string) string {
	s = regexp.MustCompile(`[^A-Za-z0-9_.-]+`).ReplaceAllString(s, "_")
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}

// path is rel inside DIR, as users name it (through the mount when mounted
// in place).
func (p *project) path(rel string) string { return filepath.Join(p.Dir, rel) }

// backing is rel in the backing directory itself, reached through a
// descriptor opened before the mount: it never goes through the mount.
// paracfs's own data (.paracfs/...) is beside DIR, in Root/.parac.paracfs.
func (p *project) backing(rel string) string {
	if rel == metaName || strings.HasPrefix(rel, metaName+"/") {
		return "/proc/self/fd/" + strconv.Itoa(p.rootFd) + "/.parac.paracfs" + strings.TrimPrefix(rel, metaName)
	}
	return "/proc/self/fd/" + strconv.Itoa(p.backingFd) + "/" + rel
}

// metaName is the name of paracfs's data through the mount.
const metaName = ".paracfs"

// meta is the real path of paracfs's data folder of p (beside DIR), or of
// rel inside it.
func (p *project) meta(rel ...string) string {
	return filepath.Join(append([]string{p.Root, ".parac.paracfs"}, rel...)...)
}

func (p *project) addPid(pid int) {
	p.mu.Lock()
	p.pids = append(p.pids, pid)
	p.mu.Unlock()
}

// teardown unmounts everything under Root (umount(2), `paracfs unmount`
// retried, --lazy, umount -l, then killing the daemon), kills daemons still
// alive, fails the test with its daemons' race reports, logs daemon.log if
// the test failed, and removes Root.
func (p *project) teardown(t *testing.T) {
	unmountAll(t, p.Root)
	p.mu.Lock()
	pids := append([]int(nil), p.pids...)
	p.mu.Unlock()
	pids = append(pids, daemonPids(p.Root)...)
	for _, pid := range pids {
		if alive(pid) && !waitGone(pid, 3*time.Second) {
			t.Logf("cleanup: daemon %d still alive after its mount is gone: killing it", pid)
			syscall.Kill(pid, syscall.SIGKILL)
			waitGone(pid, 2*time.Second)
		}
	}
	if left := mountsUnder(p.Root); len(left) > 0 {
		t.Errorf("cleanup: could not unmount %v: leaving %s in place", left, p.Root)
		return
	}
	checkProjectRaces(t, p.Root, pids)
	if p.rootFd >= 0 {
		unix.Close(p.rootFd)
		p.rootFd = -1
	}
	if p.backingFd >= 0 {
		unix.Close(p.backingFd)
		p.backingFd = -1
	}
	if t.Failed() {
		t.Logf("daemon.log of %s:\n%s", p.Dir, p.daemonLogPlain())
	}
	if os.Getenv("PARACFS_KEEP") == "" {
		os.RemoveAll(p.Root)
	} else {
		t.Logf("cleanup: PARACFS_KEEP is set: %s kept", p.Root)
	}
}

// unmountAll unmounts every paracfs mount under dir, whatever it takes.
func unmountAll(t *testing.T, dir string) {
	for round := 0; round < 5; round++ {
		ms := mountsUnder(dir)
		if len(ms) == 0 {
			return
		}
		for i := len(ms) - 1; i >= 0; i-- {
			unmountOne(t, ms[i].Mountpoint)
		}
	}
}

func unmountOne(t *testing.T, mp string) {
	try := func(name string, args ...string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, name, args...).CombinedOutput()
		if err != nil {
			t.Logf("cleanup: %s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return !isMounted(mp)
	}
	n := countMounts(mp)
	// umount(2) first: what `paracfs unmount` does as root, without its
	// wait for the daemon to be reaped (slow under some inits).
	if os.Geteuid() == 0 {
		for i := 0; i < 3; i++ {
			if unix.Unmount(mp, 0) == nil || countMounts(mp) < n {
				return
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	for i := 0; i < 3; i++ {
		if try(paracfsBin, "unmount", mp) || countMounts(mp) < n {
			return
		}
		time.Sleep(300 * time.Millisecond)
	}
	if try(paracfsBin, "unmount", "--lazy", mp) || countMounts(mp) < n {
		return
	}
	if umount, err := exec.LookPath("umount"); err == nil {
		if try(umount, "-l", mp) {
			return
		}
	} else if unix.Unmount(mp, unix.MNT_DETACH) == nil && !isMounted(mp) {
		return
	}
	// A hung daemon: killing it aborts the connection; then detach.
	killDaemons(filepath.Dir(mp))
	unix.Unmount(mp, unix.MNT_DETACH)
}

// copyTree copies a directory tree of regular files, directories and
// symlinks, keeping permission bits.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(path)
			if err != nil {
				return err
			}
			return os.Symlink(l, target)
		case d.Type().IsRegular():
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, info.Mode().Perm())
		}
		return fmt.Errorf("%s: unexpected file type %v", path, d.Type())
	})
}

// fixture reads a file of testdata/parac.
func fixture(t *testing.T, rel string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata/parac", rel))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ---------------------------------------------------------------------------
// Mounting

// mount runs `paracfs mount [flags...] DIR` from Root, as a user does,
// asserts that it succeeded and that the mount answers, and registers a
// cleanup that unmounts it (even when the test fails). It returns the
// command's stdout.
func mount(t *testing.T, p *project, flags ...string) string {
	t.Helper()
	args := append(append([]string{"mount"}, flags...), p.Dir)
	return mountWith(t, p, p.Root, args...)
}

// mountWith runs `paracfs <args...>` from cwd (a mount command line, with
// or without DIR) and asserts that it mounted p.Dir in place.
func mountWith(t *testing.T, p *project, cwd string, args ...string) string {
	t.Helper()
	t.Cleanup(func() { unmountAll(t, p.Root) })
	r := run(t, cwd, paracfsBin, args...)
	if r.Code != 0 {
		t.Fatalf("paracfs %s: exit %d\nstdout: %s\nstderr: %s\ndaemon.log:\n%s",
			strings.Join(args, " "), r.Code, r.Stdout, r.Stderr, p.daemonLog())
	}
	if !isMounted(p.Dir) {
		t.Fatalf("paracfs %s returned 0 but nothing is mounted on %s\nstdout: %s", strings.Join(args, " "), p.Dir, r.Stdout)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p.Dir, &st); err != nil || st.Type != fuseSuperMagic {
		t.Fatalf("paracfs %s returned 0 but %s does not answer as a FUSE filesystem: statfs: %v, type %#x",
			strings.Join(args, " "), p.Dir, err, st.Type)
	}
	if pid := p.daemonPid(t); pid > 0 {
		p.addPid(pid)
	}
	return r.Stdout
}

// daemonPid reads the daemon's pid from .paracfs/daemon.json (through the
// mount, where DIR's metadata folder is visible read-only); 0 if unknown.
func (p *project) daemonPid(t *testing.T) int {
	t.Helper()
	var st struct {
		Pid int `json:"pid"`
	}
	b, err := os.ReadFile(p.path(".paracfs/daemon.json"))
	if err != nil {
		t.Logf("reading .paracfs/daemon.json: %v", err)
		return 0
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Errorf(".paracfs/daemon.json is not JSON: %v: %q", err, b)
		return 0
	}
	return st.Pid
}

// daemonLogPlain is the daemon's stderr once nothing is mounted.
func (p *project) daemonLogPlain() string {
	b, err := os.ReadFile(p.meta("daemon.log"))
	if err != nil {
		return fmt.Sprintf("(no daemon.log: %v)", err)
	}
	return string(b)
}

// daemonLog is the daemon's stderr, read from the backing directory.
func (p *project) daemonLog() string {
	b, err := os.ReadFile(p.backing(".paracfs/daemon.log"))
	if err != nil {
		return fmt.Sprintf("(no daemon.log: %v)", err)
	}
	return string(b)
}

// foreground is a daemon started with `paracfs mount -f`.
type foreground struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // cmd.Wait's result, once done is closed
}

// mountForeground starts `paracfs mount -f [flags...] DIR` and waits until
// the mount answers. Its cleanup unmounts and reaps the process.
func mountForeground(t *testing.T, p *project, flags ...string) *foreground {
	t.Helper()
	args := append(append([]string{"mount", "-f"}, flags...), p.Dir)
	cmd := exec.Command(paracfsBin, args...)
	cmd.Dir = p.Root
	buf := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = buf, buf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting paracfs %s: %v", strings.Join(args, " "), err)
	}
	fg := &foreground{cmd: cmd, out: buf, done: make(chan struct{})}
	go func() { fg.err = cmd.Wait(); close(fg.done) }()
	p.addPid(cmd.Process.Pid)
	t.Cleanup(func() {
		unmountAll(t, p.Root)
		select {
		case <-fg.done:
		case <-time.After(5 * time.Second):
			t.Logf("cleanup: foreground daemon %d did not exit after unmount: killing it", cmd.Process.Pid)
			cmd.Process.Kill()
			<-fg.done
		}
		checkRaceOutput(t, "paracfs "+strings.Join(args, " "), buf.String())
	})
	deadline := time.Now().Add(eventWait)
	for !isMounted(p.Dir) {
		select {
		case <-fg.done:
			t.Fatalf("paracfs %s exited before mounting: %v\n%s", strings.Join(args, " "), fg.err, buf.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("paracfs %s: not mounted after %s\n%s", strings.Join(args, " "), eventWait, buf.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return fg
}

// wait waits up to d for the foreground daemon to exit and returns its
// exit code (-1 on timeout or signal).
func (fg *foreground) wait(d time.Duration) (int, bool) {
	select {
	case <-fg.done:
	case <-time.After(d):
		return -1, false
	}
	if fg.err == nil {
		return 0, true
	}
	var ee *exec.ExitError
	if errors.As(fg.err, &ee) {
		return ee.ExitCode(), true
	}
	return -1, true
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// ---------------------------------------------------------------------------
// Running tools

// result is what a finished command printed and its exit code (-1 when it
// was killed by a signal).
type result struct {
	Stdout, Stderr string
	Code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout: %s\nstderr: %s", r.Code, r.Stdout, r.Stderr)
}

// run runs a tool in dir with its output captured. It fails the test only
// when the tool cannot be started or runs for more than a minute.
func run(t *testing.T, dir, name string, args ...string) result {
	t.Helper()
	return runInput(t, dir, "", name, args...)
}

// runInput is run with stdin.
func runInput(t *testing.T, dir, stdin, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Stdin = strings.NewReader(stdin)
	return runCmd(t, ctx, cmd)
}

// runCmd runs cmd, made with exec.CommandContext(ctx, ...), with its
// output captured. It fails the test when cmd cannot be started or is
// still running when ctx ends (it is killed then).
func runCmd(t *testing.T, ctx context.Context, cmd *exec.Cmd) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	r := result{Stdout: stdout.String(), Stderr: stderr.String()}
	if cmd.Process != nil {
		claimRaces(t, strings.Join(cmd.Args, " "), cmd.Process.Pid)
	}
	checkRaceOutput(t, strings.Join(cmd.Args, " "), r.Stderr)
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("%s: still running after %s (a deadlock?): killed\nstdout: %s\nstderr: %s", strings.Join(cmd.Args, " "), time.Since(start).Round(time.Second), r.Stdout, r.Stderr)
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("%s: %v", strings.Join(cmd.Args, " "), err)
	}
	return r
}

// needTool skips the test when one of the tools it drives is not
// installed.
func needTool(t *testing.T, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			skipUnlessCI(t, "needs %s (not installed)", name)
		}
	}
}

// skipUnlessCI skips t for a tool that is not installed, on a developer's
// machine; in CI (CI set, as .ci/run does), where scripts/setup installs
// every tool the tests drive, a missing one fails the test instead: a
// check that CI silently skips is a check that never runs.
func skipUnlessCI(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf(format+"; in CI, scripts/setup must install it", args...)
	}
	t.Skipf(format, args...)
}

// mustRun is run that fails the test unless the tool exits 0.
func mustRun(t *testing.T, dir, name string, args ...string) result {
	t.Helper()
	r := run(t, dir, name, args...)
	if r.Code != 0 {
		t.Fatalf("%s %s: %s", name, strings.Join(args, " "), r)
	}
	return r
}

// paracfs runs the binary under test.
func paracfs(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return run(t, dir, paracfsBin, args...)
}

// errnoOf extracts the errno of a failed system call (0 if none).
func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// ---------------------------------------------------------------------------
// Files and revisions (the change log: logcheck_test.go)

// readFile reads a file and fails the test if it cannot.
func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading %s: %v", path, err)
	}
	return b
}

// rev reads a managed file's revision from the mount's xattr.
func rev(t *testing.T, path string) int64 {
	t.Helper()
	buf := make([]byte, 64)
	n, err := unix.Getxattr(path, revXattr, buf)
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", path, revXattr, err)
	}
	r, err := strconv.ParseInt(string(buf[:n]), 10, 64)
	if err != nil {
		t.Fatalf("getxattr %s %s: %q is not an integer", path, revXattr, buf[:n])
	}
	return r
}

// findTemps lists the daemon's temp files (.paracfs-tmp.*) under a backing
// directory.
func findTemps(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".paracfs-tmp.") {
			out = append(out, path)
		}
		return nil
	})
	return out
}

// unmountCmd runs `paracfs unmount DIR` as a user does and asserts that the
// mount is gone and DIR is a plain directory again.
func unmountCmd(t *testing.T, p *project) {
	t.Helper()
	r := paracfs(t, p.Root, "unmount", p.Dir)
	if r.Code != 0 {
		t.Fatalf("paracfs unmount %s: %s", p.Dir, r)
	}
	if isMounted(p.Dir) {
		t.Fatalf("paracfs unmount %s exited 0 but the mount is still there", p.Dir)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(p.Dir, &st); err != nil || st.Type == fuseSuperMagic {
		t.Fatalf("after unmount, %s: statfs %v, type %#x (want a plain directory)", p.Dir, err, st.Type)
	}
}

// assertContent asserts that rel holds want, both through the mount and in
// the backing directory.
func assertContent(t *testing.T, p *project, rel string, want []byte) {
	t.Helper()
	if got, err := os.ReadFile(p.path(rel)); err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s through the mount: %v\n got: %q\nwant: %q", rel, err, got, want)
	}
	if got, err := os.ReadFile(p.backing(rel)); err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s in the backing directory: %v\n got: %q\nwant: %q", rel, err, got, want)
	}
}

// replace is bytes.Replace that fails the test when old is absent.
func replace(t *testing.T, b []byte, old, new string) []byte {
	t.Helper()
	if !bytes.Contains(b, []byte(old)) {
		t.Fatalf("%q not found in %q", old, b)
	}
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}

func itoa(i int) string { return strconv.Itoa(i) }

// short abbreviates a long string for a failure message.
func short(s string) string {
	if len(s) <= 240 {
		return fmt.Sprintf("%q", s)
	}
	return fmt.Sprintf("%q … (%d bytes) … %q", s[:160], len(s), s[len(s)-60:])
}
