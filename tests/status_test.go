package tests

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
)

type statusMount struct {
	Dir        string         `json:"dir"`
	Mountpoint string         `json:"mountpoint"`
	Pid        int            `json:"pid"`
	Uptime     string         `json:"uptime"`
	Stale      bool           `json:"stale"`
	Config     map[string]any `json:"config"`
	Counters   *struct {
		Commits      int64 `json:"commits"`
		Conflicts    int64 `json:"conflicts"`
		Invalid      int64 `json:"invalid"`
		LockTimeouts int64 `json:"lock_timeouts"`
		Refused      int64 `json:"refused"`
	} `json:"counters"`
	LastRefusals []struct {
		Time, Path, Op, Reason, Errno, Command, Kept string
		Pid                                          int
	} `json:"last_refusals"`
	CountersError string `json:"counters_error"`
}

// statusOf runs `paracfs status --json` and returns p's mount.
// ownStatusWait is how long a test's `paracfs status` waits for its own
// mount: a deadlock guard only. Status's default (3 s) is for a person
// looking at every mount; a daemon under -race on a loaded machine can take
// longer to answer, and other tests' mounts are not this test's business.
const ownStatusWait = "60s"

func statusOf(t *testing.T, p *project) statusMount {
	t.Helper()
	r := paracfs(t, p.Root, "status", "--json", "--wait", ownStatusWait, p.Dir)
	var st struct{ Mounts []statusMount }
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &st) != nil {
		t.Fatalf("paracfs status --json: %s", r)
	}
	for _, m := range st.Mounts {
		if m.Mountpoint == p.Dir {
			return m
		}
	}
	t.Fatalf("paracfs status --json does not list %s:\n%s", p.Dir, r.Stdout)
	return statusMount{}
}

// status shows each mount's configuration, its counters and its last
// refusals with their reasons, as JSON and as text; a dead daemon's mount
// shows as stale.
func TestStatusCounters(t *testing.T) {
	p := newProject(t)
	mount(t, p, "--lock-timeout", "300ms")
	m := statusOf(t, p)
	if m.Counters == nil || m.Counters.Commits != 0 || m.Counters.Refused != 0 || len(m.LastRefusals) != 0 {
		t.Fatalf("status of a fresh mount: %+v", m)
	}
	if m.Pid != p.daemonPid(t) || m.Dir != p.Dir || m.Uptime == "" || m.Config["lock_timeout"] != "300ms" || m.Config["log"] != logRel {
		t.Errorf("status --json: pid %d dir %q uptime %q config %v; want the daemon's pid, DIR, an uptime, lock_timeout 300ms",
			m.Pid, m.Dir, m.Uptime, m.Config)
	}

	// Two commits, an invalid write, a stale one, a lock timeout; bash's
	// builtin echo ignores close()'s error, status shows it anyway.
	for _, s := range []string{"a: 1\n", "a: 2\n"} {
		if r := pyWrite(t, p.Root, ".parac/a.yaml", "trunc", []byte(s)); r.Errno != 0 {
			t.Fatalf("commit: %+v", r)
		}
	}
	mustRun(t, p.Root, "bash", "-c", "echo 'name: [' > .parac/project.yaml; true")
	stale := replace(t, fixture(t, stateRel), "revision: 11", "revision: 3")
	con := pyWrite(t, p.Root, ".parac/"+stateRel, "trunc", stale)
	unlock := lockBacking(t, p, "a.yaml.lock")
	lt := pyWrite(t, p.Root, ".parac/a.yaml", "trunc", []byte("a: 3\n"))
	unlock()
	if con.Errno != int(syscall.EBUSY) || lt.Errno != int(syscall.ETIMEDOUT) {
		t.Fatalf("stale write %+v, locked write %+v: want EBUSY, ETIMEDOUT", con, lt)
	}

	m = statusOf(t, p)
	c := m.Counters
	if c == nil || c.Commits != 2 || c.Invalid != 1 || c.Conflicts != 1 || c.LockTimeouts != 1 || c.Refused != 3 {
		t.Fatalf("counters %+v, want 2 commits, 1 invalid, 1 conflict, 1 lock timeout, 3 refused", c)
	}
	if len(m.LastRefusals) != 3 {
		t.Fatalf("last refusals: %+v, want 3", m.LastRefusals)
	}
	want := []struct{ path, op, errno, command string }{
		{"project.yaml", "invalid", "EBADMSG", "bash"},
		{stateRel, "conflict", "EBUSY", "python3"},
		{"a.yaml", "lock_timeout", "ETIMEDOUT", "python3"},
	}
	for i, w := range want {
		got := m.LastRefusals[i]
		if got.Path != w.path || got.Op != w.op || got.Errno != w.errno || got.Command != w.command || got.Reason == "" || got.Kept == "" || got.Pid == 0 {
			t.Errorf("last refusal %d: %+v, want %s %s %s by %s with a reason and kept bytes", i, got, w.path, w.op, w.errno, w.command)
		}
	}
	if m.LastRefusals[1].Pid != con.Pid {
		t.Errorf("the conflict's pid is %d, want the writer's %d", m.LastRefusals[1].Pid, con.Pid)
	}

	// The text form says the same.
	r := paracfs(t, p.Root, "status", "--wait", ownStatusWait, p.Dir)
	for _, s := range []string{p.Dir, "pid", itoa(m.Pid), "uptime", "lock_timeout=300ms", "commits 2", "conflicts 1", "invalid 1",
		"lock timeouts 1", "project.yaml", "EBADMSG", "revision conflict", "ETIMEDOUT"} {
		if r.Code != 0 || !strings.Contains(r.Stdout, s) {
			t.Errorf("paracfs status does not show %q:\n%s", s, r)
		}
	}
	if strings.Contains(r.Stdout, "\x1b[") {
		t.Errorf("paracfs status coloured a pipe: %q", r.Stdout)
	}
	if tty := run(t, p.Root, "script", "-qec", paracfsBin+" status", "/dev/null"); !strings.Contains(tty.Stdout, "\x1b[") {
		t.Errorf("paracfs status on a terminal is not coloured: %q", tty.Stdout)
	}

	// Each refusal's kept bytes have the ID that paracfs rejected takes.
	rows := rejectedList(t, p)
	for _, row := range rows {
		if row.Op == "conflict" && !strings.Contains(r.Stdout, "id "+row.ID) {
			t.Errorf("paracfs status does not give the conflict's ID %s:\n%s", row.ID, r.Stdout)
		}
	}

	// The daemon killed: the mount is listed as stale, status still works.
	pid := p.daemonPid(t)
	syscall.Kill(pid, syscall.SIGKILL)
	waitGone(pid, eventWait)
	m = statusOf(t, p)
	if !m.Stale || m.Counters != nil {
		t.Errorf("status of a mount whose daemon was killed: %+v, want stale", m)
	}
	if r := paracfs(t, p.Root, "status", "--wait", ownStatusWait, p.Dir); r.Code != 0 || !strings.Contains(r.Stdout, "stale") {
		t.Errorf("paracfs status with a stale mount: %s", r)
	}
}

// A mount whose daemon does not answer (stopped here with SIGSTOP) does not
// hang status: it is reported as not answering, and the others still are.
func TestStatusHungMount(t *testing.T) {
	t.Parallel()
	hung, ok := newProject(t), newProject(t)
	mount(t, hung)
	mount(t, ok)
	pid := hung.daemonPid(t)
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	defer syscall.Kill(pid, syscall.SIGCONT) // before the teardown unmounts it
	// A status that hung would be killed by the harness (runCmd) and
	// print no "not answering": no clock is needed to see it.
	// One status asks both: the hung mount is reported as not answering
	// once --wait has passed, and the other has answered by then.
	r := paracfs(t, hung.Root, "status", "--json", "--wait", "20s", hung.Dir, ok.Dir)
	var st struct{ Mounts []statusMount }
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &st) != nil || len(st.Mounts) != 2 {
		t.Fatalf("paracfs status --json HUNG OK: %s\nwant the two mounts", r)
	}
	for _, m := range st.Mounts {
		switch m.Mountpoint {
		case hung.Dir:
			if !strings.Contains(m.CountersError, "not answering after 20s") || m.Counters != nil {
				t.Errorf("status of a stopped daemon's mount: %+v, want it reported as not answering", m)
			}
		case ok.Dir:
			if m.Counters == nil {
				t.Errorf("status of the answering mount next to a hung one: %+v, want its counters", m)
			}
		default:
			t.Errorf("status HUNG OK lists another mount: %+v", m)
		}
	}
}
