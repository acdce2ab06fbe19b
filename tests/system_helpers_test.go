package tests

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// sysLockPath serializes the tests that change the machine for a while
// (/dev/fuse's mode, /sbin/mount.fuse.paracfs), also across test runs.
const sysLockPath = "/run/lock/paracfs-tests-system.lock"

// sysNeedRoot skips a test that changes the machine unless run as root.
func sysNeedRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
}

// sysLock takes the system tests' lock until the test ends.
func sysLock(t *testing.T) {
	t.Helper()
	dir := filepath.Dir(sysLockPath)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		dir = os.TempDir()
	}
	f, err := os.OpenFile(filepath.Join(dir, filepath.Base(sysLockPath)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unix.Flock(int(f.Fd()), unix.LOCK_UN)
		f.Close()
	})
}

// sysUser is a normal user created for one test.
type sysUser struct {
	Name     string
	Uid, Gid uint32
}

// newSysUser creates a user with useradd (no home, no login shell) and
// lets it use FUSE: /dev/fuse is made readable and writable by everyone
// (Debian's own default, 0666) for the test, and the directories down to
// the binary under test and to the run directory become searchable. Its
// cleanup kills the user's processes left, one by one, and removes the
// user and its group, even when the test failed.
func newSysUser(t *testing.T) *sysUser {
	t.Helper()
	sysNeedRoot(t)
	needTool(t, "useradd", "userdel", "fusermount3")
	sysLock(t)
	b := make([]byte, 4)
	rand.Read(b)
	name := "pfst" + hex.EncodeToString(b)
	if out, err := exec.Command("useradd", "--no-create-home", "--home-dir", "/nonexistent",
		"--shell", "/usr/sbin/nologin", "--user-group", name).CombinedOutput(); err != nil {
		t.Fatalf("useradd %s: %v: %s", name, err, out)
	}
	t.Cleanup(func() { removeSysUser(t, name) })
	u, err := user.Lookup(name)
	if err != nil {
		t.Fatalf("the new user %s: %v", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	if uid == 0 {
		t.Fatalf("useradd gave %s uid 0", name)
	}

	// /dev/fuse: rw for the user, as Debian's udev rule makes it.
	st, err := os.Stat("/dev/fuse")
	if err != nil {
		t.Fatal(err)
	}
	if mode := st.Mode().Perm(); mode&0o006 != 0o006 {
		if err := os.Chmod("/dev/fuse", mode|0o666); err != nil {
			t.Fatalf("chmod /dev/fuse: %v", err)
		}
		t.Cleanup(func() {
			if err := os.Chmod("/dev/fuse", mode); err != nil {
				t.Errorf("cleanup: restoring /dev/fuse's mode %o: %v", mode, err)
			}
		})
	}
	// The binary under test and the projects: searchable by the user.
	for _, d := range []string{filepath.Dir(paracfsBin), testsBase, runDir} {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o011 != 0o011 {
			os.Chmod(d, st.Mode().Perm()|0o011)
		}
	}
	return &sysUser{Name: name, Uid: uint32(uid), Gid: uint32(gid)}
}

// removeSysUser kills what the user still runs (each pid found in /proc
// with its uid: only this test started them) and deletes the user.
func removeSysUser(t *testing.T, name string) {
	u, err := user.Lookup(name)
	if err == nil {
		uid, _ := strconv.Atoi(u.Uid)
		for i := 0; i < 10; i++ {
			pids := pidsOfUid(uint32(uid))
			if len(pids) == 0 {
				break
			}
			for _, pid := range pids {
				if i == 0 {
					t.Logf("cleanup: user %s still runs pid %d: killing it", name, pid)
				}
				syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	if out, err := exec.Command("userdel", name).CombinedOutput(); err != nil {
		t.Errorf("cleanup: userdel %s: %v: %s", name, err, out)
	}
	if _, err := user.LookupGroup(name); err == nil {
		if out, err := exec.Command("groupdel", name).CombinedOutput(); err != nil {
			t.Errorf("cleanup: groupdel %s: %v: %s", name, err, out)
		}
	}
}

// pidsOfUid lists the processes whose real uid is uid.
func pidsOfUid(uid uint32) []int {
	procs, _ := filepath.Glob("/proc/[0-9]*")
	var out []int
	for _, p := range procs {
		pid, err := strconv.Atoi(filepath.Base(p))
		if err != nil {
			continue
		}
		var st syscall.Stat_t
		if syscall.Stat(p, &st) == nil && st.Uid == uid && alive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// chownTree gives a project's files to the user: it must own the
// mountpoint for fusermount3, and the files for its writes.
func (u *sysUser) chownTree(t *testing.T, root string) {
	t.Helper()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(u.Uid), int(u.Gid))
	})
	if err != nil {
		t.Fatal(err)
	}
}

// command makes a command that runs as the user, with a plain
// environment plus env.
func (u *sysUser) command(ctx context.Context, dir string, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir, "LANG=C.UTF-8", "USER=" + u.Name, "LOGNAME=" + u.Name}, env...)
	cmd.Env = append(cmd.Env, coverEnv()...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: u.Uid, Gid: u.Gid, Groups: []uint32{}}}
	return cmd
}

// run runs a command as the user, like the harness's run.
func (u *sysUser) run(t *testing.T, dir, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	return runCmd(t, ctx, u.command(ctx, dir, nil, name, args...))
}

// mustRun is run that fails the test unless the command exits 0.
func (u *sysUser) mustRun(t *testing.T, dir, name string, args ...string) result {
	t.Helper()
	r := u.run(t, dir, name, args...)
	if r.Code != 0 {
		t.Fatalf("as %s: %s %s: %s", u.Name, name, strings.Join(args, " "), r)
	}
	return r
}

// mountOptionsOf returns the super block options of the paracfs mount on
// mp, from /proc/self/mountinfo ("rw,user_id=1001,group_id=1001").
func mountOptionsOf(mp string) string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		for i, x := range f {
			if x == "-" && i+3 < len(f) && f[i+1] == "fuse.paracfs" && unescapeMount(f[4]) == mp {
				return f[i+3]
			}
		}
	}
	return ""
}

// daemonConfig reads the config a running daemon recorded in
// .paracfs/daemon.json, from the backing directory.
func daemonConfig(t *testing.T, p *project) map[string]any {
	t.Helper()
	var st struct {
		Pid    int            `json:"pid"`
		Config map[string]any `json:"config"`
	}
	b, err := os.ReadFile(p.backing(".paracfs/daemon.json"))
	if err != nil {
		t.Fatalf("reading .paracfs/daemon.json: %v", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatalf(".paracfs/daemon.json: %v: %q", err, b)
	}
	if st.Pid > 0 {
		p.addPid(st.Pid)
	}
	return st.Config
}

// waitUnmounted waits up to d for mp to leave the mount table.
func waitUnmounted(mp string, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !isMounted(mp) {
			return true
		}
	}
	return !isMounted(mp)
}

// notifySocket is a service manager's end of sd_notify: a unixgram socket
// whose name goes into NOTIFY_SOCKET.
type notifySocket struct {
	Addr string // NOTIFY_SOCKET's value
	conn *net.UnixConn
	msgs chan string
}

// listenNotify listens on a socket path, or on an abstract name given as
// "@name", and collects the datagrams it receives.
func listenNotify(t *testing.T, addr string) *notifySocket {
	t.Helper()
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listening on %s: %v", addr, err)
	}
	s := &notifySocket{Addr: addr, conn: conn, msgs: make(chan string, 16)}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, _, err := conn.ReadFromUnix(buf)
			if err != nil {
				close(s.msgs)
				return
			}
			s.msgs <- string(buf[:n])
		}
	}()
	t.Cleanup(func() {
		conn.Close()
		if !strings.HasPrefix(addr, "@") {
			os.Remove(addr)
		}
	})
	return s
}

// expect waits up to d for a datagram with the line want, and returns the
// datagram.
func (s *notifySocket) expect(t *testing.T, want string, d time.Duration) string {
	t.Helper()
	timeout := time.After(d)
	var seen []string
	for {
		select {
		case m, ok := <-s.msgs:
			if !ok {
				t.Fatalf("NOTIFY_SOCKET closed before %q came (got %q)", want, seen)
			}
			seen = append(seen, m)
			for _, line := range strings.Split(m, "\n") {
				if line == want {
					return m
				}
			}
		case <-timeout:
			t.Fatalf("no %q on NOTIFY_SOCKET within %s (got %q)", want, d, seen)
		}
	}
}

// notifyField returns the value of KEY= in a datagram.
func notifyField(msg, key string) string {
	for _, line := range strings.Split(msg, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	return ""
}

// randomName is a short random name for sockets and files.
func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// started is a process started in the background with its output kept;
// its cleanup kills it if it is still running.
type started struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

func startCmd(t *testing.T, cmd *exec.Cmd) *started {
	t.Helper()
	s := &started{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = s.out, s.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", strings.Join(cmd.Args, " "), err)
	}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	t.Cleanup(func() {
		select {
		case <-s.done:
		case <-time.After(10 * time.Second):
			t.Logf("cleanup: %s still running: killing it", strings.Join(cmd.Args, " "))
			cmd.Process.Kill()
			<-s.done
		}
	})
	return s
}

// wait waits up to d and returns the exit code (-1: killed by a signal),
// or fails the test.
func (s *started) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(d):
		t.Fatalf("%s still running after %s\n%s", strings.Join(s.cmd.Args, " "), d, s.out.String())
	}
	if s.err == nil {
		return 0
	}
	var ee *exec.ExitError
	if errors.As(s.err, &ee) {
		return ee.ExitCode()
	}
	t.Fatalf("%s: %v", strings.Join(s.cmd.Args, " "), s.err)
	return -1
}

// unitSettings reads the Key=Value lines of a systemd unit file, by
// section ("Service.ExecStart").
func unitSettings(t *testing.T, path string) map[string]string {
	t.Helper()
	b := readFile(t, path)
	out := map[string]string{}
	section := ""
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = line[1 : len(line)-1]
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				t.Errorf("%s: not Key=Value: %q", path, line)
				continue
			}
			out[section+"."+strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// unitCommand turns an Exec*= value into a command line for the instance
// whose path is instPath: %f is the path, the binary is the one under
// test, and a leading '-' (ignore failure) is dropped.
func unitCommand(t *testing.T, value, instPath string) []string {
	t.Helper()
	value = strings.TrimPrefix(value, "-")
	if strings.ContainsAny(value, `"'\;$`) {
		t.Fatalf("unit command %q: quoting and variables are beyond this test's simple reading", value)
	}
	argv := strings.Fields(strings.ReplaceAll(value, "%f", instPath))
	if len(argv) == 0 || filepath.Base(argv[0]) != "paracfs" || !filepath.IsAbs(argv[0]) {
		t.Fatalf("unit command %q: want an absolute path to paracfs first", value)
	}
	argv[0] = paracfsBin
	return argv
}

// systemdEscapePath is `systemd-escape --path`: / becomes -, and bytes
// other than [A-Za-z0-9:_.] (and a leading '.') become \xNN.
func systemdEscapePath(p string) string {
	p = strings.Trim(filepath.Clean(p), "/")
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '/':
			b.WriteByte('-')
		case c == '.' && i == 0:
			fmt.Fprintf(&b, `\x%02x`, c)
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == ':', c == '_', c == '.':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}
