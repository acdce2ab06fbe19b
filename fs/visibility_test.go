package fs

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A creation never written to commits at its opener's close only when
// the opener holds no other descriptor of it (a shell's redirection
// closes a duplicate first).
func TestHoldsFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "f.yaml")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if !holdsFile(os.Getpid(), "sub/f.yaml") {
		t.Errorf("holdsFile with %s open = false, want true", p)
	}
	if holdsFile(os.Getpid(), "f.yaml.other") {
		t.Errorf("holdsFile of a name not open = true, want false")
	}
	f.Close()
	if holdsFile(os.Getpid(), "sub/f.yaml") {
		t.Errorf("holdsFile after the close = true, want false")
	}
	if !holdsFile(-1, "sub/f.yaml") {
		t.Errorf("holdsFile of a process it cannot read = false, want true (unsure: wait for RELEASE)")
	}
}

// A name removed away is gone at once for the remover, the processes that
// started it, and the processes started since in its session (or, where
// /proc shows no session, under its ancestors): the script's next
// command. It stays for a reader already running in the same session, and
// for everyone else. The script here is a shell in a session of its own,
// so the test holds whatever session it runs in (in a container /proc
// shows the runner's session as 0).
func TestAwaySees(t *testing.T) {
	me, ok := procOf(os.Getpid())
	if !ok {
		t.Fatal("no /proc entry for this process")
	}
	script := exec.Command("sh", "-c", "read x; sleep 30 & echo $!; wait")
	script.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	in, err := script.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := script.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := script.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		syscall.Kill(-script.Process.Pid, syscall.SIGKILL)
		script.Wait()
	}()
	sh, ok := procOf(script.Process.Pid)
	if !ok {
		t.Fatal("no /proc entry for the script")
	}
	// The remover is a child of the script that has exited: its
	// ancestors are the script and this test.
	g := &awayName{up: []procKey{sh, me}, session: sessionOf(sh.tgid), since: bootTicks()}
	if g.session != sh.tgid {
		t.Fatalf("sessionOf(script) = %d, want its own pid %d", g.session, sh.tgid)
	}
	if !g.sees(sh) {
		t.Errorf("the script that ran the remover (or its exec'd last command) does not see the removal")
	}
	stranger := exec.Command("sleep", "30")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stranger.Process.Kill(); stranger.Wait() }()
	sp, ok := procOf(stranger.Process.Pid)
	if !ok {
		t.Fatal("no /proc entry for the stranger")
	}
	if g.sees(sp) {
		t.Errorf("a process of another session counts as the remover's, though started under its ancestor")
	}
	if _, err := in.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("script printed %q, not a pid", line)
	}
	next, ok := procOf(pid)
	if !ok {
		t.Fatal("no /proc entry for the script's next command")
	}
	if !g.sees(next) {
		t.Errorf("the script's next command does not see the removal (start %d, since %d)", next.start, g.since)
	}
	if !(&awayName{session: g.session, since: g.since}).sees(next) {
		t.Errorf("a later process of the remover's session does not see it by its session")
	}
	if (&awayName{up: []procKey{sh}, session: g.session, since: next.start + 1}).sees(next) {
		t.Errorf("a process of the session started before the removal sees it at once")
	}
	if (&awayName{up: []procKey{sh}, session: g.session + 1_000_000, since: g.since}).sees(next) {
		t.Errorf("a process of another session sees it at once")
	}
	if (&awayName{since: g.since}).sees(next) {
		t.Errorf("with no session and no ancestors in common, a process sees it at once")
	}
	// Where the session is unknown, descent from an ancestor decides.
	if !descendsFrom(next.tgid, []procKey{sp, sh}) {
		t.Errorf("the script's child does not descend from the script")
	}
	if !descendsFrom(next.tgid, []procKey{me}) {
		t.Errorf("the script's child does not descend from the test that started the script")
	}
	if descendsFrom(next.tgid, []procKey{sp}) {
		t.Errorf("the script's child descends from a stranger")
	}
	if descendsFrom(next.tgid, []procKey{{tgid: sh.tgid, start: sh.start + 1}}) {
		t.Errorf("descent ignores the ancestor's start time (a recycled pid)")
	}
	up := ancestors(next.tgid)
	if len(up) < 2 || up[0] != sh || up[1] != me {
		t.Errorf("ancestors(next) = %v, want the script %v then this test %v first", up, sh, me)
	}
	for _, a := range up {
		if a.tgid <= 1 {
			t.Errorf("ancestors lists init: %v", up)
		}
	}
}
