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

// A name removed away is hidden from the processes started since in the
// remover's session or under the remover's parent (the script's next
// command), not from those already running (a reader in the same
// session) nor from anyone else. The script here is a shell in a session
// of its own, so the test holds whatever session it runs in (in a
// container /proc shows the runner's session as 0).
func TestAwayStartedSince(t *testing.T) {
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
	g := &awayName{parent: sh, session: sessionOf(sh.tgid), since: bootTicks()}
	if g.session != sh.tgid {
		t.Fatalf("sessionOf(script) = %d, want its own pid %d", g.session, sh.tgid)
	}
	if g.startedSince(me) {
		t.Errorf("a process started before the removal counts as started since")
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
	if !g.startedSince(next) {
		t.Errorf("the script's next command does not count as started since (start %d, since %d)", next.start, g.since)
	}
	if !(&awayName{session: g.session, since: g.since}).startedSince(next) {
		t.Errorf("a later process of the remover's session does not count by its session")
	}
	if !(&awayName{parent: sh, since: g.since}).startedSince(next) {
		t.Errorf("with the session unknown (0), the parent's later child does not count by ancestry")
	}
	if (&awayName{since: g.since}).startedSince(next) {
		t.Errorf("an unknown session (0) and no parent match")
	}
	if (&awayName{parent: procKey{tgid: 1}, since: g.since}).startedSince(next) {
		t.Errorf("descending from init counts as the remover's")
	}
	stranger := exec.Command("sleep", "30")
	if err := stranger.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stranger.Process.Kill(); stranger.Wait() }()
	sp, ok := procOf(stranger.Process.Pid)
	if !ok || g.startedSince(sp) {
		t.Errorf("a process started since outside the script counts as the script's (found %v)", ok)
	}
	if (&awayName{parent: sp, session: g.session + 1_000_000, since: g.since}).startedSince(next) {
		t.Errorf("a process of another session and another parent counts as the remover's")
	}
}
