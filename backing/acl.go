package backing

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
)

// POSIX ACLs in paracfs's own access checks. The kernel decides access
// to files through the mount from their ACLs (FUSE_POSIX_ACL, with
// --allow-other), as ext4 does; paracfs decides who may read what it
// derives from a file (its versions, its values in the log and status) by
// the same rules, so that an ACL entry that denies a user the file denies
// it those too, and one that grants grants them.

// aclEntry is one entry of an access ACL as the kernel stores it in
// system.posix_acl_access: a tag, the rwx bits, and a user or group id.
type aclEntry struct {
	tag  uint16
	perm uint32
	id   uint32
}

// The ACL entry tags (linux/posix_acl.h).
const (
	aclUserObj  = 0x01
	aclUser     = 0x02
	aclGroupObj = 0x04
	aclGroup    = 0x08
	aclMask     = 0x10
	aclOther    = 0x20
)

// parseACL decodes the xattr form of an ACL (version 2, then 8-byte
// little-endian entries); nil if b is not one.
func parseACL(b []byte) []aclEntry {
	if len(b) < 4 || (len(b)-4)%8 != 0 || binary.LittleEndian.Uint32(b) != 2 {
		return nil
	}
	var out []aclEntry
	for i := 4; i < len(b); i += 8 {
		out = append(out, aclEntry{
			tag:  binary.LittleEndian.Uint16(b[i:]),
			perm: uint32(binary.LittleEndian.Uint16(b[i+2:])) & 7,
			id:   binary.LittleEndian.Uint32(b[i+4:]),
		})
	}
	return out
}

// accessACL reads rel's access ACL, never following a link; nil when it
// has none beyond its mode bits (or it cannot be read: the mode decides).
func (d *Dir) accessACL(rel string) []aclEntry {
	pfd, leaf := d.fd, ""
	if rel != "" {
		dir, name := split(rel)
		if dir != "." {
			r, err := d.dirs.get(d, dir)
			if err != nil {
				return nil
			}
			defer d.dirs.put(r)
			pfd = r.fd
		}
		leaf = name
	}
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(procAt(pfd, leaf), aclAccess, buf)
	if err == unix.ERANGE {
		if n, err = unix.Lgetxattr(procAt(pfd, leaf), aclAccess, nil); err == nil {
			buf = make([]byte, n)
			n, err = unix.Lgetxattr(procAt(pfd, leaf), aclAccess, buf)
		}
	}
	if err != nil {
		return nil
	}
	acl := parseACL(buf[:n])
	for _, e := range acl {
		if e.tag == aclUser || e.tag == aclGroup {
			return acl
		}
	}
	return nil // a minimal ACL says what the mode bits say
}

// aclPermits decides as the kernel does (posix_acl_permission) whether a
// caller with uid and groups gets the bits want on a file of owner and
// group that carries acl. Root is decided before.
func aclPermits(acl []aclEntry, uid uint32, groups []uint32, owner, group, want uint32) bool {
	mask := aclMaskOf(acl)
	for _, e := range acl {
		if e.tag == aclUserObj && uid == owner {
			return e.perm&want == want
		}
	}
	for _, e := range acl {
		if e.tag == aclUser && e.id == uid {
			return e.perm&mask&want == want
		}
	}
	found := false
	for _, e := range acl {
		if (e.tag == aclGroupObj && containsGid(groups, group)) || (e.tag == aclGroup && containsGid(groups, e.id)) {
			if e.perm&mask&want == want {
				return true
			}
			found = true
		}
	}
	if found {
		return false
	}
	for _, e := range acl {
		if e.tag == aclOther {
			return e.perm&want == want
		}
	}
	return false
}

// aclAllPermit reports whether every user but the owner gets want from
// acl: each named user and group, the owning group (through the mask),
// and the others.
func aclAllPermit(acl []aclEntry, want uint32) bool {
	mask := aclMaskOf(acl)
	for _, e := range acl {
		eff := e.perm
		switch e.tag {
		case aclUserObj, aclMask:
			continue
		case aclUser, aclGroupObj, aclGroup:
			eff &= mask
		}
		if eff&want != want {
			return false
		}
	}
	return true
}

// aclMaskOf is acl's mask entry: what named users and groups, and the
// owning group, may get at most (rwx when it has none).
func aclMaskOf(acl []aclEntry) uint32 {
	for _, e := range acl {
		if e.tag == aclMask {
			return e.perm
		}
	}
	return 7
}
