package backing

import (
	"os"
	"path/filepath"
	"testing"
)

func TestPermits(t *testing.T) {
	for _, c := range []struct {
		uid                uint32
		groups             []uint32
		owner, group, mode uint32
		want               uint32
		ok                 bool
	}{
		{0, nil, 1, 1, 0o000, 4, true},            // root
		{5, []uint32{5}, 5, 5, 0o600, 4, true},    // owner
		{5, []uint32{7}, 6, 7, 0o640, 4, true},    // group
		{5, []uint32{8, 7}, 6, 7, 0o640, 4, true}, // a supplementary group
		{5, []uint32{8}, 6, 7, 0o640, 4, false},   // other
		{5, []uint32{5}, 5, 5, 0o044, 4, false},   // the owner's bits decide for the owner
		{5, []uint32{8}, 6, 7, 0o711, 1, true},    // search
		{5, []uint32{8}, 6, 7, 0o755, 3, false},   // write and search
		{5, []uint32{7}, 6, 7, 0o770 | 1<<15, 3, true},
	} {
		if got := permits(c.uid, c.groups, c.owner, c.group, c.mode, c.want); got != c.ok {
			t.Errorf("permits(%+v) = %v", c, got)
		}
	}
}

// A 0644 file in a 0700 directory is not readable by all: its values stay
// out of the log, and another user may neither read nor write it. A name
// made again by another user gives it no access to the versions the name
// held before.
func TestAccessFollowsThePath(t *testing.T) {
	root := newRoot(t)
	if os.Geteuid() != 0 {
		t.Skip("needs root, to chown")
	}
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, root, Config{})
	for _, dir := range []string{"private", "shared"} {
		if err := os.Mkdir(filepath.Join(root, dir), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Join(root, "shared"), 0o777)
	commit(t, d, "private/p.yaml", "pin: 1\n")
	commit(t, d, "shared/s.yaml", "pin: 1\n")
	os.Chmod(filepath.Join(root, "private/p.yaml"), 0o644)
	os.Chmod(filepath.Join(root, "shared/s.yaml"), 0o644)
	nobody := Caller{Uid: 65534, Gid: 65534}
	// The world-readable log carries no size or sha256 of a file others
	// may not even stat; a 0644 file in a 0777 directory keeps both.
	commit(t, d, "private/p.yaml", "pin: 2222\n")
	commit(t, d, "shared/s.yaml", "pin: 2222\n")
	es := logEntries(t, root)
	if e := es[len(es)-2]; e.Path != "private/p.yaml" || e.Size != nil || e.SHA256 != "" {
		t.Errorf("log line of a file in a 0700 directory: path %s size %v sha256 %q, want neither", e.Path, ptrStr(e.Size), e.SHA256)
	}
	if e := es[len(es)-1]; e.Path != "shared/s.yaml" || e.Size == nil || *e.Size != 10 || e.SHA256 == "" {
		t.Errorf("log line of a 0644 file in a 0777 directory: path %s size %v sha256 %q, want both", e.Path, ptrStr(e.Size), e.SHA256)
	}
	if d.ValuesShown("private/p.yaml") || !d.ValuesShown("shared/s.yaml") || !d.ValuesShown("shared/new.yaml") {
		t.Errorf("ValuesShown: private %v shared %v new %v, want false true true",
			d.ValuesShown("private/p.yaml"), d.ValuesShown("shared/s.yaml"), d.ValuesShown("shared/new.yaml"))
	}
	if d.MayRead("private/p.yaml", nobody) || !d.MayRead("shared/s.yaml", nobody) || !d.MayRead("private/p.yaml", testCaller) {
		t.Errorf("MayRead: a file in a 0700 directory, or a 0644 file in a 0777 one, misjudged")
	}
	if d.MayWrite("shared/s.yaml", nobody) || !d.MayWrite("shared/new.yaml", nobody) || d.MayWrite("private/new.yaml", nobody) {
		t.Errorf("MayWrite misjudged")
	}
	for _, p := range []string{HistoryPath("private/p.yaml"), HistoryPath("private"), HistoryPath("private/p.yaml") + "/" + VersionName("private/p.yaml", 0)} {
		if d.MayReadMeta(p, nobody) {
			t.Errorf("nobody may read %s", p)
		}
	}
	// The name made again by nobody.
	os.Chmod(filepath.Join(root, "shared/s.yaml"), 0o600)
	commit(t, d, "shared/s.yaml", "pin: 2\n")
	old := d.peekRevision("shared/s.yaml")
	os.Remove(filepath.Join(root, "shared/s.yaml"))
	if d.MayReadVersion("shared/s.yaml", old, nobody) {
		t.Errorf("nobody may read root's 0600 version of a deleted file")
	}
	w := Write{Path: "shared/s.yaml", Data: []byte("mine: 1\n"), Base: -1, Op: "commit", Caller: Caller{Pid: 1, Uid: 65534, Gid: 65534, Command: "x"}}
	if _, err := d.Commit(w); err != nil {
		t.Fatal(err)
	}
	os.Chown(filepath.Join(root, "shared/s.yaml"), 65534, 65534)
	if d.MayReadVersion("shared/s.yaml", old, nobody) {
		t.Errorf("nobody may read root's 0600 version of the name it made again")
	}
	if !d.MayReadMeta(HistoryPath("shared/s.yaml"), nobody) {
		t.Errorf("nobody may not read the history folder of its own file")
	}
	st, err := os.Stat(bpath(root, HistoryDir))
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v %v, want 0700", HistoryDir, st.Mode(), err)
	}
}
