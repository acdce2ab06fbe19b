package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// runLoopback serves a plain go-fuse loopback mount of SRC on MNT until
// SIGTERM, with the options of go-fuse's own example/loopback (1 s entry
// and attribute timeouts, the libfuse defaults): the FUSE floor.
//
// With --strict it is configured the way paracfs serves managed files:
// no attribute caching for regular files and direct I/O on every open.
// That variant is a diagnostic: it separates what paracfs's cache policy
// costs from what its code costs.
func runLoopback(args []string) int {
	fl := flag.NewFlagSet("loopback", flag.ContinueOnError)
	strict := fl.Bool("strict", false, "no attribute caching for files, direct I/O (like paracfs's managed files)")
	debug := fl.Bool("debug", false, "print every FUSE request")
	if err := fl.Parse(args); err != nil || fl.NArg() != 2 {
		fmt.Println("usage: benchsuite loopback [--strict] [--debug] SRC MNT")
		return 2
	}
	src, mnt := fl.Arg(0), fl.Arg(1)
	root, err := fs.NewLoopbackRoot(src)
	if err != nil {
		fmt.Printf("error: %v\n", err)
		return 1
	}
	sec := time.Second
	opts := &fs.Options{
		EntryTimeout:    &sec,
		AttrTimeout:     &sec,
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			FsName:      src,
			Name:        "loopback",
			DirectMount: os.Geteuid() == 0,
			Debug:       *debug,
		},
	}
	if *strict {
		opts.AttrTimeout = nil // every reply sets its own
		root = &strictNode{LoopbackNode: root.(*fs.LoopbackNode)}
	}
	// Signals are caught before the mount exists: the suite may ask for
	// the unmount as soon as it reads "ok".
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
	server, err := fs.Mount(mnt, root, opts)
	if err != nil {
		fmt.Printf("error: mount %s: %v\n", mnt, err)
		return 1
	}
	fmt.Println("ok")
	go func() {
		<-sigs
		if err := server.Unmount(); err != nil {
			unix.Unmount(mnt, unix.MNT_DETACH)
		}
	}()
	server.Wait()
	return 0
}

// strictNode is a loopback node served like a paracfs managed file:
// regular files' attributes are never cached and their reads use direct
// I/O; directories keep a 1 s attribute timeout.
type strictNode struct {
	*fs.LoopbackNode
}

var (
	_ = (fs.NodeWrapChilder)((*strictNode)(nil))
	_ = (fs.NodeOpener)((*strictNode)(nil))
	_ = (fs.NodeGetattrer)((*strictNode)(nil))
	_ = (fs.NodeLookuper)((*strictNode)(nil))
)

func (n *strictNode) WrapChild(ctx context.Context, ops fs.InodeEmbedder) fs.InodeEmbedder {
	return &strictNode{LoopbackNode: ops.(*fs.LoopbackNode)}
}

func (n *strictNode) Open(ctx context.Context, flags uint32) (fs.FileHandle, uint32, syscall.Errno) {
	fh, ff, e := n.LoopbackNode.Open(ctx, flags)
	return fh, ff | fuse.FOPEN_DIRECT_IO, e
}

func (n *strictNode) Getattr(ctx context.Context, f fs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	e := n.LoopbackNode.Getattr(ctx, f, out)
	out.SetTimeout(timeoutFor(out.Mode))
	return e
}

func (n *strictNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*fs.Inode, syscall.Errno) {
	ch, e := n.LoopbackNode.Lookup(ctx, name, out)
	if e == 0 {
		out.SetAttrTimeout(timeoutFor(out.Mode))
	}
	return ch, e
}

func timeoutFor(mode uint32) time.Duration {
	if mode&syscall.S_IFMT == syscall.S_IFREG {
		return 0
	}
	return time.Second
}
