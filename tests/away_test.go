package tests

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

// A managed file deleted or renamed away is gone at once for the process
// that did it and for its shell, and for everyone within the grace period
// (half a second), with one delete line. (Meanwhile other readers still
// see the last committed version: an editor or git re-creating the name
// does so inside that window.)
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
			mustRun(t, p.Dir, "bash", "-c", c.script, c.name, rel)
			deadline := time.Now().Add(eventWait)
			for {
				_, err := os.Lstat(p.path(rel))
				if os.IsNotExist(err) {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s still visible to other processes %s after %s", rel, eventWait, c.name)
				}
				time.Sleep(50 * time.Millisecond)
			}
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
