package tests

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// deepOps goes 30 directories of 200-byte names down from argv[1], one
// chdir at a time (over 6000 bytes: more than PATH_MAX), and works there
// with paths relative to its working directory, as the kernel allows at
// any depth. It prints what it saw as one JSON object. (Its listing leaves
// out notes.md.lock, the commit lock beside a managed file, which has
// nothing to do with depth.)
const deepOps = `import json, os, sys
comp = "d" * 200
os.chdir(sys.argv[1])
for i in range(30):
    os.mkdir(comp)
    os.chdir(comp)
out = {}
with open("notes.txt", "w") as f:
    f.write("deep scratch\n")
with open("notes.md", "w") as f:
    f.write("# deep\n")
with open("notes.md", "a") as f:
    f.write("more\n")
with open("notes.txt") as f:
    out["scratch"] = f.read()
with open("notes.md") as f:
    out["managed"] = f.read()
os.rename("notes.txt", "renamed.txt")
os.mkdir("sub")
os.symlink("renamed.txt", "link")
out["readlink"] = os.readlink("link")
with open("link") as f:
    out["via link"] = f.read()
out["list"] = sorted(n for n in os.listdir(".") if n != "notes.md.lock")
st = os.stat("renamed.txt")
out["size"] = st.st_size
os.chmod("renamed.txt", 0o600)
out["mode"] = oct(os.stat("renamed.txt").st_mode)
os.rmdir("sub")
os.unlink("link")
print(json.dumps(out, sort_keys=True))
`

// A tree deeper than PATH_MAX from the mount root works through the mount
// as on the plain filesystem: the kernel resolves each path relative to a
// directory, so only a name's length is bounded, not the depth. The
// managed file down there commits (its log line names it), and its bytes
// land in the backing directory.
func TestDeepPath(t *testing.T) {
	t.Parallel()
	toolNeedPython(t)
	p := newProject(t)
	mount(t, p)
	plain := filepath.Join(p.Root, "plain")
	for _, d := range []string{p.path("deep"), plain} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	n := len(logLines(t, p.Dir))
	got := map[string]string{}
	for _, d := range []string{p.path("deep"), plain} {
		r := run(t, d, toolPython, "-c", deepOps, d)
		if r.Code != 0 {
			t.Fatalf("python3 in %s: %s", d, r)
		}
		got[d] = strings.TrimSpace(r.Stdout)
	}
	if got[p.path("deep")] != got[plain] {
		t.Errorf("deep below the mount:\n  %s\non the plain filesystem:\n  %s", got[p.path("deep")], got[plain])
	}
	var seen map[string]any
	if err := json.Unmarshal([]byte(got[p.path("deep")]), &seen); err != nil || seen["managed"] != "# deep\nmore\n" {
		t.Errorf("through the mount: %s (%v); want the managed file to read back %q", got[p.path("deep")], err, "# deep\nmore\n")
	}

	// The backing directory, one name at a time.
	comps := []string{"deep"}
	for i := 0; i < 30; i++ {
		comps = append(comps, strings.Repeat("d", 200))
	}
	dfd, err := unix.Dup(p.backingFd)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range comps {
		nfd, err := unix.Openat(dfd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		unix.Close(dfd)
		if err != nil {
			t.Fatalf("the backing directory: %v", err)
		}
		dfd = nfd
	}
	defer unix.Close(dfd)
	for name, want := range map[string]string{"notes.md": "# deep\nmore\n", "renamed.txt": "deep scratch\n"} {
		fd, err := unix.Openat(dfd, name, unix.O_RDONLY, 0)
		if err != nil {
			t.Errorf("backing %s: %v", name, err)
			continue
		}
		buf := make([]byte, 256)
		k, _ := unix.Read(fd, buf)
		unix.Close(fd)
		if string(buf[:k]) != want {
			t.Errorf("backing %s holds %q, want %q", name, buf[:k], want)
		}
	}
	rel := strings.Join(comps, "/") + "/notes.md"
	if lines := forPath(logSince(t, p.Dir, n), rel); len(lines) != 2 {
		t.Errorf("log lines for the deep notes.md (%d bytes below DIR): %v, want 2 (create, then the append)", len(rel), lines)
	}
}
