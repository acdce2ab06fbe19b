package fs

import (
	"context"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// A new managed file exists only in the handle that created it until it
// commits. The process that created it can already use it by name: a
// lookup, stat or open for reading (Python's NamedTemporaryFile, written
// and flushed, then json.load(open(f.name))) finds the bytes it wrote so
// far. Every other process gets ENOENT until the commit.

// pendingFor returns the uncommitted handle that created n if the
// request comes from the process that opened it (threads count as their
// process), or nil.
func (n *Node) pendingFor(ctx context.Context) *stagedHandle {
	h := n.pendingHandle()
	if h == nil || !sameProcess(ctx, h.opener.Pid) {
		return nil
	}
	return h
}

// pendingChild reports whether name is a file created through the mount,
// by any process, that has not committed yet.
func (n *Node) pendingChild(name string) bool {
	ch := n.GetChild(name)
	if ch == nil {
		return false
	}
	cn, ok := ch.Operations().(*Node)
	return ok && cn.isPending()
}

// openPending opens, for reading, a file the caller created and has not
// committed yet. ok is false when the file is not such a file.
func (n *Node) openPending(ctx context.Context, flags uint32) (fh fs.FileHandle, ok bool) {
	if writes(flags) {
		return nil, false
	}
	h := n.pendingFor(ctx)
	if h == nil {
		return nil, false
	}
	return &pendingReader{h: h}, true
}

// pendingReader reads the bytes its creator's handle holds so far.
type pendingReader struct {
	h *stagedHandle
}

var (
	_ = (fs.FileReader)((*pendingReader)(nil))
	_ = (fs.FileGetattrer)((*pendingReader)(nil))
	_ = (fs.FileFlusher)((*pendingReader)(nil))
)

func (r *pendingReader) openedBy() int { return r.h.opener.Pid }

func (r *pendingReader) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	return r.h.Read(ctx, dest, off)
}

func (r *pendingReader) Getattr(ctx context.Context, out *fuse.AttrOut) syscall.Errno {
	return r.h.Getattr(ctx, out)
}

// Flush does nothing: a reader commits nothing.
func (r *pendingReader) Flush(ctx context.Context) syscall.Errno { return 0 }
