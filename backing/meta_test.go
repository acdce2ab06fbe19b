package backing

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A commit keeps P's user xattrs, ACL and mode, gives it the time of the
// write, and applies what the writer set.
func TestCommitKeepsAndSetsMeta(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	p := filepath.Join(root, "a.md")
	commit(t, d, "a.md", "one\n")
	if err := unix.Setxattr(p, "user.tag", []byte("blue"), 0); err != nil {
		t.Skipf("no user xattrs here: %v", err)
	}
	// user::rw- user:65534:rw- group::r-- mask::r-- other::---
	acl := []byte{2, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, 2, 0, 6, 0, 0xfe, 0xff, 0, 0,
		4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, 0x10, 0, 4, 0, 0xff, 0xff, 0xff, 0xff, 0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff}
	if err := unix.Setxattr(p, aclAccess, acl, 0); err != nil {
		t.Skipf("no ACLs here: %v", err)
	}
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(p, old, old)
	start := time.Now().Add(-time.Second)
	commit(t, d, "a.md", "two\n")
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o7777 != 0o640 || time.Unix(st.Mtim.Unix()).Before(start) {
		t.Errorf("after a commit: mode %#o mtime %v, want 0640 (the ACL's) and the time of the commit", st.Mode&0o7777, time.Unix(st.Mtim.Unix()))
	}
	if v := readXattrs(p); string(v["user.tag"]) != "blue" || string(v[aclAccess]) != string(acl) {
		t.Errorf("after a commit, xattrs %q", v)
	}

	m := NewMeta()
	m.Mtime = unix.NsecToTimespec(old.UnixNano())
	m.RemoveXattr("user.tag")
	m.SetXattr("user.new", []byte("1"), 0o640)
	m.Mode, m.HasMode = 0o600, true
	if _, err := d.Commit(Write{Path: "a.md", Data: []byte("three\n"), Base: -1, Caller: testCaller, Meta: &m}); err != nil {
		t.Fatal(err)
	}
	unix.Stat(p, &st)
	v := readXattrs(p)
	if st.Mode&0o7777 != 0o600 || st.Mtim.Sec != old.Unix() || v["user.tag"] != nil || string(v["user.new"]) != "1" {
		t.Errorf("with the writer's metadata: mode %#o mtime %d xattrs %q", st.Mode&0o7777, st.Mtim.Sec, v)
	}
}

func TestACLModeBits(t *testing.T) {
	acl := []byte{2, 0, 0, 0, 1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, 4, 0, 4, 0, 0xff, 0xff, 0xff, 0xff,
		0x10, 0, 7, 0, 0xff, 0xff, 0xff, 0xff, 0x20, 0, 1, 0, 0xff, 0xff, 0xff, 0xff}
	if bits, ok := aclModeBits(acl); !ok || bits != 0o671 {
		t.Errorf("aclModeBits = %#o, %v; want 0671 (the mask as group bits)", bits, ok)
	}
	if _, ok := aclModeBits([]byte{1, 0, 0, 0}); ok {
		t.Error("a version 1 ACL parsed")
	}
}

func TestKillPriv(t *testing.T) {
	for _, c := range []struct {
		mode, uid, want uint32
	}{
		{0o6755, 0, 0o6755},
		{0o6755, 1000, 0o0755},
		{0o2745, 1000, 0o2745}, // setgid without group exec: mandatory locking, kept
		{0o4700, 1000, 0o0700},
	} {
		if got := killPriv(c.mode, Caller{Uid: c.uid}); got != c.want {
			t.Errorf("killPriv(%#o, uid %d) = %#o, want %#o", c.mode, c.uid, got, c.want)
		}
	}
}
