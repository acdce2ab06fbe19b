package fs

import (
	"context"
	"slices"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// A writing handle's own view of its file: what fchmod, fchown, futimens
// and fsetxattr set before the commit, and its size and times, laid over
// the committed attributes (fstat on the handle shows them), with no
// mount.

func TestHandleAttr(t *testing.T) {
	h := &stagedHandle{data: []byte("0123456789"), mode: 0o644}
	committed := fuse.Attr{Mode: syscall.S_IFREG | 0o644, Size: 3, Owner: fuse.Owner{Uid: 10, Gid: 20}, Mtime: 5, Ctime: 5, Atime: 5}

	// Nothing set: the committed attributes, with the copy's size.
	out := committed
	h.attrLocked(&out)
	if out.Size != 10 || out.Blocks != 1 || out.Mode != syscall.S_IFREG|0o644 || out.Uid != 10 || out.Mtime != 5 {
		t.Errorf("bare handle: %+v", out)
	}

	// fchmod, fchown, futimens on the handle.
	in := &fuse.SetAttrIn{SetAttrInCommon: fuse.SetAttrInCommon{
		Valid: fuse.FATTR_MODE | fuse.FATTR_UID | fuse.FATTR_MTIME | fuse.FATTR_ATIME,
		Mode:  syscall.S_IFREG | 0o4750, Owner: fuse.Owner{Uid: 1000},
		Mtime: 1_600_000_000, Mtimensec: 7, Atime: 1_500_000_000, Atimensec: 9,
	}}
	h.setattr(in)
	if h.mode != 0o4750 || h.meta == nil || !h.meta.HasMode || h.meta.Mode != 0o4750 || h.meta.Uid != 1000 || h.meta.Gid != -1 {
		t.Fatalf("setattr recorded mode %#o, meta %+v", h.mode, h.meta)
	}
	out = committed
	h.attrLocked(&out)
	if out.Mode != syscall.S_IFREG|0o4750 || out.Uid != 1000 || out.Gid != 20 ||
		out.Mtime != 1_600_000_000 || out.Mtimensec != 7 || out.Atime != 1_500_000_000 || out.Atimensec != 9 {
		t.Errorf("after setattr: %+v", out)
	}
	if h.ctime.IsZero() || out.Ctime != uint64(h.ctime.Unix()) {
		t.Errorf("ctime %d, want the handle's change time %v", out.Ctime, h.ctime)
	}

	// A write after futimens: the mtime is the write's again, not the one set.
	h.wroteLocked()
	if h.meta.Mtime.Nsec != unix.UTIME_OMIT {
		t.Errorf("a write left the mtime set before it: %+v", h.meta.Mtime)
	}
	out = committed
	h.attrLocked(&out)
	if out.Mtime != uint64(h.wtime.Unix()) || out.Atime != 1_500_000_000 {
		t.Errorf("after a write: mtime %d (want %d), atime %d (want the one set)", out.Mtime, h.wtime.Unix(), out.Atime)
	}
	if time.Since(h.wtime) > time.Hour || h.wtime.IsZero() {
		t.Errorf("write time %v", h.wtime)
	}
}

// TestHandleXattrs checks fsetxattr on a handle before its commit: the
// flags' errnos, what getxattr and listxattr then see, and that an access
// ACL sets the mode it stands for.
func TestHandleXattrs(t *testing.T) {
	h := &stagedHandle{mode: 0o644}
	onFile := map[string]bool{"user.a": true, "user.b": true}
	cur := func(name string) bool { return onFile[name] }

	if e := h.setXattr("user.new", []byte("x"), unix.XATTR_REPLACE, cur); e != syscall.ENODATA {
		t.Errorf("XATTR_REPLACE of an xattr the file lacks: %v, want ENODATA", e)
	}
	if e := h.setXattr("user.a", []byte("x"), unix.XATTR_CREATE, cur); e != syscall.EEXIST {
		t.Errorf("XATTR_CREATE of an xattr the file has: %v, want EEXIST", e)
	}
	if e := h.setXattr("user.new", []byte("v1"), unix.XATTR_CREATE, cur); e != 0 {
		t.Errorf("XATTR_CREATE of a new xattr: %v", e)
	}
	if e := h.setXattr("user.new", []byte("v2"), unix.XATTR_CREATE, cur); e != syscall.EEXIST {
		t.Errorf("XATTR_CREATE of an xattr the handle set: %v, want EEXIST", e)
	}
	if e := h.setXattr("user.a", []byte("A"), unix.XATTR_REPLACE, cur); e != 0 {
		t.Errorf("XATTR_REPLACE of the file's xattr: %v", e)
	}
	h.mu.Lock()
	h.metaLocked().RemoveXattr("user.b")
	h.mu.Unlock()
	if e := h.setXattr("user.b", []byte("B"), unix.XATTR_REPLACE, cur); e != syscall.ENODATA {
		t.Errorf("XATTR_REPLACE of an xattr the handle removed: %v, want ENODATA", e)
	}

	for _, tc := range []struct {
		name           string
		value          string
		removed, known bool
	}{
		{"user.new", "v1", false, true},
		{"user.a", "A", false, true},
		{"user.b", "", true, true},
		{"user.other", "", false, false},
	} {
		v, removed, known := h.xattr(tc.name)
		if string(v) != tc.value || removed != tc.removed || known != tc.known {
			t.Errorf("xattr(%s) = %q, %v, %v; want %q, %v, %v", tc.name, v, removed, known, tc.value, tc.removed, tc.known)
		}
	}
	names := h.xattrNames([]string{"user.a", "user.b", "user.c"})
	sort.Strings(names)
	if want := []string{"user.a", "user.c", "user.new"}; !slices.Equal(names, want) {
		t.Errorf("xattrNames = %q, want %q", names, want)
	}

	// An access ACL (user::rw- group::r-- other::---) sets the mode bits.
	acl := []byte{2, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 4, 0, 4, 0, 0, 0, 0, 0, 0x20, 0, 0, 0, 0, 0, 0, 0}
	if e := h.setXattr("system.posix_acl_access", acl, 0, cur); e != 0 {
		t.Fatalf("setting an access ACL: %v", e)
	}
	if h.mode != 0o640 || !h.meta.HasMode || h.meta.Mode != 0o640 {
		t.Errorf("after an access ACL: handle mode %#o, meta mode %#o (set %v); want 0640", h.mode, h.meta.Mode, h.meta.HasMode)
	}
}

// TestUncommitted checks when a handle holds something its next commit
// will write.
func TestUncommitted(t *testing.T) {
	for _, tc := range []struct {
		h    *stagedHandle
		want bool
	}{
		{&stagedHandle{}, false},
		{&stagedHandle{dirty: true}, true},
		{&stagedHandle{mustCommit: true}, true},
		{&stagedHandle{mustCommit: true, committed: true}, false},
		{&stagedHandle{dirty: true, committed: true}, true}, // written again since
		{&stagedHandle{dirty: true, cancelled: true}, false},
	} {
		if got := tc.h.uncommitted(); got != tc.want {
			t.Errorf("uncommitted(dirty %v, mustCommit %v, committed %v, cancelled %v) = %v, want %v",
				tc.h.dirty, tc.h.mustCommit, tc.h.committed, tc.h.cancelled, got, tc.want)
		}
	}
}

// fallocate on a writing handle: a punched hole and a zeroed range read
// back as zeros and are to be committed; KEEP_SIZE alone changes nothing;
// collapse and insert are refused.
func TestHandleAllocate(t *testing.T) {
	h := &stagedHandle{data: []byte("0123456789")}
	if e := h.Allocate(context.Background(), 0, 100, unix.FALLOC_FL_KEEP_SIZE); e != 0 || string(h.data) != "0123456789" || h.dirty {
		t.Errorf("KEEP_SIZE: %v, %q, dirty %v", e, h.data, h.dirty)
	}
	if e := h.Allocate(context.Background(), 2, 3, unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE); e != 0 || string(h.data) != "01\x00\x00\x0056789" || !h.dirty {
		t.Errorf("punch: %v, %q, dirty %v", e, h.data, h.dirty)
	}
	if e := h.Allocate(context.Background(), 8, 100, unix.FALLOC_FL_ZERO_RANGE|unix.FALLOC_FL_KEEP_SIZE); e != 0 || string(h.data) != "01\x00\x00\x00567\x00\x00" {
		t.Errorf("zero range past the end, keeping the size: %v, %q", e, h.data)
	}
	for _, mode := range []uint32{unix.FALLOC_FL_COLLAPSE_RANGE, unix.FALLOC_FL_INSERT_RANGE, unix.FALLOC_FL_PUNCH_HOLE} {
		if e := h.Allocate(context.Background(), 0, 4, mode); e != syscall.EOPNOTSUPP {
			t.Errorf("mode %#x: %v, want EOPNOTSUPP", mode, e)
		}
	}
	if len(h.data) != 10 {
		t.Errorf("size %d after refused modes, want 10", len(h.data))
	}
}
