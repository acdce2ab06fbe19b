package backing

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// aclBytes encodes entries as the kernel's system.posix_acl_access.
func aclBytes(es ...aclEntry) []byte {
	b := binary.LittleEndian.AppendUint32(nil, 2)
	for _, e := range es {
		b = binary.LittleEndian.AppendUint16(b, e.tag)
		b = binary.LittleEndian.AppendUint16(b, uint16(e.perm))
		b = binary.LittleEndian.AppendUint32(b, e.id)
	}
	return b
}

// paracfs's own checks (who reads a file's versions, its values in the
// log) follow the file's ACL as the kernel does: a named entry that
// denies a user the file denies it what paracfs derives from it, and one
// that grants grants it.
func TestAccessFollowsACLs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to chown")
	}
	root := newRoot(t)
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	d := openDir(t, root, Config{})
	commit(t, d, "denied.yaml", "pin: 1\n")
	commit(t, d, "granted.yaml", "pin: 2\n")
	os.Chmod(filepath.Join(root, "denied.yaml"), 0o644)
	os.Chmod(filepath.Join(root, "granted.yaml"), 0o600)
	const nobody, other = 65534, 4321
	set := func(rel string, es ...aclEntry) {
		t.Helper()
		if err := unix.Lsetxattr(filepath.Join(root, rel), aclAccess, aclBytes(es...), 0); err != nil {
			t.Skipf("the backing filesystem takes no ACL: %v", err)
		}
	}
	// 0644 but user nobody may not read.
	set("denied.yaml", aclEntry{aclUserObj, 6, 0}, aclEntry{aclUser, 0, nobody}, aclEntry{aclGroupObj, 4, 0},
		aclEntry{aclMask, 4, 0}, aclEntry{aclOther, 4, 0})
	// 0600 but user nobody may read.
	set("granted.yaml", aclEntry{aclUserObj, 6, 0}, aclEntry{aclUser, 4, nobody}, aclEntry{aclGroupObj, 0, 0},
		aclEntry{aclMask, 4, 0}, aclEntry{aclOther, 0, 0})
	nb, someone := Caller{Uid: nobody, Gid: nobody}, Caller{Uid: other, Gid: other}
	if d.MayRead("denied.yaml", nb) {
		t.Errorf("nobody may read a file whose ACL denies it")
	}
	if !d.MayRead("denied.yaml", someone) {
		t.Errorf("another user may not read a 0644 file whose ACL names only nobody")
	}
	if !d.MayRead("granted.yaml", nb) {
		t.Errorf("nobody may not read a 0600 file whose ACL grants it")
	}
	if d.MayRead("granted.yaml", someone) {
		t.Errorf("another user may read a 0600 file whose ACL grants only nobody")
	}
	if d.ValuesShown("denied.yaml") {
		t.Errorf("the log shows the values of a file an ACL hides from nobody")
	}
	if d.MayWrite("granted.yaml", nb) {
		t.Errorf("nobody may write a file its ACL lets it read only")
	}
	// A directory whose ACL denies nobody search hides what is inside.
	if err := os.Mkdir(filepath.Join(root, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	commit(t, d, "dir/in.yaml", "pin: 3\n")
	os.Chmod(filepath.Join(root, "dir/in.yaml"), 0o644)
	set("dir", aclEntry{aclUserObj, 7, 0}, aclEntry{aclUser, 0, nobody}, aclEntry{aclGroupObj, 5, 0},
		aclEntry{aclMask, 5, 0}, aclEntry{aclOther, 5, 0})
	if d.MayRead("dir/in.yaml", nb) || !d.MayRead("dir/in.yaml", someone) || d.ValuesShown("dir/in.yaml") {
		t.Errorf("a directory's ACL that denies nobody search: nobody %v, someone %v, values shown %v; want false, true, false",
			d.MayRead("dir/in.yaml", nb), d.MayRead("dir/in.yaml", someone), d.ValuesShown("dir/in.yaml"))
	}
}

// The kernel's rules (posix_acl_permission): the owner's entry, a named
// user's through the mask, any matching group through the mask (one that
// grants suffices; a match that does not stops the search), then others.
func TestACLPermits(t *testing.T) {
	acl := []aclEntry{{aclUserObj, 6, 0}, {aclUser, 7, 10}, {aclGroupObj, 4, 0}, {aclGroup, 2, 20},
		{aclMask, 6, 0}, {aclOther, 4, 0}}
	for _, c := range []struct {
		uid    uint32
		groups []uint32
		want   uint32
		ok     bool
	}{
		{1, nil, 6, true},            // the owner (1)
		{10, nil, 1, false},          // named user 10: x masked out
		{10, nil, 6, true},           // rw through the mask
		{30, []uint32{5}, 4, true},   // owning group (5) reads
		{30, []uint32{5}, 2, false},  // owning group may not write
		{30, []uint32{20}, 2, true},  // named group 20 writes
		{30, []uint32{20}, 4, false}, // a group matched: others do not count
		{30, []uint32{5, 20}, 2, true},
		{40, nil, 4, true}, // others
		{40, nil, 2, false},
	} {
		if got := aclPermits(acl, c.uid, c.groups, 1, 5, c.want); got != c.ok {
			t.Errorf("uid %d groups %v want %o: %v, want %v", c.uid, c.groups, c.want, got, c.ok)
		}
	}
	if aclAllPermit(acl, 4) {
		t.Errorf("everyone may read, though named group 20 may not")
	}
	if !aclAllPermit([]aclEntry{{aclUserObj, 6, 0}, {aclUser, 4, 10}, {aclGroupObj, 4, 0}, {aclMask, 4, 0}, {aclOther, 4, 0}}, 4) {
		t.Errorf("everyone may not read, though every entry grants it")
	}
	if parseACL(aclBytes(acl...)) == nil || len(parseACL(aclBytes(acl...))) != len(acl) || parseACL([]byte{1, 0, 0, 0}) != nil {
		t.Errorf("parseACL round trip")
	}
}
