package tests

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// A managed file deleted or renamed away is gone at once for the process
// that did it, for the processes that started it (its shell, and this
// test, which ran the shell), and for everyone else within the grace
// period (half a second), with one delete line. (Meanwhile a reader
// already running still sees the last committed version: an editor or
// git re-creating the name does so inside that window.)
func TestDeleteAndRenameAway(t *testing.T) {
	t.Parallel()
	const rel = "roadmap/roadmap.yaml"
	for _, c := range []struct{ name, script, desc string }{
		{"rm", `rm "$1"; if [ -e "$1" ]; then echo "still there for the shell"; exit 1; fi`, "deleted"},
		{"mv", `mv "$1" "$1.bak"; if [ -e "$1" ]; then echo "still there for the shell"; exit 1; fi`, "renamed to " + rel + ".bak"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			mount(t, p)
			n := len(logLines(t, p.Dir))
			// A reader already running: it sees the name until the
			// grace period ends.
			var watch syncBuffer
			w := exec.Command("sh", "-c", `[ -e "$1" ] && echo watching; while [ -e "$1" ]; do sleep 0.05; done; echo gone`, "sh", p.path(rel))
			w.Stdout, w.Stderr = &watch, &watch
			if err := w.Start(); err != nil {
				t.Fatal(err)
			}
			defer func() { w.Process.Kill(); w.Wait() }()
			waitOutput(t, &watch, "watching")
			mustRun(t, p.Dir, "bash", "-c", c.script, c.name, rel)
			if _, err := os.Lstat(p.path(rel)); !os.IsNotExist(err) {
				t.Errorf("%s still there for the program that ran %s: %v", rel, c.name, err)
			}
			waitOutput(t, &watch, "gone")
			waitLogLine(t, p, n, "the delete of "+rel, func(e logEntry) bool { return e.Path == rel })
			if _, err := os.Lstat(p.backing(rel)); !os.IsNotExist(err) {
				t.Errorf("%s still in the backing directory: %v", rel, err)
			}
			lines := forPath(logSince(t, p.Dir, n), rel)
			if len(lines) != 1 || lines[0].Op != "delete" || !strings.Contains(lines[0].Description, c.desc) {
				t.Fatalf("want one delete line (%q) for %s, got %v", c.desc, rel, lines)
			}
			if c.name == "mv" {
				if got := readFile(t, p.path(rel+".bak")); !bytes.Equal(got, fixture(t, rel)) {
					t.Errorf("%s.bak does not hold the moved file", rel)
				}
			}
		})
	}
}
