package tests

// One .parac shared by several machines through etcd (docs/etcd.md). The
// tests start their own 3-member etcd cluster on 127.0.0.1; the
// "machines" are separate daemons on separate copies of DIR, each with
// its own --store-name.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdWait bounds every wait for the cluster or for mounts to converge: a
// deadlock guard, not a performance bound.
const etcdWait = 3 * time.Minute

// etcdMember is one etcd process of a test cluster.
type etcdMember struct {
	name             string
	dataDir, logPath string
	client, peer     int
	args             []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// etcdCluster is a 3-member etcd cluster on 127.0.0.1 ports, with data in
// a temp dir, stopped when the test ends (even when it fails).
type etcdCluster struct {
	members []*etcdMember
}

// needEtcd skips the test when no etcd server is installed.
func needEtcd(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		skipUnlessCI(t, "no etcd binary on PATH: install Debian's etcd-server (scripts/setup does) to run the etcd store tests")
	}
	return bin
}

// freePorts returns n ports free on 127.0.0.1 right now.
func etcdFreePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var out []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return out
}

func startEtcdCluster(t *testing.T) *etcdCluster {
	t.Helper()
	return startEtcdClusterOn(t)
}

// startEtcdClusterOn is startEtcdCluster with the members also serving
// clients on each of extra (IP addresses of this host).
func startEtcdClusterOn(t *testing.T, extra ...string) *etcdCluster {
	t.Helper()
	bin := needEtcd(t)
	dir := t.TempDir()
	ports := etcdFreePorts(t, 6)
	c := &etcdCluster{}
	var initial []string
	for i := 0; i < 3; i++ {
		m := &etcdMember{name: fmt.Sprintf("m%d", i), dataDir: filepath.Join(dir, fmt.Sprintf("m%d.data", i)),
			logPath: filepath.Join(dir, fmt.Sprintf("m%d.log", i)), client: ports[2*i], peer: ports[2*i+1]}
		initial = append(initial, fmt.Sprintf("%s=http://127.0.0.1:%d", m.name, m.peer))
		c.members = append(c.members, m)
	}
	for _, m := range c.members {
		listen := []string{fmt.Sprintf("http://127.0.0.1:%d", m.client)}
		for _, h := range extra {
			listen = append(listen, fmt.Sprintf("http://%s:%d", h, m.client))
		}
		m.args = []string{bin, "--name", m.name, "--data-dir", m.dataDir,
			"--listen-client-urls", strings.Join(listen, ","),
			"--advertise-client-urls", fmt.Sprintf("http://127.0.0.1:%d", m.client),
			"--listen-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", m.peer),
			"--initial-advertise-peer-urls", fmt.Sprintf("http://127.0.0.1:%d", m.peer),
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "paracfs-test"}
	}
	t.Cleanup(func() {
		c.stop()
		if t.Failed() {
			for _, m := range c.members {
				b, _ := os.ReadFile(m.logPath)
				if len(b) > 4000 {
					b = b[len(b)-4000:]
				}
				t.Logf("etcd %s log (tail):\n%s", m.name, b)
			}
		}
	})
	c.start(t)
	return c
}

// start starts every member and waits until the cluster is healthy.
func (c *etcdCluster) start(t *testing.T) {
	t.Helper()
	for _, m := range c.members {
		logf, err := os.OpenFile(m.logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(m.args[0], m.args[1:]...)
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			logf.Close()
			t.Fatalf("starting etcd %s: %v", m.name, err)
		}
		logf.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		m.mu.Lock()
		m.cmd, m.done = cmd, done
		m.mu.Unlock()
	}
	deadline := time.Now().Add(etcdWait)
	for _, m := range c.members {
		for !m.healthy() {
			if time.Now().After(deadline) {
				t.Fatalf("etcd member %s not healthy after %s (see its log)", m.name, etcdWait)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// healthy asks the member's /health endpoint.
func (m *etcdMember) healthy() bool {
	cl := http.Client{Timeout: 2 * time.Second}
	resp, err := cl.Get(fmt.Sprintf("http://127.0.0.1:%d/health", m.client))
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var h struct {
		Health string `json:"health"`
	}
	return json.NewDecoder(resp.Body).Decode(&h) == nil && h.Health == "true"
}

// stop stops every member (SIGTERM, then SIGKILL) and waits for them.
func (c *etcdCluster) stop() {
	for _, m := range c.members {
		m.mu.Lock()
		if m.cmd != nil {
			m.cmd.Process.Signal(syscall.SIGTERM)
		}
		m.mu.Unlock()
	}
	for _, m := range c.members {
		m.mu.Lock()
		cmd, done := m.cmd, m.done
		m.cmd = nil
		m.mu.Unlock()
		if cmd == nil {
			continue
		}
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	}
}

// url is the --store value of the cluster for prefix.
func (c *etcdCluster) url(prefix string) string { return c.urlOn("127.0.0.1", prefix) }

// urlOn is url with the members reached at host.
func (c *etcdCluster) urlOn(host, prefix string) string {
	var hs []string
	for _, m := range c.members {
		hs = append(hs, fmt.Sprintf("%s:%d", host, m.client))
	}
	return "etcd://" + strings.Join(hs, ",") + "/" + prefix
}

// machines mounts n copies of the fixture, each its own daemon on its own
// DIR, sharing prefix.
func etcdMachines(t *testing.T, c *etcdCluster, prefix string, n int, flags ...string) []*project {
	t.Helper()
	var ps []*project
	for i := 0; i < n; i++ {
		p := newProject(t)
		args := append([]string{"--store", c.url(prefix), "--store-name", fmt.Sprintf("machine%d", i)}, flags...)
		mount(t, p, args...)
		ps = append(ps, p)
	}
	return ps
}

// etcdWaitUntil polls cond until it holds, failing the test after etcdWait.
func etcdWaitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(etcdWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %s: %s", etcdWait, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitContent waits until rel reads want on every machine.
func etcdWaitContent(t *testing.T, ps []*project, rel string, want []byte) {
	t.Helper()
	for i, p := range ps {
		etcdWaitUntil(t, fmt.Sprintf("machine%d to show %s as %q", i, rel, short(string(want))), func() bool {
			b, err := os.ReadFile(p.path(rel))
			return err == nil && bytes.Equal(b, want)
		})
	}
}

// managedTree reads every file under dir (through the mount), without
// .paracfs and the change log.
func etcdTree(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if rel == ".paracfs" || rel == logRel {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.Type().IsRegular() && !strings.HasSuffix(rel, ".lock") {
			out[rel] = string(readFile(t, path))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// etcdCommits is the sequence of commits of rel (every file: "") in a
// change log, as "path revision sha256 machine" strings.
func etcdCommits(t *testing.T, p *project, rel string) []string {
	t.Helper()
	var out []string
	es := logLines(t, p.Dir)
	if rel != "" {
		es = forPath(es, rel)
	}
	for _, e := range es {
		switch e.Op {
		case "create", "commit":
			var machine string
			json.Unmarshal(e.Fields["machine"], &machine)
			out = append(out, fmt.Sprintf("%s %s %s %s", e.Path, ptrStr(e.Revision), e.SHA256, machine))
		}
	}
	return out
}

// etcdWaitLogs waits until every machine's log holds the same commits of
// rel ("" for every file). Logs only grow, and each commit is logged by
// the machine that made it before its writer returns: once the writers
// are done, equal logs are complete.
func etcdWaitLogs(t *testing.T, ps []*project, rel string) {
	t.Helper()
	deadline := time.Now().Add(etcdWait)
	for {
		first := etcdCommits(t, ps[0], rel)
		diff := ""
		for i, p := range ps[1:] {
			if d := firstDiff(first, etcdCommits(t, p, rel)); d != "" {
				diff = fmt.Sprintf("machine0 and machine%d: %s", i+1, d)
				break
			}
		}
		if diff == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still waiting after %s for every machine's log to hold the same commits of %q; %s", etcdWait, rel, diff)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// firstDiff describes where two lists of log commits first differ ("" if
// they do not).
func firstDiff(a, b []string) string {
	for k := range min(len(a), len(b)) {
		if a[k] != b[k] {
			return fmt.Sprintf("commit %d of %d/%d: %q vs %q", k, len(a), len(b), a[k], b[k])
		}
	}
	if len(a) != len(b) {
		return fmt.Sprintf("%d vs %d commits", len(a), len(b))
	}
	return ""
}

// etcdCounterScript increments the integer in each of the files named
// after N, N times each, in turns: each a read-modify-write by open/read
// then open("w")/write/close, retrying on EBUSY (a conflict: another writer
// committed since the read). It prints the conflicts it retried.
const etcdCounterScript = `
import errno, sys
n, paths = int(sys.argv[1]), sys.argv[2:]
conflicts = 0
for _ in range(n):
    for path in paths:
        while True:
            with open(path) as f:
                v = int(f.read().strip() or "0")
            try:
                with open(path, "w") as f:
                    f.write("%d\n" % (v + 1))
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                conflicts += 1
                continue
            break
print(conflicts)
`

// TestEtcdNoLostUpdate: 3 machines x 8 writers, each N read-modify-write
// increments of each of the same two counters: exactly 3*8*N in each at
// the end, every DIR the same bytes, every change log the same commits
// (of every file) in the same order.
func TestEtcdNoLostUpdate(t *testing.T) {
	c := startEtcdCluster(t)
	ps := etcdMachines(t, c, "counter", 3)
	rels := []string{"notes/counter.md", "notes/other.md"}
	const writers, n = 8, 5
	os.MkdirAll(ps[0].path("notes"), 0o755)
	for _, rel := range rels {
		if err := os.WriteFile(ps[0].path(rel), []byte("0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		etcdWaitContent(t, ps, rel, []byte("0\n"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan string, len(ps)*writers)
	conflicts := make(chan int, len(ps)*writers)
	for _, p := range ps {
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(p *project, w int) {
				defer wg.Done()
				args := []string{"-c", etcdCounterScript, strconv.Itoa(n)}
				for k := range rels { // half the writers start with the other counter
					args = append(args, p.path(rels[(k+w)%len(rels)]))
				}
				out, err := exec.CommandContext(ctx, "python3", args...).CombinedOutput()
				if err != nil {
					errs <- fmt.Sprintf("writer on %s: %v: %s", p.Dir, err, out)
					return
				}
				k, _ := strconv.Atoi(strings.TrimSpace(string(out)))
				conflicts <- k
			}(p, w)
		}
	}
	wg.Wait()
	close(errs)
	close(conflicts)
	for e := range errs {
		t.Error(e)
	}
	if t.Failed() {
		t.FailNow()
	}
	total := 0
	for k := range conflicts {
		total += k
	}
	want := len(ps) * writers * n
	t.Logf("%d increments of each of %d counters committed, %d conflicts refused and retried", want, len(rels), total)
	for _, rel := range rels {
		etcdWaitContent(t, ps, rel, []byte(strconv.Itoa(want)+"\n"))
	}

	base := etcdTree(t, ps[0].Dir)
	for i, p := range ps[1:] {
		other := etcdTree(t, p.Dir)
		for f, b := range base {
			if other[f] != b {
				t.Errorf("machine%d: %s differs from machine0's: %q vs %q", i+1, f, short(other[f]), short(b))
			}
		}
		if len(other) != len(base) {
			t.Errorf("machine%d has %d files, machine0 %d", i+1, len(other), len(base))
		}
	}
	etcdWaitLogs(t, ps, "")
	all0 := etcdCommits(t, ps[0], "")
	for _, rel := range rels {
		if got := len(etcdCommits(t, ps[0], rel)); got != want+1 {
			t.Errorf("machine0's log has %d commits of %s, want %d (a create and %d increments)", got, rel, want+1, want)
		}
	}
	for i, p := range ps[1:] {
		got := etcdCommits(t, p, "")
		if strings.Join(got, "\n") != strings.Join(all0, "\n") {
			t.Errorf("machine%d's log holds other commits than machine0's, or in another order:\n%d lines vs %d\nfirst: %q vs %q",
				i+1, len(got), len(all0), got[:min(3, len(got))], all0[:min(3, len(all0))])
		}
	}
	for i, p := range ps {
		for _, rel := range rels {
			if r := rev(t, p.path(rel)); r != int64(want) {
				t.Errorf("machine%d: %s is at revision %d, want %d", i, rel, r, want)
			}
		}
	}
}

// etcdStaleScript reads a file, says so, waits for a line on stdin, then
// writes its read-modify-write and prints the errno of the close (0).
const etcdStaleScript = `
import sys
path = sys.argv[1]
with open(path) as f:
    v = f.read()
print("read", flush=True)
sys.stdin.readline()
try:
    with open(path, "w") as f:
        f.write(v + "b\n")
    print(0)
except OSError as e:
    print(e.errno)
`

// TestEtcdStaleWriteAcrossMachines: a process on machine1 reads a file,
// machine0 commits it, and the process's write derived from what it read
// is refused with EBUSY, its bytes kept; machine0's commit stands
// everywhere.
func TestEtcdStaleWriteAcrossMachines(t *testing.T) {
	c := startEtcdCluster(t)
	ps := etcdMachines(t, c, "stale", 2)
	const rel = "notes/shared.md"
	os.MkdirAll(ps[0].path("notes"), 0o755)
	os.WriteFile(ps[0].path(rel), []byte("start\n"), 0o644)
	etcdWaitContent(t, ps, rel, []byte("start\n"))

	cmd := exec.Command("python3", "-c", etcdStaleScript, ps[1].path(rel))
	stdin, _ := cmd.StdinPipe()
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	etcdWaitUntil(t, "the reader on machine1 to have read", func() bool { return strings.Contains(out.String(), "read") })

	if err := os.WriteFile(ps[0].path(rel), []byte("start\na\n"), 0o644); err != nil {
		t.Fatalf("machine0's commit: %v", err)
	}
	etcdWaitContent(t, ps, rel, []byte("start\na\n"))
	stdin.Write([]byte("go\n"))
	stdin.Close()
	cmd.Wait()
	if got := strings.TrimSpace(strings.TrimPrefix(out.String(), "read\n")); got != strconv.Itoa(int(syscall.EBUSY)) {
		t.Fatalf("machine1's stale write: got %q, want errno %d (EBUSY)", got, syscall.EBUSY)
	}
	etcdWaitContent(t, ps, rel, []byte("start\na\n"))
	es := forPath(logLines(t, ps[1].Dir), rel)
	last := es[len(es)-1]
	if last.Op != "conflict" || last.Errno != "EBUSY" || last.Kept == "" {
		t.Fatalf("machine1's last log line of %s: %s, want a conflict with EBUSY and kept bytes", rel, last)
	}
	if b := readFile(t, ps[1].path(last.Kept)); string(b) != "start\nb\n" {
		t.Errorf("kept bytes %q, want the refused write", b)
	}
}

// TestEtcdOutage: with every etcd member stopped, a commit fails with EIO
// within --lock-timeout, naming the reason, its bytes kept, and reads go
// on; nothing changes locally. Once the members are back, commits go
// through again and every machine catches up by itself.
func TestEtcdOutage(t *testing.T) {
	c := startEtcdCluster(t)
	ps := etcdMachines(t, c, "outage", 3, "--lock-timeout", "3s")
	const rel = "notes/outage.md"
	os.MkdirAll(ps[0].path("notes"), 0o755)
	os.WriteFile(ps[0].path(rel), []byte("before\n"), 0o644)
	etcdWaitContent(t, ps, rel, []byte("before\n"))

	c.stop()
	err := os.WriteFile(ps[1].path(rel), []byte("during\n"), 0o644)
	if errnoOf(err) != syscall.EIO {
		t.Fatalf("a commit with etcd down: %v, want EIO", err)
	}
	for i, p := range ps {
		if b := readFile(t, p.path(rel)); string(b) != "before\n" {
			t.Errorf("machine%d reads %q with etcd down, want the last committed %q", i, b, "before\n")
		}
		if b := readFile(t, p.backing(rel)); string(b) != "before\n" {
			t.Errorf("machine%d's DIR has %q, want it untouched", i, b)
		}
	}
	es := forPath(logLines(t, ps[1].Dir), rel)
	last := es[len(es)-1]
	if last.Op != "store_unavailable" || last.Errno != "EIO" || !strings.Contains(last.Reason, "etcd") || last.Kept == "" {
		t.Fatalf("log line of the refused commit: %s\nwant op store_unavailable, errno EIO, a reason naming etcd, kept bytes", last)
	}
	if b := readFile(t, ps[1].path(last.Kept)); string(b) != "during\n" {
		t.Errorf("kept bytes %q, want %q", b, "during\n")
	}

	if st := etcdStoreState(t, ps[1]); !strings.HasPrefix(st, "degraded: ") || !strings.Contains(st, "EIO") {
		t.Errorf("paracfs status with etcd down: store_state %q, want degraded, saying commits fail with EIO", st)
	}

	c.start(t)
	etcdWaitUntil(t, "a commit on machine2 once etcd is back", func() bool {
		return os.WriteFile(ps[2].path(rel), []byte("after\n"), 0o644) == nil
	})
	etcdWaitContent(t, ps, rel, []byte("after\n"))
	if st := etcdStoreState(t, ps[1]); st != "ok" {
		t.Errorf("paracfs status with etcd back: store_state %q, want ok", st)
	}
}

// etcdStoreState is the store_state paracfs status --json shows for p's
// mount.
func etcdStoreState(t *testing.T, p *project) string {
	t.Helper()
	r := paracfs(t, p.Root, "status", "--json", "--wait", ownStatusWait, p.Dir)
	var out struct {
		Mounts []struct {
			Dir    string         `json:"dir"`
			Config map[string]any `json:"config"`
		} `json:"mounts"`
	}
	if err := json.Unmarshal([]byte(r.Stdout), &out); err != nil {
		t.Fatalf("paracfs status --json: %v\n%s", err, r)
	}
	for _, m := range out.Mounts {
		if m.Dir == p.Dir {
			s, _ := m.Config["store_state"].(string)
			return s
		}
	}
	t.Fatalf("paracfs status --json has no row for %s:\n%s", p.Dir, r.Stdout)
	return ""
}

// TestEtcdTooLarge: a file over etcd's request limit is refused with
// EFBIG, the reason naming the limit.
func TestEtcdTooLarge(t *testing.T) {
	c := startEtcdCluster(t)
	ps := etcdMachines(t, c, "large", 1)
	big := bytes.Repeat([]byte("0123456789abcdef\n"), 100000) // 1.7 MB
	err := os.WriteFile(ps[0].path("notes.md"), big, 0o644)
	if errnoOf(err) != syscall.EFBIG {
		t.Fatalf("writing %d bytes: %v, want EFBIG", len(big), err)
	}
	es := forPath(logLines(t, ps[0].Dir), "notes.md")
	if len(es) == 0 || es[len(es)-1].Op != "too_large" || !strings.Contains(es[len(es)-1].Reason, "max-request-bytes") {
		t.Fatalf("log: %v, want a too_large line naming etcd's --max-request-bytes", es)
	}
}

// TestEtcdStoreFlags: bad --store values and flags without --store fail
// at once with one clear line; nothing is mounted.
func TestEtcdStoreFlags(t *testing.T) {
	p := newProject(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--store", "http://127.0.0.1:2379/x"}, "etcd://HOST:PORT"},
		{[]string{"--store", "etcd://127.0.0.1:2379"}, "PREFIX is needed"},
		{[]string{"--store", "etcd://127.0.0.1:notaport/x"}, "not a port number"},
		{[]string{"--store", "etcd://127.0.0.1:2379/x", "--etcd-cert", "/etc/hostname"}, "--etcd-cert and --etcd-key go together"},
		{[]string{"--store", "etcd://127.0.0.1:2379/x", "--etcd-user", "me", "--etcd-password-file", "/nonexistent"}, "--etcd-password-file /nonexistent"},
		{[]string{"--etcd-ca", "/etc/hostname"}, "--etcd-ca needs --store"},
	} {
		r := paracfs(t, p.Root, append(append([]string{"mount"}, tc.args...), p.Dir)...)
		if r.Code == 0 || !strings.Contains(r.Stderr, tc.want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
			t.Errorf("mount %v: %s\nwant a non-zero exit and one line saying %q", tc.args, r, tc.want)
		}
		if isMounted(p.Dir) {
			t.Fatalf("mount %v mounted", tc.args)
		}
	}
	// The mount helper's store= keeps the commas between members.
	helper := filepath.Join(t.TempDir(), "mount.fuse.paracfs")
	if err := os.Symlink(paracfsBin, helper); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		opts string
		code int
		says string
	}{
		{"rw,store=etcd://127.0.0.1:2379,127.0.0.1:2380,127.0.0.1:2381/team/p,store_name=a,lock_timeout=5s", 0, ""},
		{"store=etcd://127.0.0.1:2379,127.0.0.1:2380/", 1, "PREFIX is needed"},
		{"etcd_ca=/nonexistent", 1, "--etcd-ca /nonexistent"},
	} {
		r := run(t, p.Root, helper, p.Dir, p.Dir, "-f", "-o", tc.opts)
		if r.Code != tc.code || !strings.Contains(r.Stderr, tc.says) {
			t.Errorf("mount.fuse.paracfs -f -o %s: %s\nwant exit %d and %q said", tc.opts, r, tc.code, tc.says)
		}
	}
}

// TestEtcdConfigKey: store: in DIR's paracfs.yaml mounts DIR on the store
// as --store does; a flag takes precedence over it; a bad one fails the
// mount with one line naming the line and key; a change of it in a
// running mount is committed and shared, logged as applying at the next
// mount, and the mount stays on its store.
func TestEtcdConfigKey(t *testing.T) {
	c := startEtcdCluster(t)
	bad := newProject(t)
	if err := os.WriteFile(filepath.Join(bad.Dir, "paracfs.yaml"), []byte("store: etcd://127.0.0.1:2379\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := paracfs(t, bad.Root, "mount", bad.Dir)
	if r.Code == 0 || !strings.Contains(r.Stderr, "paracfs.yaml line 1: key store:") || !strings.Contains(r.Stderr, "PREFIX is needed") ||
		strings.Count(strings.TrimSpace(r.Stderr), "\n") > 0 {
		t.Errorf("mount with a store: without a prefix: %s\nwant a non-zero exit and one line naming the key", r)
	}
	os.WriteFile(filepath.Join(bad.Dir, "paracfs.yaml"), []byte("store: "+c.url("cfg")+"\netcd_user: me\n"), 0o644)
	r = paracfs(t, bad.Root, "mount", bad.Dir)
	if r.Code == 0 || !strings.Contains(r.Stderr, "paracfs.yaml line 2: etcd_user and etcd_password_file go together") {
		t.Errorf("mount with etcd_user alone: %s\nwant a non-zero exit and the reason", r)
	}
	if isMounted(bad.Dir) {
		t.Fatal("a bad store: mounted")
	}

	a, b := newProject(t), newProject(t)
	conf := []byte("store: " + c.url("cfg") + "\n")
	if err := os.WriteFile(filepath.Join(a.Dir, "paracfs.yaml"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	mount(t, a, "--store-name", "machine0")
	mount(t, b, "--store", c.url("cfg"), "--store-name", "machine1")
	ps := []*project{a, b}
	etcdWaitContent(t, ps, "paracfs.yaml", conf)
	if err := os.WriteFile(a.path("project.yaml"), []byte("name: from-a\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	etcdWaitContent(t, ps, "project.yaml", []byte("name: from-a\n"))

	moved := []byte("store: " + c.url("elsewhere") + "\n")
	if err := os.WriteFile(b.path("paracfs.yaml"), moved, 0o644); err != nil {
		t.Fatal(err)
	}
	etcdWaitContent(t, ps, "paracfs.yaml", moved)
	etcdWaitUntil(t, "machine0 to log that the new store applies at the next mount", func() bool {
		for _, e := range forPath(logLines(t, a.Dir), "paracfs.yaml") {
			if e.Op == "config" && strings.Contains(e.Description, "applies at the next mount") &&
				strings.Contains(e.Description, "/elsewhere") {
				return true
			}
		}
		return false
	})
	if err := os.WriteFile(a.path("project.yaml"), []byte("name: still-shared\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	etcdWaitContent(t, ps, "project.yaml", []byte("name: still-shared\n"))
}

// etcdRetryScript is etcdCounterScript for a run where etcd members fail:
// EIO (the store did not answer) is retried too, and counted, since such a
// commit may or may not have been applied by etcd. It prints
// "conflicts eios".
const etcdRetryScript = `
import errno, sys
path, n = sys.argv[1], int(sys.argv[2])
done = conflicts = eios = 0
while done < n:
    with open(path) as f:
        v = int(f.read().strip() or "0")
    try:
        with open(path, "w") as f:
            f.write("%d\n" % (v + 1))
    except OSError as e:
        if e.errno == errno.EBUSY:
            conflicts += 1
            continue
        if e.errno == errno.EIO:
            eios += 1
            continue
        raise
    done += 1
print(conflicts, eios)
`

// TestEtcdMemberKilled: kill -9 of one etcd member in the middle of a run
// of read-modify-write increments: every acknowledged increment is there,
// the writers go on, and the machines end the same.
func TestEtcdMemberKilled(t *testing.T) {
	c := startEtcdCluster(t)
	ps := etcdMachines(t, c, "killed", 3)
	const rel = "notes/counter.md"
	const writers, n = 2, 20
	os.MkdirAll(ps[0].path("notes"), 0o755)
	os.WriteFile(ps[0].path(rel), []byte("0\n"), 0o644)
	etcdWaitContent(t, ps, rel, []byte("0\n"))

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	var mu sync.Mutex
	eios := 0
	for _, p := range ps {
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func(p *project) {
				defer wg.Done()
				out, err := exec.CommandContext(ctx, "python3", "-c", etcdRetryScript, p.path(rel), strconv.Itoa(n)).CombinedOutput()
				if err != nil {
					t.Errorf("writer on %s: %v: %s", p.Dir, err, out)
					return
				}
				f := strings.Fields(string(out))
				k, _ := strconv.Atoi(f[len(f)-1])
				mu.Lock()
				eios += k
				mu.Unlock()
			}(p)
		}
	}
	// Kill a member once a third of the increments are in.
	etcdWaitUntil(t, "a third of the increments", func() bool {
		b, err := os.ReadFile(ps[0].path(rel))
		v, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return err == nil && v >= len(ps)*writers*n/3
	})
	m := c.members[0]
	m.mu.Lock()
	m.cmd.Process.Kill()
	m.mu.Unlock()
	<-m.done
	t.Logf("killed etcd member %s", m.name)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	acked := len(ps) * writers * n
	var final int
	etcdWaitUntil(t, "every machine to show the same counter", func() bool {
		var vals []string
		for _, p := range ps {
			b, err := os.ReadFile(p.path(rel))
			if err != nil {
				return false
			}
			vals = append(vals, string(b))
		}
		final, _ = strconv.Atoi(strings.TrimSpace(vals[0]))
		return vals[0] == vals[1] && vals[1] == vals[2]
	})
	// A commit refused with EIO because etcd's answer was lost may still
	// have been applied: it then counts, and its writer redid it.
	t.Logf("%d increments acknowledged, %d refused with EIO and retried; counter %d", acked, eios, final)
	if final < acked || final > acked+eios {
		t.Fatalf("counter is %d, want %d acknowledged increments (plus at most %d answered EIO)", final, acked, eios)
	}
	etcdWaitLogs(t, ps, rel)
	want0 := etcdCommits(t, ps[0], rel)
	if len(want0) != final+1 {
		t.Errorf("machine0's log has %d commits of %s, want %d (a create and one per increment)", len(want0), rel, final+1)
	}
	for i, p := range ps[1:] {
		if got := etcdCommits(t, p, rel); strings.Join(got, "\n") != strings.Join(want0, "\n") {
			t.Errorf("machine%d's log differs from machine0's: %d commits vs %d", i+1, len(got), len(want0))
		}
	}
}

// TestEtcdDaemonKilled: kill -9 of a machine's daemon; the others go on
// committing; mounted again, it catches up, and what it acknowledged
// before is kept.
func TestEtcdDaemonKilled(t *testing.T) {
	c := startEtcdCluster(t)
	ps := etcdMachines(t, c, "daemon", 2)
	const rel = "notes/shared.md"
	os.MkdirAll(ps[1].path("notes"), 0o755)
	if err := os.WriteFile(ps[1].path(rel), []byte("from machine1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	etcdWaitContent(t, ps, rel, []byte("from machine1\n"))
	pid := ps[1].daemonPid(t)
	syscall.Kill(pid, syscall.SIGKILL)
	if !waitGone(pid, etcdWait) {
		t.Fatalf("daemon %d still alive after SIGKILL", pid)
	}
	want := []byte("from machine1\nfrom machine0\n")
	if err := os.WriteFile(ps[0].path(rel), want, 0o644); err != nil {
		t.Fatal(err)
	}
	if b := readFile(t, ps[1].backing(rel)); string(b) != "from machine1\n" {
		t.Fatalf("machine1's DIR changed while its daemon was dead: %q", b)
	}
	mount(t, ps[1], "--store", c.url("daemon"), "--store-name", "machine1")
	// Brought up to the store before the mount answers.
	if b := readFile(t, ps[1].path(rel)); !bytes.Equal(b, want) {
		t.Fatalf("machine1 after its remount reads %q, want %q", b, want)
	}
	if got, want := etcdCommits(t, ps[1], rel), etcdCommits(t, ps[0], rel); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("machine1's log: %q\nmachine0's: %q", got, want)
	}
	if r := rev(t, ps[1].path(rel)); r != rev(t, ps[0].path(rel)) {
		t.Errorf("machine1 at revision %d, machine0 at %d", r, rev(t, ps[0].path(rel)))
	}
}

// TestEtcdDelete: a managed file removed on one machine is removed on the
// others, logged there as that machine's delete; re-created anywhere, it
// continues its revisions.
func TestEtcdDelete(t *testing.T) {
	c := startEtcdCluster(t)
	ps := etcdMachines(t, c, "delete", 2)
	const rel = "notes/gone.md"
	os.MkdirAll(ps[0].path("notes"), 0o755)
	os.WriteFile(ps[0].path(rel), []byte("one\n"), 0o644)
	os.WriteFile(ps[0].path(rel), []byte("two\n"), 0o644)
	etcdWaitContent(t, ps, rel, []byte("two\n"))
	r0 := rev(t, ps[1].path(rel))

	mustRun(t, ps[0].Root, "rm", ps[0].path(rel))
	etcdWaitUntil(t, "machine1 to log machine0's delete of "+rel, func() bool {
		es := forPath(logLines(t, ps[1].Dir), rel)
		last := es[len(es)-1]
		return last.Op == "delete" && strings.Contains(last.Raw, `"machine":"machine0"`)
	})
	if _, err := os.Stat(ps[1].backing(rel)); !os.IsNotExist(err) {
		t.Errorf("machine1's DIR still has %s: %v", rel, err)
	}
	etcdWaitUntil(t, "machine1's mount to drop "+rel, func() bool {
		_, err := os.Stat(ps[1].path(rel))
		return os.IsNotExist(err)
	})

	if err := os.WriteFile(ps[1].path(rel), []byte("three\n"), 0o644); err != nil {
		t.Fatalf("re-creating %s on machine1: %v", rel, err)
	}
	etcdWaitContent(t, ps, rel, []byte("three\n"))
	for i, p := range ps {
		if r := rev(t, p.path(rel)); r != r0+1 {
			t.Errorf("machine%d: re-created %s at revision %d, want %d", i, rel, r, r0+1)
		}
	}

	// With etcd down, the removal is refused when it is carried out (a
	// removal waits a grace period for the remover to create the file
	// again, after rm returned): the file stays, and the log says why.
	c.stop()
	mustRun(t, ps[0].Root, "rm", ps[0].path(rel))
	etcdWaitUntil(t, "the refused removal to be logged", func() bool {
		es := forPath(logLines(t, ps[0].Dir), rel)
		return es[len(es)-1].Op == "store_unavailable"
	})
	if b := readFile(t, ps[0].path(rel)); string(b) != "three\n" {
		t.Errorf("after a refused removal, machine0 reads %q", b)
	}
	if b := readFile(t, ps[0].backing(rel)); string(b) != "three\n" {
		t.Errorf("after a refused removal, machine0's DIR has %q", b)
	}
}

// TestEtcdRename: mv between managed names on one machine moves the file
// on every machine: the new name with its bytes, and the old name gone
// from each DIR and each mount, logged on each as the renaming machine's.
func TestEtcdRename(t *testing.T) {
	c := startEtcdCluster(t)
	ps := etcdMachines(t, c, "rename", 3)
	const from, to = "notes/draft.md", "notes/final.md"
	for _, p := range ps {
		os.MkdirAll(p.path("notes"), 0o755) // directories are each machine's own
	}
	os.WriteFile(ps[0].path(from), []byte("text\n"), 0o644)
	etcdWaitContent(t, ps, from, []byte("text\n"))

	mustRun(t, ps[1].Root, "mv", ps[1].path(from), ps[1].path(to))
	etcdWaitContent(t, ps, to, []byte("text\n"))
	for i, p := range ps {
		etcdWaitUntil(t, fmt.Sprintf("machine%d's mount to drop %s", i, from), func() bool {
			_, err := os.Stat(p.path(from))
			return os.IsNotExist(err)
		})
		if _, err := os.Stat(p.backing(from)); !os.IsNotExist(err) {
			t.Errorf("machine%d's DIR still has %s: %v", i, from, err)
		}
		if i == 1 {
			continue // the renaming machine's own rename line names both
		}
		etcdWaitUntil(t, fmt.Sprintf("machine%d to log the old name's removal", i), func() bool {
			es := forPath(logLines(t, p.Dir), from)
			last := es[len(es)-1]
			return last.Op == "delete" && strings.Contains(last.Raw, `"machine":"machine1"`) &&
				strings.Contains(last.Description, "renamed to "+to)
		})
	}
	// The old name, created again on another machine, continues its count.
	if err := os.WriteFile(ps[2].path(from), []byte("again\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	etcdWaitContent(t, ps, from, []byte("again\n"))

	// A file of the fixture, which each machine had as an identical copy
	// before it joined (no commit through its mount): its removal is no
	// conflict anywhere, nothing of it is kept as refused bytes.
	const fixFrom, fixTo = "roadmap/roadmap.yaml", "roadmap/plan.yaml"
	want := readFile(t, ps[0].path(fixFrom))
	mustRun(t, ps[2].Root, "mv", ps[2].path(fixFrom), ps[2].path(fixTo))
	etcdWaitContent(t, ps, fixTo, want)
	for i, p := range ps {
		etcdWaitUntil(t, fmt.Sprintf("machine%d to remove %s", i, fixFrom), func() bool {
			_, err := os.Stat(p.path(fixFrom))
			return os.IsNotExist(err)
		})
		for _, e := range forPath(logLines(t, p.Dir), fixFrom) {
			if e.Op == "conflict" {
				t.Errorf("machine%d kept its copy of %s as a conflict: %s", i, fixFrom, e.Description)
			}
		}
	}
	base := etcdTree(t, ps[0].Dir)
	for i, p := range ps[1:] {
		if got := etcdTree(t, p.Dir); fmt.Sprint(got) != fmt.Sprint(base) {
			t.Errorf("machine%d's files differ from machine0's after the renames", i+1)
		}
	}
}

// TestEtcdChangedWhileUnmounted: a change made in DIR while it was not
// mounted is committed through the store at the next mount when it
// derives from the store's version; when another machine committed
// meanwhile, the store's version wins and the local bytes are kept as a
// conflict.
func TestEtcdChangedWhileUnmounted(t *testing.T) {
	c := startEtcdCluster(t)
	ps := etcdMachines(t, c, "offline", 2)
	url := c.url("offline")
	const rel, rel2 = "notes/a.md", "notes/b.md"
	os.MkdirAll(ps[0].path("notes"), 0o755)
	os.WriteFile(ps[0].path(rel), []byte("a0\n"), 0o644)
	os.WriteFile(ps[0].path(rel2), []byte("b0\n"), 0o644)
	etcdWaitContent(t, ps, rel, []byte("a0\n"))
	etcdWaitContent(t, ps, rel2, []byte("b0\n"))
	r0 := rev(t, ps[1].path(rel))

	unmountCmd(t, ps[1])
	os.WriteFile(ps[1].path(rel), []byte("a0\nedited offline\n"), 0o644)  // nobody else touches a.md
	os.WriteFile(ps[1].path(rel2), []byte("b0\nedited offline\n"), 0o644) // machine0 commits b.md meanwhile
	if err := os.WriteFile(ps[0].path(rel2), []byte("b1 from machine0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mount(t, ps[1], "--store", url, "--store-name", "machine1")

	etcdWaitContent(t, ps, rel, []byte("a0\nedited offline\n"))
	etcdWaitContent(t, ps, rel2, []byte("b1 from machine0\n"))
	for i, p := range ps {
		if r := rev(t, p.path(rel)); r != r0+1 {
			t.Errorf("machine%d: %s at revision %d, want %d", i, rel, r, r0+1)
		}
	}
	etcdWaitUntil(t, "machine0 to log machine1's external change of "+rel, func() bool {
		es := forPath(logLines(t, ps[0].Dir), rel)
		last := es[len(es)-1]
		return last.Op == "external" && strings.Contains(last.Raw, `"machine":"machine1"`)
	})
	var kept string
	for _, e := range forPath(logLines(t, ps[1].Dir), rel2) {
		if e.Op == "conflict" && e.Kept != "" {
			kept = e.Kept
		}
	}
	if kept == "" {
		t.Fatalf("machine1's log has no conflict keeping its offline edit of %s", rel2)
	}
	if b := readFile(t, ps[1].path(kept)); string(b) != "b0\nedited offline\n" {
		t.Errorf("kept %q, want the offline edit", b)
	}
}

// TestEtcdCompaction: a machine whose watch falls behind (its daemon
// stopped) while etcd compacts past its last revision resyncs with the
// whole store when it comes back, and logs that it did.
func TestEtcdCompaction(t *testing.T) {
	c := startEtcdCluster(t)
	ps := etcdMachines(t, c, "compact", 2)
	const rel = "notes/busy.md"
	os.MkdirAll(ps[0].path("notes"), 0o755)
	os.WriteFile(ps[0].path(rel), []byte("0\n"), 0o644)
	etcdWaitContent(t, ps, rel, []byte("0\n"))

	pid := ps[1].daemonPid(t)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			syscall.Kill(pid, syscall.SIGCONT)
		}
	}()
	// Enough versions that etcd cannot hand them all to the stopped
	// watcher, which it then serves from its history: compacted away.
	pad := strings.Repeat("x", 8000)
	var last []byte
	for i := 1; i <= 400; i++ {
		last = []byte(fmt.Sprintf("%d\n%s\n", i, pad))
		if err := os.WriteFile(ps[0].path(rel), last, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var eps []string
	for _, m := range c.members {
		eps = append(eps, fmt.Sprintf("127.0.0.1:%d", m.client))
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := cli.Get(ctx, "compact/")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, st.Header.Revision, clientv3.WithCompactPhysical()); err != nil {
		t.Fatalf("compacting etcd: %v", err)
	}
	syscall.Kill(pid, syscall.SIGCONT)
	stopped = false

	etcdWaitContent(t, ps, rel, last)
	etcdWaitUntil(t, "machine1 to log its resync", func() bool {
		for _, e := range logLines(t, ps[1].Dir) {
			if e.Op == "resync" {
				return true
			}
		}
		return false
	})
	if r0, r1 := rev(t, ps[0].path(rel)), rev(t, ps[1].path(rel)); r0 != r1 {
		t.Errorf("machine1 at revision %d, machine0 at %d", r1, r0)
	}
}

// TestEtcdPartition: a machine whose daemon runs in its own network
// namespace, reaching etcd through a veth link, is cut off (the link goes
// down): its commits fail with EIO and nothing is committed there on its
// own, while another machine goes on committing; once the link is back,
// it catches up by itself.
func TestEtcdPartition(t *testing.T) {
	needEtcd(t)
	needTool(t, "ip", "nsenter")
	id := os.Getpid() % 200
	ns, host, peer := fmt.Sprintf("pfsnet%d", os.Getpid()), fmt.Sprintf("pfsv%da", os.Getpid()%100000), fmt.Sprintf("pfsv%db", os.Getpid()%100000)
	hostIP, nsIP := fmt.Sprintf("10.199.%d.1", id), fmt.Sprintf("10.199.%d.2", id)
	ipCmd := func(args ...string) {
		t.Helper()
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Skipf("cannot make a network namespace here (ip netns add: %v: %s)", err, out)
	}
	t.Cleanup(func() {
		exec.Command("ip", "link", "del", host).Run()
		exec.Command("ip", "netns", "del", ns).Run()
	})
	ipCmd("link", "add", host, "type", "veth", "peer", "name", peer)
	ipCmd("link", "set", peer, "netns", ns)
	ipCmd("addr", "add", hostIP+"/24", "dev", host)
	ipCmd("link", "set", host, "up")
	ipCmd("netns", "exec", ns, "ip", "addr", "add", nsIP+"/24", "dev", peer)
	ipCmd("netns", "exec", ns, "ip", "link", "set", peer, "up")
	ipCmd("netns", "exec", ns, "ip", "link", "set", "lo", "up")

	c := startEtcdClusterOn(t, hostIP)
	b := etcdMachines(t, c, "partition", 1, "--lock-timeout", "3s")[0]
	a := newProject(t)
	t.Cleanup(func() { unmountAll(t, a.Root) })
	r := run(t, a.Root, "nsenter", "--net=/run/netns/"+ns, paracfsBin, "mount", "--store", c.urlOn(hostIP, "partition"),
		"--store-name", "cutoff", "--lock-timeout", "3s", a.Dir)
	if r.Code != 0 || !isMounted(a.Dir) {
		t.Fatalf("mounting inside the network namespace: %s\n%s", r, a.daemonLog())
	}
	if pid := a.daemonPid(t); pid > 0 {
		a.addPid(pid)
	}
	ps := []*project{a, b}
	const rel = "notes/p.md"
	os.MkdirAll(a.path("notes"), 0o755)
	if err := os.WriteFile(a.path(rel), []byte("one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	etcdWaitContent(t, ps, rel, []byte("one\n"))

	ipCmd("link", "set", host, "down")
	err := os.WriteFile(a.path(rel), []byte("cut off\n"), 0o644)
	if errnoOf(err) != syscall.EIO {
		t.Fatalf("a commit on the cut-off machine: %v, want EIO", err)
	}
	if err := os.WriteFile(b.path(rel), []byte("two\n"), 0o644); err != nil {
		t.Fatalf("a commit on the connected machine: %v", err)
	}
	if got := readFile(t, a.backing(rel)); string(got) != "one\n" {
		t.Fatalf("the cut-off machine's DIR has %q, want %q: nothing committed on its own", got, "one\n")
	}
	ipCmd("link", "set", host, "up")
	etcdWaitContent(t, ps, rel, []byte("two\n"))
	etcdWaitLogs(t, ps, rel)
	if got, want := etcdCommits(t, a, rel), etcdCommits(t, b, rel); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("the healed machine's log: %q\nthe other's: %q", got, want)
	}
}

// etcdStaleParacle loads a YAML state file, says so, waits for a line on
// stdin, then saves it as paracle does (flock on P.lock, revision bumped,
// P.tmp, os.replace) and prints the errno of the replace (0).
const etcdStaleParacle = `
import fcntl, os, sys, yaml
p = sys.argv[1]
with open(p) as f:
    doc = yaml.safe_load(f)
print("read", flush=True)
sys.stdin.readline()
fd = os.open(p + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
fcntl.flock(fd, fcntl.LOCK_EX)
doc["revision"] = doc.get("revision", 0) + 1
doc["note"] = "stale save"
with open(p + ".tmp", "w") as f:
    yaml.safe_dump(doc, f, sort_keys=False)
try:
    os.replace(p + ".tmp", p)
    print(0)
except OSError as e:
    print(e.errno)
fcntl.flock(fd, fcntl.LOCK_UN)
`

// TestEtcdToolsAcrossMachines: sed on one machine, a python
// read-modify-write on another, paracle's own save on a third, each from
// what the previous one committed; a paracle save derived from a version
// two commits old is refused with EBUSY; nothing is lost, and every
// machine ends with the same bytes.
func TestEtcdToolsAcrossMachines(t *testing.T) {
	needTool(t, "sed")
	c := startEtcdCluster(t)
	ps := etcdMachines(t, c, "tools", 3)
	state := func(i int) string { return ps[i].path(stateRel) }
	waitRev := func(want int64) {
		t.Helper()
		for i, p := range ps {
			etcdWaitUntil(t, fmt.Sprintf("machine%d at revision %d", i, want), func() bool {
				return rev(t, p.path(stateRel)) == want
			})
		}
	}
	stale := exec.Command("python3", "-c", etcdStaleParacle, state(2))
	stdin, _ := stale.StdinPipe()
	var out syncBuffer
	stale.Stdout, stale.Stderr = &out, &out
	if err := stale.Start(); err != nil {
		t.Fatal(err)
	}
	defer stale.Process.Kill()
	etcdWaitUntil(t, "the stale client to have read", func() bool { return strings.Contains(out.String(), "read") })

	mustRun(t, ps[0].Root, "sed", "-i", "s/progress: 40%/progress: 45%/", state(0))
	waitRev(12)
	mustRun(t, ps[1].Root, "python3", "-c", `
import sys, yaml
p = sys.argv[1]
doc = yaml.safe_load(open(p))
doc["project"]["status"] = "review"
open(p, "w").write(yaml.safe_dump(doc, sort_keys=False))
`, state(1))
	waitRev(13)
	mustRun(t, ps[2].Root, "python3", "-c", pyParacleSave, state(2))
	waitRev(14)

	stdin.Write([]byte("go\n"))
	stdin.Close()
	stale.Wait()
	if got := strings.TrimSpace(strings.TrimPrefix(out.String(), "read\n")); got != strconv.Itoa(int(syscall.EBUSY)) {
		t.Fatalf("the stale paracle save on machine2: %q, want errno %d (EBUSY)", got, syscall.EBUSY)
	}
	final := readFile(t, state(0))
	for _, want := range []string{"progress: 45%", "status: review", "revision: 14", "saves: 1"} {
		if !strings.Contains(string(final), want) {
			t.Errorf("final state lacks %q:\n%s", want, final)
		}
	}
	if strings.Contains(string(final), "stale save") {
		t.Errorf("the stale save landed:\n%s", final)
	}
	etcdWaitContent(t, ps, stateRel, final)

	// Every machine keeps every version in its history, whoever made it.
	for i, p := range ps {
		r := paracfs(t, p.Root, "history", "--json", p.path(stateRel))
		got := map[int64]string{}
		dec := json.NewDecoder(strings.NewReader(r.Stdout))
		for dec.More() {
			var v struct {
				Rev     int64  `json:"revision"`
				Command string `json:"command"`
			}
			if err := dec.Decode(&v); err != nil {
				t.Fatalf("machine%d: paracfs history --json: %v\n%s", i, err, r)
			}
			got[v.Rev] = v.Command
		}
		if got[12] != "sed" || got[13] != "python3" || got[14] != "python3" {
			t.Errorf("machine%d's history of %s: %v, want revisions 12 (sed), 13 and 14 (python3)", i, stateRel, got)
		}
	}
}

// TestEtcdLogOrder: two machines commit two files at the same time; both
// change logs hold every commit of both, in the same order (etcd's).
func TestEtcdLogOrder(t *testing.T) {
	c := startEtcdCluster(t)
	ps := etcdMachines(t, c, "order", 2)
	for _, p := range ps {
		os.MkdirAll(p.path("notes"), 0o755) // directories are each machine's own
	}
	const n = 60
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Add(1)
		go func(i int, p *project) {
			defer wg.Done()
			for k := 1; k <= n; k++ {
				if err := os.WriteFile(p.path(fmt.Sprintf("notes/m%d.md", i)), []byte(fmt.Sprintf("%d\n", k)), 0o644); err != nil {
					t.Errorf("machine%d, commit %d: %v", i, k, err)
					return
				}
			}
		}(i, p)
	}
	wg.Wait()
	for i := range ps {
		etcdWaitContent(t, ps, fmt.Sprintf("notes/m%d.md", i), []byte(fmt.Sprintf("%d\n", n)))
	}
	etcdWaitLogs(t, ps, "")
	a, b := etcdCommits(t, ps[0], ""), etcdCommits(t, ps[1], "")
	if len(a) != 2*n {
		t.Errorf("machine0's log has %d commits, want %d", len(a), 2*n)
	}
	if strings.Join(a, "\n") != strings.Join(b, "\n") {
		for k := range min(len(a), len(b)) {
			if a[k] != b[k] {
				t.Fatalf("the logs differ from commit %d on: %q vs %q", k, a[k], b[k])
			}
		}
		t.Fatalf("the logs differ: %d vs %d commits", len(a), len(b))
	}
}
