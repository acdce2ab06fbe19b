package fs

import (
	"context"
	"strconv"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
)

// RevisionXattr shows a managed file's revision on the mount, to a
// getxattr by name; listxattr does not list it.
const RevisionXattr = "user.paracfs.revision"

var (
	_ = (fs.NodeGetxattrer)((*Node)(nil))
	_ = (fs.NodeSetxattrer)((*Node)(nil))
	_ = (fs.NodeListxattrer)((*Node)(nil))
	_ = (fs.NodeRemovexattrer)((*Node)(nil))
)

func (n *Node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	rel := n.rel()
	if attr == RevisionXattr {
		if !n.r.d.Managed(rel) {
			return 0, syscall.ENODATA
		}
		rev, err := n.r.d.Revision(rel)
		if err != nil {
			return 0, errno(err)
		}
		v := strconv.FormatInt(rev, 10)
		if len(dest) < len(v) {
			return uint32(len(v)), syscall.ERANGE
		}
		return uint32(copy(dest, v)), 0
	}
	if w := n.writerFor(ctx); w != nil && handleXattr(attr) {
		if v, removed, known := w.xattr(attr); known || n.isPending() {
			if removed || !known {
				return 0, syscall.ENODATA
			}
			if len(dest) < len(v) {
				return uint32(len(v)), syscall.ERANGE
			}
			return uint32(copy(dest, v)), 0
		}
	}
	sz, err := n.r.d.GetXattr(rel, attr, dest)
	return uint32(sz), errno(err)
}

// Setxattr sets an xattr. On a handle that has not committed yet, the
// user's xattrs and the ACL belong to what it commits (see meta.go).
func (n *Node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	if w := n.writerFor(ctx); w != nil && handleXattr(attr) {
		if attr == "system.posix_acl_access" && !validACL(data) {
			return syscall.EINVAL
		}
		return w.setXattr(attr, data, flags, func(name string) bool {
			_, err := n.r.d.GetXattr(n.rel(), name, nil)
			return err == nil
		})
	}
	if n.IsDir() {
		defer n.dirChanging()()
	}
	err := n.r.d.SetXattr(n.rel(), attr, data, int(flags))
	n.aclChanged(attr, err)
	return errno(err)
}

// aclChanged drops the kernel's cached attributes after an ACL was set or
// removed: the backing filesystem has changed the mode's group bits (the
// mask) with it, and stat must show them at once, as on a plain file.
func (n *Node) aclChanged(attr string, err error) {
	if err == nil && (attr == "system.posix_acl_access" || attr == "system.posix_acl_default") {
		n.r.invalidate(n.EmbeddedInode())
	}
}

func (n *Node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	if w := n.writerFor(ctx); w != nil && handleXattr(attr) {
		_, removed, known := w.xattr(attr)
		if removed || (!known && n.isPending()) {
			return syscall.ENODATA
		}
		if !known {
			if _, err := n.r.d.GetXattr(n.rel(), attr, nil); err != nil {
				return errno(err)
			}
		}
		w.mu.Lock()
		w.metaLocked().RemoveXattr(attr)
		w.mu.Unlock()
		return 0
	}
	if n.IsDir() {
		defer n.dirChanging()()
	}
	err := n.r.d.RemoveXattr(n.rel(), attr)
	n.aclChanged(attr, err)
	return errno(err)
}

// validACL checks the form of an access ACL's xattr value: version 2,
// then whole 8-byte entries.
func validACL(v []byte) bool {
	return len(v) >= 4 && v[0] == 2 && v[1] == 0 && v[2] == 0 && v[3] == 0 && (len(v)-4)%8 == 0
}

func (n *Node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	rel := n.rel()
	var names []string
	var err error
	w := n.writerFor(ctx)
	if w == nil || !n.isPending() {
		if names, err = n.r.d.ListXattr(rel); err != nil {
			return 0, errno(err)
		}
	}
	if w != nil {
		names = w.xattrNames(names)
	}
	// The revision (RevisionXattr) is read by its name and left out of
	// the list: copying tools (cp -a, rsync -X, tar --xattrs) would copy
	// it to other files, or try to remove it here when the source has
	// none.
	var b []byte
	for _, name := range names {
		b = append(b, name...)
		b = append(b, 0)
	}
	if len(dest) < len(b) {
		return uint32(len(b)), syscall.ERANGE
	}
	return uint32(copy(dest, b)), 0
}
