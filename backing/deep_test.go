package backing

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// A path deeper than PATH_MAX below DIR works: the kernel hands the mount
// one name at a time, so only names are bounded, not the depth. A symlink
// on the way is still never followed, in any chunk of the walk.
func TestDeepPaths(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	comp := strings.Repeat("d", 200)
	rel := ""
	for i := 0; i < 30; i++ { // 30 * 201 bytes: over 6000
		rel = deepJoin(rel, comp)
		if err := d.Mkdir(rel, 0o755, testCaller); err != nil {
			t.Fatalf("Mkdir at depth %d (%d bytes): %v", i+1, len(rel), err)
		}
	}
	if len(rel) <= unix.PathMax {
		t.Fatalf("the test path is %d bytes, want more than PATH_MAX", len(rel))
	}
	scratch := rel + "/notes.txt"
	fd, err := d.OpenFile(scratch, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL, 0o644, testCaller)
	if err != nil {
		t.Fatalf("OpenFile(create, %d bytes): %v", len(scratch), err)
	}
	unix.Write(fd, []byte("deep\n"))
	unix.Close(fd)
	st, err := d.Lstat(scratch)
	if err != nil || st.Size != 5 {
		t.Fatalf("Lstat: size %d, %v; want 5", st.Size, err)
	}
	managed := rel + "/state.yaml"
	commit(t, d, managed, "a: 1\n")
	data, _, err := d.ReadFile(managed)
	if err != nil || string(data) != "a: 1\n" {
		t.Fatalf("ReadFile after Commit: %q, %v", data, err)
	}
	ents, err := d.ReadDir(rel, false)
	names := map[string]bool{}
	for _, e := range ents {
		names[e.Name] = true
	}
	if err != nil || !names["notes.txt"] || !names["state.yaml"] {
		t.Fatalf("ReadDir: %v, %v; want notes.txt and state.yaml", ents, err)
	}

	// The same bytes reached by the real path, one directory at a time.
	comps := strings.Split(rel, "/")
	dfd := walkTo(t, root, comps)
	buf := make([]byte, 64)
	f, err := unix.Openat(dfd, "notes.txt", unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	n, _ := unix.Read(f, buf)
	unix.Close(f)
	unix.Close(dfd)
	if string(buf[:n]) != "deep\n" {
		t.Errorf("the backing file holds %q, want %q", buf[:n], "deep\n")
	}

	// A symlink in the second chunk of the walk is not followed.
	dfd = walkTo(t, root, comps[:24])
	defer unix.Close(dfd)
	if err := unix.Renameat(dfd, comp, dfd, comp+".real"); err != nil {
		t.Fatal(err)
	}
	if err := unix.Symlinkat(comp+".real", dfd, comp); err != nil {
		t.Fatal(err)
	}
	if _, err := d.OpenFile(scratch, unix.O_RDONLY, 0, testCaller); err == nil {
		t.Errorf("OpenFile through a symlink at depth 25 succeeded; want it refused")
	}
	if err := d.Remove(scratch, testCaller); err == nil {
		t.Errorf("Remove through a symlink at depth 25 succeeded; want it refused")
	}
}

// walkTo opens the directory root/comps..., one name at a time.
func walkTo(t *testing.T, root string, comps []string) int {
	t.Helper()
	dfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range comps {
		nfd, err := unix.Openat(dfd, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW, 0)
		unix.Close(dfd)
		if err != nil {
			t.Fatalf("opening the backing directory at depth %d: %v", i+1, err)
		}
		dfd = nfd
	}
	return dfd
}

func deepJoin(dir, name string) string {
	if dir == "" {
		return name
	}
	return dir + "/" + name
}
