package tests

import (
	"os"
	"strings"
	"syscall"
	"testing"
)

// Other users against a root daemon mounted with --allow-other: the
// history, the refused bytes, the log and the control file never leak or
// grant more than the files do (docs/security.md). The attacker is nobody.

// sharedDir makes DIR/<rel> through the mount, 01777 like /tmp, so that
// nobody may create files in it.
func sharedDir(t *testing.T, p *project, rel string) {
	t.Helper()
	if err := os.MkdirAll(p.path(rel), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p.path(rel), 0o1777); err != nil {
		t.Fatal(err)
	}
}

// A P.lock that is not a regular file, planted by another user, is refused
// at once with its own reason (ENOLCK, op lock_not_file), the bytes kept,
// rather than hanging the commit on a FIFO's open or failing it with EISDIR
// and losing the bytes. A long --lock-timeout shows that nothing waits.
func TestSecurityLockNotAFile(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	openToOthers(t, p)
	mount(t, p, "--allow-other", "--lock-timeout", "10m")
	sharedDir(t, p, "shared")
	for _, c := range []struct{ name, plant string }{
		{"fifo.yaml", "import os; os.mkfifo('shared/fifo.yaml.lock')"},
		{"dir.yaml", "import os; os.mkdir('shared/dir.yaml.lock')"},
	} {
		toolNeedPython(t)
		if r := runAsNobody(t, p.Dir, toolPython, "-c", c.plant); r.Code != 0 {
			t.Fatalf("nobody plants %s.lock: %s", c.name, r)
		}
		rel := "shared/" + c.name
		n := len(logLines(t, p.Dir))
		data := []byte("a: 1 # " + c.name + "\n")
		res := pyWrite(t, p.Dir, rel, "trunc", data)
		if res.errno() != syscall.ENOLCK || res.Stage != "close" {
			t.Errorf("root's write of %s beside a planted %s.lock: %s at %s, want ENOLCK at close", rel, c.name, res.Error, res.Stage)
		}
		es := forPath(logSince(t, p.Dir, n), rel)
		if len(es) != 1 {
			t.Fatalf("log lines for %s: %v, want one refusal", rel, es)
		}
		checkRefusalLine(t, p, es[0], rel, "lock_not_file", "ENOLCK", res.Pid, data)
		if !strings.Contains(es[0].Reason, "not a regular file") {
			t.Errorf("the reason does not say the lock is not a regular file: %s", es[0].Reason)
		}
		// The same as nobody, the planter.
		res = pyWriteAsNobody(t, p, rel, data)
		if res.errno() != syscall.ENOLCK {
			t.Errorf("nobody's write of %s: %s, want ENOLCK", rel, res.Error)
		}
	}
}

// pyWriteAsNobody runs pyWriteScript as nobody: open("w"), write, close.
func pyWriteAsNobody(t *testing.T, p *project, rel string, data []byte) pyResult {
	t.Helper()
	toolNeedPython(t)
	arg := `{"path": "` + rel + `", "flags": "trunc", "data": ` + jsonString(string(data)) + `}`
	return parsePy(t, runAsNobody(t, p.Dir, toolPython, "-c", pyWriteScript, arg))
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
