package tests

import (
	"os"
	"strings"
	"testing"
)

// A file that a rename put on a managed name, then replaced by the next
// rename before anyone looked at it again, is still opened by that name.
// A reader that resolved the name just before the second rename reaches the
// replaced file's node; it must read the file, never ENOENT for the
// first rename's temp name (seen once in the soak: a reader's open() got
// ENOENT while sed -i and rsync renamed onto the file by turns).
//
// An O_PATH descriptor holds the resolved name across the second rename,
// and reopening it through /proc/self/fd is the reader's late open.
func TestRenamedOntoThenReplacedStillOpens(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const script = `import os, sys
p = sys.argv[1]
d = os.path.dirname(p)
def put(tmp, text):
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, p)
put(os.path.join(d, "sedAbC123"), "a: 1\n")     # a scratch file renamed onto p
fd = os.open(p, os.O_PATH)                      # a reader resolves p ...
put(os.path.join(d, ".x.yaml.Zq81"), "a: 2\n")  # ... then the next rename replaces it
try:
    with open("/proc/self/fd/%d" % fd) as f:    # ... and the reader opens
        print("read", repr(f.read()))
except OSError as e:
    print("error", e.errno, e.strerror, e.filename)
`
	r := mustRun(t, p.Dir, "python3", "-c", script, "memory/context/x.yaml")
	out := strings.TrimSpace(r.Stdout)
	if strings.HasPrefix(out, "error") {
		t.Fatalf("the late open of a replaced file failed: %s", out)
	}
	if out != `read 'a: 1\n'` && out != `read 'a: 2\n'` {
		t.Errorf("the late open read %s, want one of the two committed versions", out)
	}
}

// The same for a file an editor renamed away to its backup name and then
// removed (vim's save: x → x~, write x, remove x~): a reader that resolved
// x before the rename opens x, not the removed backup.
func TestRenamedAwayThenRemovedStillOpens(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const rel = "roadmap/roadmap.yaml"
	const script = `import os, sys
fd = os.open(sys.argv[1], os.O_PATH)   # a reader resolves the name
print("resolved", flush=True)
sys.stdin.readline()                   # ... the editor saves meanwhile ...
try:
    with open("/proc/self/fd/%d" % fd) as f:
        print("read", len(f.read()), flush=True)
except OSError as e:
    print("error", e.errno, e.strerror, flush=True)
`
	h, stderr := startHeld(t, p.Dir, "resolved", "python3", "-c", script, rel)
	// The save, by another process than the reader.
	mustRun(t, p.Dir, "sh", "-c", `mv "$1" "$1~" && cp "$1~" "$1" && echo "# saved" >> "$1" && rm "$1~"`, "save", rel)
	h.start()
	line, err := readLineTimeout(h.out, eventWait)
	if err != nil || !strings.HasPrefix(line, "read ") {
		t.Fatalf("the reader's late open: %q (%v), want a read of the file\nstderr: %s", line, err, stderr.String())
	}
}

// Start-up removes only paracfs's own temp files, by their exact pattern
// (.paracfs-tmp.<name>.<12 lowercase hex digits>): a user's file that only
// starts with the prefix survives the mount, and stays visible through it.
func TestStartupRemovesOnlyOwnTempNames(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	own := "memory/context/.paracfs-tmp.current_state.yaml.0123456789ab"
	users := []string{"memory/context/.paracfs-tmp.notes", ".paracfs-tmp.x.yaml.ABC123ABC123", "roadmap/.paracfs-tmp.roadmap.yaml.0123"}
	for _, rel := range append([]string{own}, users...) {
		if err := os.WriteFile(p.backing(rel), []byte("user data of "+rel+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mount(t, p)
	if _, err := os.Lstat(p.backing(own)); !os.IsNotExist(err) {
		t.Errorf("a temp file of paracfs's own pattern survived the start: %v", err)
	}
	for _, rel := range users {
		if got, err := os.ReadFile(p.backing(rel)); err != nil || string(got) != "user data of "+rel+"\n" {
			t.Errorf("the user's %s after the mount's start: %q, %v", rel, got, err)
		}
		if got, err := os.ReadFile(p.path(rel)); err != nil || string(got) != "user data of "+rel+"\n" {
			t.Errorf("the user's %s through the mount: %q, %v", rel, got, err)
		}
	}
}
