package fs

import (
	"context"
	"strconv"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
)

// RevisionXattr shows a managed file's revision on the mount.
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
	sz, err := n.r.d.GetXattr(rel, attr, dest)
	return uint32(sz), errno(err)
}

func (n *Node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return errno(n.r.d.SetXattr(n.rel(), attr, data, int(flags)))
}

func (n *Node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return errno(n.r.d.RemoveXattr(n.rel(), attr))
}

func (n *Node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	rel := n.rel()
	names, err := n.r.d.ListXattr(rel)
	if err != nil {
		return 0, errno(err)
	}
	if n.r.d.Managed(rel) {
		names = append(names, RevisionXattr)
	}
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
