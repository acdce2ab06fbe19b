package fs

import (
	"os"
	"os/exec"
	"path/filepath"
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

// A name removed away is hidden from the remover's session's processes
// started since (the script's next command), not from those already
// running (a reader in the same session) nor from other sessions.
func TestAwayStartedSince(t *testing.T) {
	me, ok := procOf(os.Getpid())
	if !ok {
		t.Fatal("no /proc entry for this process")
	}
	g := &awayName{session: sessionOf(os.Getpid()), since: bootTicks()}
	if g.session <= 0 {
		t.Fatalf("sessionOf(self) = %d", g.session)
	}
	if g.startedSince(me) {
		t.Errorf("a process started before the removal counts as started since")
	}
	later := exec.Command("sleep", "30")
	if err := later.Start(); err != nil {
		t.Fatal(err)
	}
	defer later.Process.Kill()
	p, ok := procOf(later.Process.Pid)
	if !ok {
		t.Fatal("no /proc entry for the child")
	}
	if !g.startedSince(p) {
		t.Errorf("a process of the same session started after the removal does not count as started since (start %d, since %d)", p.start, g.since)
	}
	other := &awayName{session: g.session + 1_000_000, since: g.since}
	if other.startedSince(p) {
		t.Errorf("a process of another session counts as the remover's")
	}
	if (&awayName{since: g.since}).startedSince(p) {
		t.Errorf("an unknown session (0) matches")
	}
}
