package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/paracfs/paracfs/backing"
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
// its control file (.paracfs/control) and decodes the reply's result into
// result (which may be nil).
func controlCall(mountpoint string, req map[string]any, result any) error {
	path := filepath.Join(mountpoint, backing.ControlFile)
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("cannot reach the daemon of %s: %w", mountpoint, err)
	}
	defer f.Close()
	b, err := json.Marshal(req)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("cannot reach the daemon of %s: %w", mountpoint, err)
	}
	out, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<40))
	if err != nil {
		return fmt.Errorf("cannot reach the daemon of %s: %w", mountpoint, err)
	}
	var reply struct {
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(out, &reply); err != nil {
		return fmt.Errorf("the daemon of %s gave an unreadable reply %q: %v", mountpoint, out, err)
	}
	if !reply.OK {
		return errors.New(reply.Error)
	}
	if result != nil && len(reply.Result) > 0 {
		return json.Unmarshal(reply.Result, result)
	}
	return nil
}
