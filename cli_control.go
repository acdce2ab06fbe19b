package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/paracfs/paracfs/backing"
	pfs "github.com/paracfs/paracfs/fs"
)

// errNotMounted says that DIR has no running paracfs mount to ask.
var errNotMounted = errors.New("not mounted by paracfs")

// mountOf finds the running paracfs mount serving dir: the mount whose
// backing directory or mountpoint is dir (so both `paracfs X .parac` and
// `paracfs X MOUNTPOINT` work).
func mountOf(dir string) (mountEntry, error) {
	ms, err := paracfsMounts()
	if err != nil {
		return mountEntry{}, err
	}
	for i := len(ms) - 1; i >= 0; i-- {
		if (ms[i].Mountpoint == dir || ms[i].Dir == dir) && !isStale(ms[i].Mountpoint) {
			return ms[i], nil
		}
	}
	return mountEntry{}, fmt.Errorf("%s: %w (run paracfs mount %s first)", dir, errNotMounted, dir)
}

// controlCall sends one request to the daemon serving mountpoint through
// its control file (.paracfs/control) and returns the reply's result. A
// daemon of another protocol version that cannot answer is a
// *pfs.SkewError naming mountpoint.
func controlCall[R any](mountpoint string, req pfs.Request[R]) (R, error) {
	var none R
	b, err := pfs.EncodeRequest(req)
	if err != nil {
		return none, err
	}
	path := filepath.Join(mountpoint, backing.ControlFile)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return none, fmt.Errorf("cannot reach the daemon of %s: %w", mountpoint, err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return none, fmt.Errorf("cannot reach the daemon of %s: %w", mountpoint, err)
	}
	out, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<40))
	if err != nil {
		return none, fmt.Errorf("cannot reach the daemon of %s: %w", mountpoint, err)
	}
	res, err := pfs.DecodeReply[R](req.Op(), out)
	var skew *pfs.SkewError
	switch {
	case errors.As(err, &skew):
		skew.Mountpoint = mountpoint
	case errors.Is(err, pfs.ErrUnreadableReply):
		err = fmt.Errorf("the daemon of %s gave %w", mountpoint, err)
	}
	return res, err
}
