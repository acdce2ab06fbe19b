package backing

import (
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Meta is the metadata a writer gave its new version: what fchmod,
// fchown, futimens and fsetxattr set on a handle before it committed, or
// a renamed file's own. A commit applies it to the file it writes; what
// Meta leaves alone comes from P as it was (mode, owner, ACL, user.*
// xattrs) or, for the times, is the commit's own (now).
type Meta struct {
	Mode    uint32 // permission bits, when HasMode
	HasMode bool
	// Uid and Gid are the owner to give the file; -1 keeps P's (the
	// caller's for a new file). NewMeta sets both to -1.
	Uid, Gid int
	// Atime and Mtime were set explicitly after the last write;
	// Nsec == UTIME_OMIT leaves the commit's own.
	Atime, Mtime unix.Timespec
	Xattrs       map[string][]byte   // set; ACLs included (system.posix_acl_access)
	Removed      map[string]struct{} // removed
	// Whole says Xattrs are all the file has (a renamed file's): P's
	// own are not kept.
	Whole bool
}

// NewMeta is a Meta that changes nothing.
func NewMeta() Meta {
	omit := unix.Timespec{Nsec: unix.UTIME_OMIT}
	return Meta{Uid: -1, Gid: -1, Atime: omit, Mtime: omit}
}

// SetXattr records an xattr set on the writer's handle. An access ACL
// also sets the permission bits it stands for, as on a plain file.
func (m *Meta) SetXattr(name string, value []byte, curMode uint32) {
	if m.Xattrs == nil {
		m.Xattrs = map[string][]byte{}
	}
	m.Xattrs[name] = append([]byte(nil), value...)
	delete(m.Removed, name)
	if name == aclAccess {
		if bits, ok := aclModeBits(value); ok {
			if !m.HasMode {
				m.Mode = curMode & 0o7777
			}
			m.Mode, m.HasMode = m.Mode&^0o777|bits, true
		}
	}
}

// RemoveXattr records an xattr removed on the writer's handle.
func (m *Meta) RemoveXattr(name string) {
	if m.Removed == nil {
		m.Removed = map[string]struct{}{}
	}
	m.Removed[name] = struct{}{}
	delete(m.Xattrs, name)
}

// Touched reports whether the writer set anything.
func (m *Meta) Touched() bool {
	return m.HasMode || m.Uid >= 0 || m.Gid >= 0 || m.Atime.Nsec != unix.UTIME_OMIT ||
		m.Mtime.Nsec != unix.UTIME_OMIT || len(m.Xattrs) > 0 || len(m.Removed) > 0 || m.Whole
}

const (
	aclAccess  = "system.posix_acl_access"
	aclDefault = "system.posix_acl_default"
)

// carriedXattr reports whether a commit carries xattr name from one version
// of a file to the next: the user's own (user.*, not paracfs's) and the
// access ACL. Others (security.capability above all) go, as a write on a
// plain file drops file capabilities.
func carriedXattr(name string) bool {
	return name == aclAccess || (strings.HasPrefix(name, "user.") && !strings.HasPrefix(name, xattrPrefix))
}

// readXattrs reads the carried xattrs of the file at path (not following a
// final symlink).
func readXattrs(path string) map[string][]byte {
	out := map[string][]byte{}
	sz, err := unix.Llistxattr(path, nil)
	if err != nil || sz == 0 {
		return out
	}
	buf := make([]byte, sz)
	if sz, err = unix.Llistxattr(path, buf); err != nil {
		return out
	}
	for _, name := range strings.Split(string(buf[:sz]), "\x00") {
		if !carriedXattr(name) {
			continue
		}
		n, err := unix.Lgetxattr(path, name, nil)
		if err != nil {
			continue
		}
		v := make([]byte, n)
		if n, err = unix.Lgetxattr(path, name, v); err == nil {
			out[name] = v[:n]
		}
	}
	return out
}

// FileMeta is the metadata of rel that a rename onto a managed name
// carries along: mode, owner, times and carried xattrs.
func (d *Dir) FileMeta(rel string, st *unix.Stat_t) Meta {
	m := NewMeta()
	m.Mode, m.HasMode = st.Mode&0o7777, true
	m.Uid, m.Gid = int(st.Uid), int(st.Gid)
	m.Atime, m.Mtime = st.Atim, st.Mtim
	m.Whole = true
	d.atParent(rel, func(pfd int, leaf string) error {
		m.Xattrs = readXattrs(procAt(pfd, leaf))
		return nil
	})
	return m
}

// HasDefaultACL reports whether the directory that holds rel has a
// default ACL: a file created there takes its permissions from it, and
// the creator's umask does not apply.
func (d *Dir) HasDefaultACL(rel string) bool {
	dir, _ := split(rel)
	if dir == "" {
		dir = "."
	}
	fd, err := d.openat(dir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return false
	}
	defer unix.Close(fd)
	n, err := unix.Getxattr("/proc/self/fd/"+strconv.Itoa(fd), aclDefault, nil)
	return err == nil && n > 4
}

// aclModeBits is the rwxrwxrwx a POSIX access ACL (its xattr form) stands
// for: the owner's entry, the mask (the group's entry without one), and
// the others' entry.
func aclModeBits(v []byte) (uint32, bool) {
	if len(v) < 4 || binary.LittleEndian.Uint32(v) != 2 {
		return 0, false
	}
	var user, group, mask, other uint32
	hasMask := false
	for e := v[4:]; len(e) >= 8; e = e[8:] {
		tag, perm := binary.LittleEndian.Uint16(e), uint32(binary.LittleEndian.Uint16(e[2:]))&7
		switch tag {
		case 0x01:
			user = perm
		case 0x04:
			group = perm
		case 0x10:
			mask, hasMask = perm, true
		case 0x20:
			other = perm
		}
	}
	if hasMask {
		group = mask
	}
	return user<<6 | group<<3 | other, true
}

// killPriv clears setuid, and setgid on a group-executable file, when a
// user without CAP_FSETID (anyone but root) writes the file, as the
// kernel does for a write on a plain file.
func killPriv(mode uint32, c Caller) uint32 {
	if c.Uid == 0 {
		return mode
	}
	mode &^= unix.S_ISUID
	if mode&(unix.S_ISGID|unix.S_IXGRP) == unix.S_ISGID|unix.S_IXGRP {
		mode &^= unix.S_ISGID
	}
	return mode
}

// touchWritten gives P, which a writer saved with the very bytes it
// holds, the times a write gives a plain file: mtime and ctime now (the
// kernel sets both on a write, an O_TRUNC open or ftruncate, whether the
// bytes change or not). A rename onto P (From) brings the renamed file's
// own times instead (applyMeta), and so does a writer that set mtime
// itself after its last write.
func touchWritten(pfd int, leaf string, w Write) error {
	if w.From != "" || (w.Meta != nil && w.Meta.Mtime.Nsec != unix.UTIME_OMIT) {
		return nil
	}
	return unix.UtimesNanoAt(pfd, leaf, []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_NOW}}, unix.AT_SYMLINK_NOFOLLOW)
}

// applyMeta gives P itself, in place, the metadata a write of the very
// bytes P holds brought along (cp -p of an unchanged file, a rename of a
// copy): there is no new version to carry it.
func (d *Dir) applyMeta(pfd int, leaf string, w Write, cur current) error {
	if w.Meta == nil || !w.Meta.Touched() {
		return nil
	}
	fd, err := unix.Openat(pfd, leaf, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	m := *w.Meta
	if m.Whole {
		for name := range readXattrs(procAt(pfd, leaf)) {
			if _, ok := m.Xattrs[name]; !ok {
				unix.Fremovexattr(fd, name)
			}
		}
	}
	for name, v := range m.Xattrs {
		if err := unix.Fsetxattr(fd, name, v, 0); err != nil && err != unix.ENOTSUP {
			return fmt.Errorf("setting %s: %w", name, err)
		}
	}
	for name := range m.Removed {
		unix.Fremovexattr(fd, name)
	}
	if uid, gid := fileOwner(w, cur); os.Geteuid() == 0 && (uint32(uid) != cur.st.Uid || uint32(gid) != cur.st.Gid) {
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return err
		}
	}
	if m.HasMode {
		if err := unix.Fchmod(fd, m.Mode&0o7777); err != nil {
			return err
		}
	}
	if m.Atime.Nsec != unix.UTIME_OMIT || m.Mtime.Nsec != unix.UTIME_OMIT {
		return unix.UtimesNanoAt(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), []unix.Timespec{m.Atime, m.Mtime}, 0)
	}
	return nil
}
