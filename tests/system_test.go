package tests

// How paracfs fits the system: a normal user mounting through fusermount3,
// mount(8) and fstab, the systemd user unit and sd_notify, paracfs exec,
// logging, shell completion, the man page and scripts/install.

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A normal user mounts and unmounts through fusermount3, and the core
// behaviour holds: a valid write commits, an invalid one is refused with
// "Bad message", the revision is readable; other users (root included)
// are kept out.
func TestSystemNonRoot(t *testing.T) {
	t.Parallel()
	u := newSysUser(t)
	p := newProject(t)
	u.chownTree(t, p.Root)
	uid := strconv.Itoa(int(u.Uid))

	// As a user does: from the project, no arguments.
	r := u.run(t, p.Root, paracfsBin, "mount")
	if r.Code != 0 || !isMounted(p.Dir) {
		t.Fatalf("as %s: paracfs mount: %s\nmounted: %v\ndaemon.log:\n%s", u.Name, r, isMounted(p.Dir), p.daemonLog())
	}
	if opts := mountOptionsOf(p.Dir); !strings.Contains(","+opts+",", ",user_id="+uid+",") {
		t.Errorf("mount options %q: want user_id=%s (mounted by the user, through fusermount3)", opts, uid)
	}
	daemonConfig(t, p)
	pid := p.backingDaemonPid(t)
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/"+strconv.Itoa(pid), &st); err != nil || st.Uid != u.Uid {
		t.Errorf("daemon %d runs as uid %d (%v), want the user's %d", pid, st.Uid, err, u.Uid)
	}

	// Without --allow-other, nobody else gets in, root included.
	if _, err := os.Stat(p.path("project.yaml")); errnoOf(err) != syscall.EACCES {
		t.Errorf("root's stat of a file in the user's mount: %v, want EACCES", err)
	}

	// A valid write commits.
	u.mustRun(t, p.Root, "sed", "-i", "s/severity: medium/severity: high/", ".parac/"+stateRel)
	want := replace(t, replace(t, fixture(t, stateRel), "severity: medium", "severity: high"), "revision: 11", "revision: 12")
	if got, err := os.ReadFile(p.backing(stateRel)); err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s after the user's sed -i: %v\n%s", stateRel, err, got)
	}
	r = u.mustRun(t, p.Root, "/usr/bin/python3", "-c",
		`import os, sys; print(os.getxattr(sys.argv[1], "user.paracfs.revision").decode())`, ".parac/"+stateRel)
	if strings.TrimSpace(r.Stdout) != "12" {
		t.Errorf("the user reads %s %q on %s, want 12", revXattr, strings.TrimSpace(r.Stdout), stateRel)
	}
	// An invalid write is refused (exec: echo opens the file, and sees
	// its close fail).
	r = u.run(t, p.Root, "/bin/sh", "-c", `exec /bin/echo 'broken: [' > .parac/project.yaml`)
	if r.Code == 0 || !strings.Contains(r.Stderr, "Bad message") {
		t.Errorf("the user's invalid write: %s\nwant a failure with \"Bad message\"", r)
	}
	if got, _ := os.ReadFile(p.backing("project.yaml")); !bytes.Equal(got, fixture(t, "project.yaml")) {
		t.Errorf("project.yaml changed by a refused write: %q", got)
	}
	// The log names the user.
	var commit, refusal *logEntry
	for _, e := range logLines(t, p.backing("")) {
		switch {
		case e.Path == stateRel && e.Op == "commit":
			commit = &e
		case e.Path == "project.yaml" && e.Op == "invalid":
			refusal = &e
		}
	}
	if commit == nil || commit.UID == nil || *commit.UID != int64(u.Uid) || commit.Command != "sed" {
		t.Errorf("log line of the user's commit: %v, want uid %d, command sed", commit, u.Uid)
	}
	if refusal == nil || refusal.Errno != "EBADMSG" {
		t.Errorf("log line of the user's refused write: %v, want op invalid, EBADMSG", refusal)
	}

	r = u.mustRun(t, p.Root, paracfsBin, "status", "--json", "--wait", ownStatusWait, p.Dir)
	if !strings.Contains(r.Stdout, `"mountpoint": "`+p.Dir+`"`) {
		t.Errorf("the user's paracfs status --json does not list %s:\n%s", p.Dir, r.Stdout)
	}
	r = u.run(t, p.Root, paracfsBin, "unmount")
	if r.Code != 0 || isMounted(p.Dir) {
		t.Fatalf("as %s: paracfs unmount: %s\nstill mounted: %v", u.Name, r, isMounted(p.Dir))
	}
	if !waitGone(pid, eventWait) {
		t.Errorf("the user's daemon %d still runs after unmount", pid)
	}

	// --allow-other needs user_allow_other in /etc/fuse.conf: said at once.
	if conf, _ := os.ReadFile("/etc/fuse.conf"); !regexp.MustCompile(`(?m)^\s*user_allow_other\s*$`).Match(conf) {
		r = u.run(t, p.Root, paracfsBin, "mount", "--allow-other", p.Dir)
		oneLine(t, "as a user: paracfs mount --allow-other", r, 1, "paracfs mount: ")
		if !strings.Contains(r.Stderr, "user_allow_other") {
			t.Errorf("want user_allow_other named in %q", r.Stderr)
		}
		if isMounted(p.Dir) {
			t.Errorf("mounted anyway")
		}
	}

	// paracfs exec, as the user.
	r = u.run(t, p.Root, paracfsBin, "exec", "--", "/bin/sh", "-c",
		`sed -i 's/impact: medium/impact: low/' .parac/`+stateRel+`; exit 4`)
	if r.Code != 4 || isMounted(p.Dir) {
		t.Errorf("as %s: paracfs exec -- (sed; exit 4): %s\nwant exit 4 and the mount gone (mounted: %v)", u.Name, r, isMounted(p.Dir))
	}
	if got, _ := os.ReadFile(p.backing(stateRel)); !bytes.Contains(got, []byte("revision: 13\n")) || !bytes.Contains(got, []byte("impact: low")) {
		t.Errorf("after the user's paracfs exec, %s:\n%s\nwant the commit, revision 13", stateRel, got)
	}
}

// backingDaemonPid is the daemon's pid from .paracfs/daemon.json in the backing
// directory (the mount may not let root in).
func (p *project) backingDaemonPid(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile(p.backing(".paracfs/daemon.json"))
	if err != nil {
		t.Fatalf("reading .paracfs/daemon.json: %v", err)
	}
	m := regexp.MustCompile(`"pid":\s*(\d+)`).FindSubmatch(b)
	if m == nil {
		t.Fatalf(".paracfs/daemon.json has no pid: %q", b)
	}
	pid := parsePid(t, string(m[1]))
	p.addPid(pid)
	return pid
}

// Root without CAP_SYS_ADMIN (a container started without
// --cap-add SYS_ADMIN) is told so at once.
func TestSystemNoCapSysAdmin(t *testing.T) {
	t.Parallel()
	sysNeedRoot(t)
	needTool(t, "setpriv")
	p := newProject(t)
	r := run(t, p.Root, "setpriv", "--bounding-set", "-sys_admin", "--inh-caps", "-sys_admin", paracfsBin, "mount", p.Dir)
	oneLine(t, "paracfs mount without CAP_SYS_ADMIN", r, 1, "paracfs mount: ")
	if !strings.Contains(r.Stderr, "CAP_SYS_ADMIN") {
		t.Errorf("want CAP_SYS_ADMIN named in %q", r.Stderr)
	}
	if isMounted(p.Dir) {
		t.Errorf("mounted anyway")
	}
}

// mount -f reports readiness to a service manager through NOTIFY_SOCKET
// once the mount answers, and STOPPING=1 when it goes.
func TestSystemNotify(t *testing.T) {
	t.Parallel()
	for _, kind := range []string{"path", "abstract"} {
		t.Run(kind, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			addr := filepath.Join(p.Root, "notify.sock")
			if kind == "abstract" {
				addr = "@" + randomName("paracfs-test-")
			}
			ns := listenNotify(t, addr)
			cmd := exec.Command(paracfsBin, "mount", "-f", "--log-level", "debug", p.Dir)
			cmd.Dir = p.Root
			cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+addr)
			s := startCmd(t, cmd)
			t.Cleanup(func() { unmountAll(t, p.Root) })
			p.addPid(cmd.Process.Pid)

			msg := ns.expect(t, "READY=1", eventWait)
			var sfs unix.Statfs_t
			if !isMounted(p.Dir) || unix.Statfs(p.Dir, &sfs) != nil || sfs.Type != fuseSuperMagic {
				t.Fatalf("READY=1 came, but %s does not answer as a FUSE mount (mounted: %v)", p.Dir, isMounted(p.Dir))
			}
			if got := notifyField(msg, "MAINPID"); got != strconv.Itoa(cmd.Process.Pid) {
				t.Errorf("MAINPID=%s, want the daemon's pid %d (%q)", got, cmd.Process.Pid, msg)
			}
			if got := notifyField(msg, "STATUS"); !strings.Contains(got, p.Dir) {
				t.Errorf("STATUS=%q does not name %s", got, p.Dir)
			}
			if res := pyWrite(t, p.Dir, "config/logging.yaml", "trunc", []byte("level: debug\n")); res.Errno != 0 {
				t.Errorf("write through the mount: %s", res.Error)
			}
			cmd.Process.Signal(syscall.SIGTERM)
			ns.expect(t, "STOPPING=1", eventWait)
			if code := s.wait(t, eventWait); code != 0 {
				t.Errorf("after SIGTERM the daemon exited %d, want 0\n%s", code, s.out.String())
			}
			if isMounted(p.Dir) {
				t.Errorf("%s still mounted after SIGTERM", p.Dir)
			}
			out := s.out.String()
			for _, w := range []string{"level=DEBUG", "level=INFO msg=mounted", "msg=unmounted"} {
				if !strings.Contains(out, w) {
					t.Errorf("the foreground daemon's stderr lacks %q:\n%s", w, out)
				}
			}
		})
	}
	// A service manager that is not there: the daemon says so and serves.
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		p := newProject(t)
		cmd := exec.Command(paracfsBin, "mount", "-f", p.Dir)
		cmd.Dir = p.Root
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+filepath.Join(p.Root, "nobody-listens"))
		s := startCmd(t, cmd)
		t.Cleanup(func() { unmountAll(t, p.Root) })
		p.addPid(cmd.Process.Pid)
		for deadline := time.Now().Add(eventWait); !isMounted(p.Dir) && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if !isMounted(p.Dir) {
			t.Fatalf("not mounted with an unreachable NOTIFY_SOCKET\n%s", s.out.String())
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if code := s.wait(t, eventWait); code != 0 || !strings.Contains(s.out.String(), "level=WARN") {
			t.Errorf("exit %d, want 0 and a warning about NOTIFY_SOCKET:\n%s", code, s.out.String())
		}
	})
	// The background daemon leaves readiness to `mount` returning: a unit
	// of Type=notify runs mount --foreground.
	t.Run("background", func(t *testing.T) {
		t.Parallel()
		p := newProject(t)
		ns := listenNotify(t, "@"+randomName("paracfs-test-"))
		t.Cleanup(func() { unmountAll(t, p.Root) })
		cmd := exec.Command(paracfsBin, "mount", p.Dir)
		cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+ns.Addr)
		if out, err := cmd.CombinedOutput(); err != nil || !isMounted(p.Dir) {
			t.Fatalf("paracfs mount: %v\n%s", err, out)
		}
		pid := p.backingDaemonPid(t)
		unmountCmd(t, p)
		if !waitGone(pid, eventWait) {
			t.Fatalf("the daemon (pid %d) still runs after paracfs unmount", pid)
		}
		// Whatever the daemon sent came before this marker: no duration
		// stands in for "it had its chance".
		c, err := net.Dial("unixgram", ns.Addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("marker"))
		c.Close()
		for m := range ns.msgs {
			if m == "marker" {
				break
			}
			t.Errorf("the background daemon sent %q to NOTIFY_SOCKET", m)
		}
	})
}

// The shipped user unit: systemd accepts it, and its ExecStart and
// ExecStop, run as the service manager would for a normal user, mount with
// readiness reported and unmount cleanly (exit 0, so Restart=on-failure
// does not restart it).
func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	unitPath := filepath.Join(repoRoot, "contrib/systemd/paracfs@.service")
	set := unitSettings(t, unitPath)
	for k, want := range map[string]string{"Service.Type": "notify", "Install.WantedBy": "default.target", "Service.Restart": "on-failure"} {
		if set[k] != want {
			t.Errorf("%s: %s=%q, want %q", unitPath, k, set[k], want)
		}
	}
	if !regexp.MustCompile(`^/\S+/paracfs mount (-f|--foreground) %f$`).MatchString(set["Service.ExecStart"]) {
		t.Errorf("ExecStart=%s, want /.../paracfs mount --foreground %%f", set["Service.ExecStart"])
	}
	if !regexp.MustCompile(`^-?/\S+/paracfs unmount %f$`).MatchString(set["Service.ExecStop"]) {
		t.Errorf("ExecStop=%s, want /.../paracfs unmount %%f", set["Service.ExecStop"])
	}

	u := newSysUser(t)
	p := newProject(t)
	u.chownTree(t, p.Root)

	// systemd's own check of the template and of this instance, with the
	// binary under test (systemd itself does not run here).
	if sa, err := exec.LookPath("systemd-analyze"); err == nil {
		dir, rt := t.TempDir(), t.TempDir()
		os.Chmod(rt, 0o700)
		text := strings.ReplaceAll(string(readFile(t, unitPath)), set["Service.ExecStart"][:strings.Index(set["Service.ExecStart"], " ")], paracfsBin)
		escaped := systemdEscapePath(p.Dir)
		if se, err := exec.LookPath("systemd-escape"); err == nil {
			out, err := exec.Command(se, "--path", p.Dir).Output()
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimSpace(string(out)); got != escaped {
				t.Errorf("systemd-escape --path %s = %s; the test's escaping gives %s", p.Dir, got, escaped)
			}
			escaped = strings.TrimSpace(string(out))
		}
		inst := filepath.Join(dir, "paracfs@"+escaped+".service")
		for _, f := range []string{filepath.Join(dir, "paracfs@.service"), inst} {
			if err := os.WriteFile(f, []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(sa, "--user", "--man=no", "verify", filepath.Join(dir, "paracfs@.service"), inst)
		cmd.Env = append(os.Environ(), "XDG_RUNTIME_DIR="+rt)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("systemd-analyze --user verify: %v\n%s", err, out)
		}
	} else {
		t.Errorf("systemd-analyze not found: the unit's syntax is not checked (scripts/setup installs Debian's systemd for it)")
	}

	ns := listenNotify(t, "@"+randomName("paracfs-test-"))
	startArgv := unitCommand(t, set["Service.ExecStart"], p.Dir)
	stopArgv := unitCommand(t, set["Service.ExecStop"], p.Dir)
	start := func() (*started, int) {
		t.Helper()
		cmd := u.command(context.Background(), "/", []string{"NOTIFY_SOCKET=" + ns.Addr}, startArgv[0], startArgv[1:]...)
		s := startCmd(t, cmd)
		t.Cleanup(func() { unmountAll(t, p.Root) })
		p.addPid(cmd.Process.Pid)
		msg := ns.expect(t, "READY=1", eventWait)
		if !isMounted(p.Dir) {
			t.Fatalf("READY=1 came but %s is not mounted\n%s", p.Dir, s.out.String())
		}
		if got := notifyField(msg, "MAINPID"); got != strconv.Itoa(cmd.Process.Pid) {
			t.Errorf("MAINPID=%s, want ExecStart's pid %d", got, cmd.Process.Pid)
		}
		return s, cmd.Process.Pid
	}

	// systemctl --user start, a commit, systemctl --user stop (ExecStop).
	s, _ := start()
	u.mustRun(t, p.Root, "sed", "-i", "s/severity: medium/severity: high/", ".parac/"+stateRel)
	if got, _ := os.ReadFile(p.backing(stateRel)); !bytes.Contains(got, []byte("revision: 12\n")) {
		t.Errorf("no commit through the unit's mount:\n%s", got)
	}
	if r := u.run(t, "/", stopArgv[0], stopArgv[1:]...); r.Code != 0 {
		t.Errorf("ExecStop (%s): %s", strings.Join(stopArgv, " "), r)
	}
	ns.expect(t, "STOPPING=1", eventWait)
	if code := s.wait(t, eventWait); code != 0 {
		t.Errorf("after ExecStop, ExecStart's process exited %d, want 0\n%s", code, s.out.String())
	}
	if isMounted(p.Dir) {
		t.Errorf("%s still mounted after ExecStop", p.Dir)
	}

	// Stopped by SIGTERM alone (what systemd sends after ExecStop, or
	// instead of it).
	s, pid := start()
	syscall.Kill(pid, syscall.SIGTERM)
	ns.expect(t, "STOPPING=1", eventWait)
	if code := s.wait(t, eventWait); code != 0 || isMounted(p.Dir) {
		t.Errorf("after SIGTERM: exit %d, mounted %v; want 0 and unmounted\n%s", code, isMounted(p.Dir), s.out.String())
	}
	if out := s.out.String(); !strings.Contains(out, "level=INFO") || !strings.Contains(out, "msg=unmounted") {
		t.Errorf("the unit's daemon logs to stderr (the journal) with slog; got:\n%s", out)
	}
}

// mount(8)'s helper: run under its name as mount(8) and mount.fuse3 do,
// through mount -t fuse.paracfs, and from an fstab line.
func TestSystemMountHelper(t *testing.T) {
	t.Parallel()
	sysNeedRoot(t)

	t.Run("options", func(t *testing.T) {
		t.Parallel()
		p := newProject(t)
		helper := filepath.Join(t.TempDir(), "mount.fuse.paracfs")
		if err := os.Symlink(paracfsBin, helper); err != nil {
			t.Fatal(err)
		}
		missing := filepath.Join(p.Root, "missing")
		for _, c := range []struct {
			args []string
			code int
			says string
		}{
			{[]string{p.Dir, p.Dir, "-o", "rw,ro"}, 1, "read-only"},
			{[]string{p.Dir, p.Dir, "-o", "lock_timeout=5s,colour=blue"}, 1, "colour=blue"},
			{[]string{p.Dir, p.Dir, "-o", "lock_timeout=soon"}, 1, "lock-timeout"},
			{[]string{p.Dir, p.Dir, "-o", "max_size=lots"}, 1, "max-size"},
			{[]string{p.Dir, "-o", "rw"}, 1, "MOUNTPOINT"},
			{[]string{p.Dir, p.Dir, "-f", "-o", "lock_timeout=5s,nofail,_netdev,x-systemd.automount"}, 0, ""},
			// docs/system.md: user, users, nouser, owner and group say nothing to paracfs and are ignored.
			{[]string{p.Dir, p.Dir, "-f", "-o", "user,users,nouser,owner,group,lock_timeout=5s"}, 0, ""},
			{[]string{missing, missing, "-o", "rw,lock_timeout=5s"}, 32, "no such directory"},
		} {
			r := run(t, p.Root, helper, c.args...)
			if r.Code != c.code || !strings.Contains(r.Stderr, c.says) {
				t.Errorf("mount.fuse.paracfs %s: %s\nwant exit %d and %q said", strings.Join(c.args, " "), r, c.code, c.says)
			}
			if isMounted(p.Dir) {
				t.Fatalf("mount.fuse.paracfs %s mounted %s", strings.Join(c.args, " "), p.Dir)
			}
		}
	})

	// Without mount.fuse.paracfs, mount.fuse3 runs `paracfs DIR MP -o OPTS`
	// from PATH (mount(8) itself resets PATH; this calls it directly).
	t.Run("mount.fuse3", func(t *testing.T) {
		t.Parallel()
		needTool(t, "mount.fuse3", "umount")
		p := newProject(t)
		t.Cleanup(func() { unmountAll(t, p.Root) })
		cmd := exec.Command("mount.fuse3", p.Dir, p.Dir, "-t", "fuse.paracfs",
			"-o", "lock_timeout=5s,max_size=1MiB,log_level=debug,nofail,_netdev,noauto,defaults,x-systemd.automount")
		cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(paracfsBin)+":"+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil || !isMounted(p.Dir) {
			t.Fatalf("mount.fuse3 ... -t fuse.paracfs: %v\n%s\ndaemon.log:\n%s", err, out, p.daemonLog())
		}
		checkHelperMount(t, p, "5s", 1<<20)
		if !strings.Contains(p.daemonLog(), "level=DEBUG") {
			t.Errorf("log_level=debug: no DEBUG line in daemon.log:\n%s", p.daemonLog())
		}
	})

	// mount -t fuse.paracfs and an fstab line, through the helper in /sbin.
	t.Run("mount(8) and fstab", func(t *testing.T) {
		t.Parallel()
		needTool(t, "mount", "umount")
		sysLock(t)
		installSbinHelper(t)
		p := newProject(t)
		t.Cleanup(func() { unmountAll(t, p.Root) })

		r := run(t, "/", "mount", "-t", "fuse.paracfs", p.Dir, p.Dir, "-o", "lock_timeout=5s,max_size=2MiB,nofail,noatime")
		if r.Code != 0 || !isMounted(p.Dir) {
			t.Fatalf("mount -t fuse.paracfs: %s\ndaemon.log:\n%s", r, p.daemonLog())
		}
		if r.Stdout+r.Stderr != "" {
			t.Errorf("mount -t fuse.paracfs printed %q; mount helpers are silent", r.Stdout+r.Stderr)
		}
		checkHelperMount(t, p, "5s", 2<<20)

		r = run(t, "/", "mount", "-t", "fuse.paracfs", p.Dir, p.Dir, "-o", "ro")
		if r.Code == 0 || !strings.Contains(r.Stderr, "read-only") || isMounted(p.Dir) {
			t.Errorf("mount -t fuse.paracfs -o ro: %s\nwant a refusal naming read-only, nothing mounted", r)
		}

		fstab := filepath.Join(p.Root, "fstab")
		line := p.Dir + "  " + p.Dir + "  fuse.paracfs  lock_timeout=7s,nofail,_netdev,noauto  0  0\n"
		if err := os.WriteFile(fstab, []byte("# a test fstab\n"+line), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := exec.LookPath("findmnt"); err == nil {
			r := run(t, "/", "findmnt", "--verify", "--tab-file", fstab)
			if r.Code != 0 || !strings.Contains(r.Stdout+r.Stderr, "0 parse errors, 0 errors") {
				t.Errorf("findmnt --verify of %q: %s", line, r)
			}
		}
		r = run(t, "/", "mount", "-T", fstab, p.Dir)
		if r.Code != 0 || !isMounted(p.Dir) {
			t.Fatalf("mount -T %s %s (fstab line %q): %s\ndaemon.log:\n%s", fstab, p.Dir, line, r, p.daemonLog())
		}
		checkHelperMount(t, p, "7s", 16<<20)
	})
}

// checkHelperMount checks a mount made through mount(8)'s helper: its
// options reached the daemon, it commits, and umount(8) ends it.
func checkHelperMount(t *testing.T, p *project, lockTimeout string, maxSize float64) {
	t.Helper()
	cfg := daemonConfig(t, p)
	if cfg["lock_timeout"] != lockTimeout || cfg["max_size"] != maxSize {
		t.Errorf("daemon config %v: want lock_timeout %s, max_size %.0f", cfg, lockTimeout, maxSize)
	}
	pid := p.daemonPid(t)
	before := rev(t, p.path(stateRel))
	mustRun(t, p.Root, "sed", "-i", "s/severity: [a-z]*/severity: high"+strconv.FormatInt(before, 10)+"/", ".parac/"+stateRel)
	if got := rev(t, p.path(stateRel)); got != before+1 {
		t.Errorf("revision after a commit through the helper's mount: %d, want %d", got, before+1)
	}
	if r := run(t, "/", "umount", p.Dir); r.Code != 0 {
		t.Errorf("umount %s: %s", p.Dir, r)
	}
	if !waitUnmounted(p.Dir, eventWait) {
		t.Fatalf("%s still mounted after umount", p.Dir)
	}
	if pid > 0 && !waitGone(pid, eventWait) {
		t.Errorf("daemon %d still runs after umount", pid)
	}
}

// installSbinHelper makes /sbin/mount.fuse.paracfs the binary under test
// until the test ends (under sysLock), keeping an installed one aside.
func installSbinHelper(t *testing.T) {
	t.Helper()
	const dst = "/sbin/mount.fuse.paracfs"
	saved := dst + ".paracfs-tests-saved"
	// A run that died left its link and the saved helper: put it back.
	if _, err := os.Lstat(saved); err == nil {
		os.Remove(dst)
		if err := os.Rename(saved, dst); err != nil {
			t.Fatalf("restoring %s left by an earlier run: %v", saved, err)
		}
	}
	keep := false
	if _, err := os.Lstat(dst); err == nil {
		if err := os.Rename(dst, saved); err != nil {
			t.Fatal(err)
		}
		keep = true
	}
	if err := os.Symlink(paracfsBin, dst); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.Remove(dst)
		if keep {
			if err := os.Rename(saved, dst); err != nil {
				t.Errorf("cleanup: restoring %s: %v", dst, err)
			}
		}
	})
}

// paracfs exec: mounts, runs CMD, unmounts, exits with CMD's status.
func TestExec(t *testing.T) {
	t.Parallel()
	// noDaemon asserts that nothing is left mounted or running.
	noDaemon := func(t *testing.T, p *project) {
		t.Helper()
		if isMounted(p.Dir) {
			t.Errorf("%s is still mounted after paracfs exec", p.Dir)
		}
		if pids := daemonPids(p.Root); len(pids) > 0 {
			t.Errorf("paracfs processes left after paracfs exec: %v", pids)
		}
	}
	t.Run("status", func(t *testing.T) {
		t.Parallel()
		p := newProject(t)
		t.Cleanup(func() { unmountAll(t, p.Root) })
		r := paracfs(t, p.Root, "exec", "--", "/bin/sh", "-c",
			`sed -i 's/severity: medium/severity: high/' .parac/`+stateRel+` && stat -f -c %t .parac && exit 3`)
		if r.Code != 3 {
			t.Errorf("paracfs exec -- (... exit 3): %s\nwant exit 3", r)
		}
		if got := strings.TrimSpace(r.Stdout); got != strconv.FormatInt(fuseSuperMagic, 16) {
			t.Errorf("CMD's statfs type of .parac: %q, want the FUSE magic %x (CMD ran on the mount)", got, fuseSuperMagic)
		}
		noDaemon(t, p)
		want := replace(t, replace(t, fixture(t, stateRel), "severity: medium", "severity: high"), "revision: 11", "revision: 12")
		if got := readFile(t, p.path(stateRel)); !bytes.Equal(got, want) {
			t.Errorf("after paracfs exec, %s:\n%s", stateRel, got)
		}
	})
	t.Run("refusal", func(t *testing.T) {
		t.Parallel()
		p := newProject(t)
		t.Cleanup(func() { unmountAll(t, p.Root) })
		// exec: echo, not sh, opens the file (sh opens a redirection's
		// file itself, and ignores its close's error).
		r := paracfs(t, p.Root, "exec", p.Dir, "--", "/bin/sh", "-c", `exec /bin/echo 'broken: [' > .parac/project.yaml`)
		if r.Code != 1 || !strings.Contains(r.Stderr, "Bad message") {
			t.Errorf("paracfs exec -- (invalid write): %s\nwant CMD's exit 1 and \"Bad message\"", r)
		}
		noDaemon(t, p)
		if got := readFile(t, p.path("project.yaml")); !bytes.Equal(got, fixture(t, "project.yaml")) {
			t.Errorf("project.yaml changed by a refused write: %q", got)
		}
	})
	t.Run("killed by a signal", func(t *testing.T) {
		t.Parallel()
		p := newProject(t)
		t.Cleanup(func() { unmountAll(t, p.Root) })
		r := paracfs(t, p.Root, "exec", "--", "/bin/sh", "-c", `kill -KILL $$`)
		if r.Code != 128+9 {
			t.Errorf("paracfs exec -- (killed by SIGKILL): %s\nwant exit 137, as the shell says", r)
		}
		noDaemon(t, p)
	})
	t.Run("cannot run", func(t *testing.T) {
		t.Parallel()
		p := newProject(t)
		t.Cleanup(func() { unmountAll(t, p.Root) })
		r := paracfs(t, p.Root, "exec", "--", "no-such-command-for-paracfs")
		oneLine(t, "paracfs exec -- no-such-command", r, 127, "paracfs exec: ")
		notExec := filepath.Join(p.Root, "not-executable")
		os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644)
		r = paracfs(t, p.Root, "exec", "--", notExec)
		oneLine(t, "paracfs exec -- not-executable", r, 126, "paracfs exec: ")
		for _, args := range [][]string{{"exec"}, {"exec", "/bin/true"}, {"exec", p.Dir, "x", "--", "/bin/true"}, {"exec", "--lock-timeout", "0s", "--", "/bin/true"}} {
			r := paracfs(t, p.Root, args...)
			oneLine(t, "paracfs "+strings.Join(args, " "), r, 125, "paracfs exec: ")
		}
		r = paracfs(t, p.Root, "exec", filepath.Join(p.Root, "missing"), "--", "/bin/true")
		oneLine(t, "paracfs exec missing-dir -- true", r, 125, "paracfs exec: ")
		noDaemon(t, p)
	})
	// From inside DIR, CMD's relative paths are on the mount.
	t.Run("inside DIR", func(t *testing.T) {
		t.Parallel()
		p := newProject(t)
		t.Cleanup(func() { unmountAll(t, p.Root) })
		r := paracfs(t, p.path("memory"), "exec", "--", "sed", "-i", "s/severity: medium/severity: high/", "context/current_state.yaml")
		if r.Code != 0 {
			t.Fatalf("paracfs exec -- sed (from DIR/memory): %s", r)
		}
		noDaemon(t, p)
		lines := logLines(t, p.Dir)
		if last := lines[len(lines)-1]; last.Path != stateRel || last.Op != "commit" || last.Command != "sed" {
			t.Errorf("last log line %s: want sed's commit of %s (made through the mount)", last, stateRel)
		}
	})
	// Already mounted: CMD runs on that mount, which stays.
	t.Run("already mounted", func(t *testing.T) {
		t.Parallel()
		p := newProject(t)
		mount(t, p)
		r := paracfs(t, p.Root, "exec", "--", "sed", "-i", "s/severity: medium/severity: high/", ".parac/"+stateRel)
		if r.Code != 0 {
			t.Fatalf("paracfs exec on a mounted DIR: %s", r)
		}
		if !isMounted(p.Dir) || countMounts(p.Dir) != 1 {
			t.Errorf("after paracfs exec on a mounted DIR: %d mounts, want the one that was there", countMounts(p.Dir))
		}
		if got := rev(t, p.path(stateRel)); got != 12 {
			t.Errorf("revision %d, want 12", got)
		}
	})
	// SIGTERM to paracfs exec goes on to CMD; the mount still goes.
	t.Run("SIGTERM", func(t *testing.T) {
		t.Parallel()
		p := newProject(t)
		cmd := exec.Command(paracfsBin, "exec", "--", "/bin/sh", "-c", `trap 'exit 7' TERM; echo started; while :; do sleep 0.1; done`)
		cmd.Dir = p.Root
		s := startCmd(t, cmd)
		t.Cleanup(func() { unmountAll(t, p.Root) })
		for deadline := time.Now().Add(eventWait); !strings.Contains(s.out.String(), "started") && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
		}
		if !isMounted(p.Dir) {
			t.Fatalf("CMD runs but %s is not mounted\n%s", p.Dir, s.out.String())
		}
		cmd.Process.Signal(syscall.SIGTERM)
		if code := s.wait(t, eventWait); code != 7 {
			t.Errorf("paracfs exec after SIGTERM: exit %d, want CMD's 7\n%s", code, s.out.String())
		}
		noDaemon(t, p)
	})
	// CMD leaves a process holding a file open on the mount: it is
	// detached lazily, and paracfs exec still exits with CMD's status,
	// while the holder still runs (event order, no clock). CMD waits until
	// the holder has the file open before it exits.
	// CMD gets the descriptors it would get without paracfs exec, and
	// nothing of the daemon's: no /dev/fuse (one kept by CMD, or by what
	// CMD leaves running, keeps the FUSE connection alive without its
	// daemon, and could answer the kernel's requests itself).
	t.Run("descriptors", func(t *testing.T) {
		t.Parallel()
		p := newProject(t)
		list := `for f in /proc/$$/fd/*; do echo "${f##*/} $(readlink "$f")"; done`
		plain := mustRun(t, p.Root, "/bin/sh", "-c", list)
		r := paracfs(t, p.Root, "exec", "--", "/bin/sh", "-c", list)
		if r.Code != 0 {
			t.Fatalf("paracfs exec -- sh: %s", r)
		}
		clean := func(s string) string { // the pipes this test gives each one differ
			return regexp.MustCompile(`pipe:\[\d+\]`).ReplaceAllString(s, "pipe")
		}
		if clean(r.Stdout) != clean(plain.Stdout) {
			t.Errorf("CMD's descriptors under paracfs exec:\n%s\nwithout it:\n%s", r.Stdout, plain.Stdout)
		}
		if strings.Contains(r.Stdout, "/dev/fuse") {
			t.Errorf("CMD inherits the daemon's /dev/fuse:\n%s", r.Stdout)
		}
	})

	t.Run("busy at the end", func(t *testing.T) {
		t.Parallel()
		p := newProject(t)
		t.Cleanup(func() { unmountAll(t, p.Root) })
		pidFile := filepath.Join(p.Root, "holder.pid")
		r := paracfs(t, p.Root, "exec", "--log-level", "warn", "--", "/bin/sh", "-c",
			`sleep 600 < .parac/project.yaml > /dev/null 2>&1 & echo $! > "$1"
			until [ "$(readlink /proc/$!/fd/0)" = "$PWD/.parac/project.yaml" ]; do sleep 0.01; done
			exit 5`, "sh", pidFile)
		holder := parsePid(t, string(readFile(t, pidFile)))
		if !alive(holder) {
			t.Errorf("the holder (pid %d) ended before paracfs exec returned: paracfs exec waited for it", holder)
		}
		// Killed, it goes. Its exit closes project.yaml on the detached
		// mount, whose daemon is gone: that close must not wait for an
		// answer forever (it did while the holder had inherited the
		// daemon's /dev/fuse descriptor, which kept the connection alive).
		syscall.Kill(holder, syscall.SIGKILL)
		if !waitGone(holder, eventWait) {
			t.Errorf("the holder (pid %d), killed, is still there after %s (state %s): its exit waits on the detached mount",
				holder, eventWait, procState(holder))
		}
		if r.Code != 5 {
			t.Errorf("paracfs exec -- (background holder; exit 5): %s\nwant exit 5", r)
		}
		if !strings.Contains(r.Stderr, "level=WARN") || !strings.Contains(r.Stderr, "lazily") {
			t.Errorf("paracfs exec does not say that it detached a busy mount: %q", r.Stderr)
		}
		noDaemon(t, p)
	})
}

// The daemon's own messages: slog lines with levels, to daemon.log in the
// background and to stderr in the foreground, filtered by --log-level.
func TestSystemLogLevel(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	unmountCmd(t, p)
	log := p.daemonLogPlain()
	for _, w := range []string{"level=INFO msg=mounted", "level=INFO msg=unmounted", "time="} {
		if !strings.Contains(log, w) {
			t.Errorf("daemon.log lacks %q:\n%s", w, log)
		}
	}
	if strings.Contains(log, "level=DEBUG") {
		t.Errorf("daemon.log has DEBUG lines at the default level:\n%s", log)
	}
	mount(t, p, "--log-level", "warn")
	unmountCmd(t, p)
	if added := strings.TrimPrefix(p.daemonLogPlain(), log); strings.Contains(added, "level=INFO") || strings.Contains(added, "level=DEBUG") {
		t.Errorf("--log-level warn: daemon.log got:\n%s", added)
	}

	fg := mountForeground(t, p, "--log-level", "debug")
	fg.cmd.Process.Signal(syscall.SIGTERM)
	if code, done := fg.wait(eventWait); !done || code != 0 {
		t.Fatalf("mount -f: exit %d after SIGTERM\n%s", code, fg.out.String())
	}
	for _, w := range []string{"level=DEBUG", "level=INFO msg=mounted", `msg="unmounting on a signal" signal=terminated`, "msg=unmounted"} {
		if !strings.Contains(fg.out.String(), w) {
			t.Errorf("mount -f --log-level debug: stderr lacks %q:\n%s", w, fg.out.String())
		}
	}

	// A daemon.log past 1 MiB is moved to daemon.log.1 when the next
	// daemon starts.
	big := append(bytes.Repeat([]byte("time=2026-01-01T00:00:00Z level=INFO msg=old\n"), 1<<20/45+100), "level=INFO msg=last-old-line\n"...)
	if err := os.WriteFile(p.meta("daemon.log"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	mount(t, p)
	unmountCmd(t, p)
	if old, err := os.ReadFile(p.meta("daemon.log.1")); err != nil || !bytes.Equal(old, big) {
		t.Errorf("daemon.log.1 after a daemon.log of %d bytes: %d bytes, %v; want the old log", len(big), len(old), err)
	}
	if cur := p.daemonLogPlain(); len(cur) > 4096 || !strings.Contains(cur, "msg=mounted") {
		t.Errorf("daemon.log after it was moved away (%d bytes):\n%s", len(cur), short(cur))
	}

	r := paracfs(t, p.Root, "mount", "--log-level", "loud", p.Dir)
	oneLine(t, "paracfs mount --log-level loud", r, 2, "paracfs mount: ")
	if !strings.Contains(r.Stderr, "debug, info, warn, error") {
		t.Errorf("want the levels named in %q", r.Stderr)
	}
}

// helpWords lists the commands of `paracfs --help`, or the long flags of
// `paracfs CMD --help`.
func helpWords(t *testing.T, args ...string) []string {
	t.Helper()
	r := paracfs(t, "/", append(args, "--help")...)
	if r.Code != 0 {
		t.Fatalf("paracfs %s --help: %s", strings.Join(args, " "), r)
	}
	text := r.Stdout + r.Stderr
	var out []string
	if len(args) == 0 {
		_, cmds, _ := strings.Cut(text, "Commands:\n")
		for _, line := range strings.Split(cmds, "\n") {
			if f := strings.Fields(line); len(f) > 0 && strings.HasPrefix(line, "  ") {
				out = append(out, f[0])
			}
		}
	} else {
		for _, m := range regexp.MustCompile(`(?m)^\s+(?:-\w, )?--([a-z][a-z-]*)`).FindAllStringSubmatch(text, -1) {
			out = append(out, m[1])
		}
	}
	if len(out) == 0 && len(args) == 0 {
		t.Fatalf("no commands in paracfs --help:\n%s", text)
	}
	return out
}

// paracfs completion bash|zsh|fish: scripts the shells accept, offering
// every command and flag.
func TestSystemCompletion(t *testing.T) {
	t.Parallel()
	cmds := helpWords(t)
	for _, want := range []string{"mount", "unmount", "exec", "status", "log", "completion", "version"} {
		if !slicesContains(cmds, want) {
			t.Errorf("paracfs --help does not list %s: %v", want, cmds)
		}
	}
	dir := t.TempDir()
	scripts := map[string]string{}
	for _, sh := range []string{"bash", "zsh", "fish"} {
		r := paracfs(t, "/", "completion", sh)
		if r.Code != 0 || len(r.Stdout) < 200 {
			t.Fatalf("paracfs completion %s: %s", sh, r)
		}
		scripts[sh] = filepath.Join(dir, "paracfs."+sh)
		os.WriteFile(scripts[sh], []byte(r.Stdout), 0o644)
		for _, c := range cmds {
			if !strings.Contains(r.Stdout, c) {
				t.Errorf("the %s script does not offer the command %s", sh, c)
			}
			for _, f := range helpWords(t, c) {
				if !strings.Contains(r.Stdout, "--"+f) && !strings.Contains(r.Stdout, "-l "+f) {
					t.Errorf("the %s script does not offer %s --%s", sh, c, f)
				}
			}
		}
	}
	for _, args := range [][]string{{"completion"}, {"completion", "tcsh"}, {"completion", "bash", "zsh"}} {
		oneLine(t, "paracfs "+strings.Join(args, " "), paracfs(t, "/", args...), 2, "paracfs completion: ")
	}

	// bash: the syntax, then what it offers.
	mustRun(t, "/", "bash", "-n", scripts["bash"])
	work := filepath.Join(t.TempDir(), "work")
	os.MkdirAll(filepath.Join(work, "proj", ".parac"), 0o755)
	probe := `source "$1"
t() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _paracfs; echo "${COMPREPLY[*]}"; }
t paracfs ex
t paracfs mount --lock
t paracfs mount --log-level ""
t paracfs umount --la
t paracfs completion ""
t paracfs mount pr
t paracfs exec -- /bin/fals
t paracfs log --op confl
`
	r := mustRun(t, work, "bash", "-c", probe, "probe", scripts["bash"])
	want := []string{"exec", "--lock-timeout", "debug info warn error", "--lazy", "bash zsh fish", "proj", "/bin/false", "conflict"}
	got := strings.Split(strings.TrimSuffix(r.Stdout, "\n"), "\n")
	if len(got) != len(want) {
		t.Fatalf("bash completion probe printed %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("bash completion #%d: %q, want %q", i+1, got[i], want[i])
		}
	}

	// zsh and fish, where installed.
	if _, err := exec.LookPath("zsh"); err == nil {
		mustRun(t, "/", "zsh", "-n", scripts["zsh"])
	} else {
		t.Logf("zsh not installed: its script's syntax is not checked")
	}
	if _, err := exec.LookPath("fish"); err == nil {
		mustRun(t, "/", "fish", "-n", scripts["fish"])
		r := mustRun(t, work, "fish", "-c", `source $argv[1]; complete -C 'paracfs mount --log-level '; complete -C 'paracfs exec -- /bin/fals'`, scripts["fish"])
		for _, w := range []string{"debug", "error", "/bin/false"} {
			if !strings.Contains(r.Stdout, w) {
				t.Errorf("fish completion lacks %q:\n%s", w, r.Stdout)
			}
		}
	} else {
		t.Logf("fish not installed: its script is not checked")
	}
}

func slicesContains(xs []string, s string) bool {
	for _, x := range xs {
		if x == s {
			return true
		}
	}
	return false
}

// docs/paracfs.1: every command and flag is there, and groff reads it
// without a warning.
func TestSystemManPage(t *testing.T) {
	t.Parallel()
	page := filepath.Join(repoRoot, "docs/paracfs.1")
	text := string(readFile(t, page))
	roff := func(s string) string { return strings.ReplaceAll(s, "-", `\-`) }
	for _, c := range helpWords(t) {
		if !regexp.MustCompile(`(?m)^\.SS "paracfs ` + regexp.QuoteMeta(roff(c)) + `\b`).MatchString(text) {
			t.Errorf("%s has no .SS section for paracfs %s", page, c)
		}
		for _, f := range helpWords(t, c) {
			if f != "help" && !strings.Contains(text, `\-\-`+roff(f)) {
				t.Errorf("%s does not mention paracfs %s --%s", page, c, f)
			}
		}
	}
	for opt := range map[string]bool{"lock_timeout": true, "max_size": true, "log_level": true, "allow_other": true} {
		if !strings.Contains(text, opt) {
			t.Errorf("%s does not mention the mount option %s", page, opt)
		}
	}
	if _, err := exec.LookPath("groff"); err != nil {
		skipUnlessCI(t, "groff not installed (Debian's groff-base)")
	}
	r := run(t, "/", "groff", "-man", "-ww", "-z", page)
	if r.Code != 0 || r.Stderr != "" {
		t.Errorf("groff -man -ww -z %s: %s", page, r)
	}
}

// scripts/install installs the binary with its version, commit and date,
// the man page, completions, the mount helper and the unit; go install
// from the module root builds a binary named paracfs.
func TestSystemInstall(t *testing.T) {
	t.Parallel()
	needTool(t, "git", "bash")
	head := strings.TrimSpace(mustRun(t, repoRoot, "git", "rev-parse", "HEAD").Stdout)
	dest := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot, "scripts/install"))
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "DESTDIR="+dest, "PREFIX=/usr/local", "SBINDIR=/sbin", "VERSION=v0.0.0-systemtest", "GO="+findGo())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/install: %v\n%s", err, out)
	}
	bin := filepath.Join(dest, "usr/local/bin/paracfs")
	r := mustRun(t, "/", bin, "version")
	for _, re := range []string{`(?m)^paracfs v0\.0\.0-systemtest$`, `(?m)^commit ` + head + `( \(modified\))?$`,
		`(?m)^built ` + time.Now().UTC().Format("2006-01-02") + `T\d\d:\d\d:\d\dZ$`, `(?m)^go-fuse v2\.\d+\.\d+`} {
		if !regexp.MustCompile(re).MatchString(r.Stdout) {
			t.Errorf("installed paracfs version: no line matching %s:\n%s", re, r.Stdout)
		}
	}
	if got, want := readFile(t, filepath.Join(dest, "usr/local/share/man/man1/paracfs.1")), readFile(t, filepath.Join(repoRoot, "docs/paracfs.1")); !bytes.Equal(got, want) {
		t.Errorf("the installed man page differs from docs/paracfs.1")
	}
	for _, f := range []string{"usr/local/share/bash-completion/completions/paracfs", "usr/local/share/zsh/site-functions/_paracfs",
		"usr/local/share/fish/vendor_completions.d/paracfs.fish"} {
		if b, err := os.ReadFile(filepath.Join(dest, f)); err != nil || !strings.Contains(string(b), "paracfs") {
			t.Errorf("%s: %v", f, err)
		}
	}
	mustRun(t, "/", "bash", "-n", filepath.Join(dest, "usr/local/share/bash-completion/completions/paracfs"))
	if l, err := os.Readlink(filepath.Join(dest, "sbin/mount.fuse.paracfs")); err != nil || l != "/usr/local/bin/paracfs" {
		t.Errorf("sbin/mount.fuse.paracfs -> %q (%v), want a link to /usr/local/bin/paracfs", l, err)
	}
	unit := unitSettings(t, filepath.Join(dest, "usr/local/lib/systemd/user/paracfs@.service"))
	if unit["Service.ExecStart"] != "/usr/local/bin/paracfs mount --foreground %f" {
		t.Errorf("installed unit: ExecStart=%s", unit["Service.ExecStart"])
	}

	// go install from the module root.
	gobin := t.TempDir()
	cmd = exec.CommandContext(ctx, findGo(), "install", ".")
	cmd.Dir = repoRoot
	cmd.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install .: %v\n%s", err, out)
	}
	r = mustRun(t, "/", filepath.Join(gobin, "paracfs"), "version")
	if !regexp.MustCompile(`(?m)^paracfs \S+\ncommit .+\nbuilt .+\ngo-fuse v2\.`).MatchString(r.Stdout) {
		t.Errorf("go install's paracfs version:\n%s", r.Stdout)
	}
	// Without -ldflags, the commit comes from the build info, when the go
	// command stamps it (GOFLAGS=-buildvcs=false turns that off).
	if info := mustRun(t, "/", findGo(), "version", "-m", filepath.Join(gobin, "paracfs")).Stdout; strings.Contains(info, "vcs.revision="+head) {
		if !regexp.MustCompile(`(?m)^commit ` + head + `( \(modified\))?$`).MatchString(r.Stdout) {
			t.Errorf("go install's paracfs version does not name the commit %s:\n%s", head, r.Stdout)
		}
	} else {
		t.Logf("go install did not stamp the VCS revision (-buildvcs=false in go env GOFLAGS?): the fallback is not checked")
	}
	if gomod := string(readFile(t, filepath.Join(repoRoot, "go.mod"))); !strings.HasPrefix(gomod, "module github.com/paracfs/paracfs\n") {
		t.Errorf("go.mod: want module github.com/paracfs/paracfs first, for go install github.com/paracfs/paracfs@latest")
	}
}

// procState is pid's state letter from /proc (R, S, D, Z...), or "gone".
func procState(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "gone"
	}
	if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) {
		return string(b[i+2])
	}
	return "?"
}
