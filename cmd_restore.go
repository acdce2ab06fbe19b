package main

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	pfs "github.com/paracfs/paracfs/fs"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

// --- restore

func restoreFlagSet() *pflag.FlagSet {
	return flagSet("restore", "FILE@REV",
		"Commits revision REV of FILE again, as an ordinary commit through the mount: revision-\n"+
			"checked against the revision current when you ran it (someone committing in between\n"+
			"makes it a conflict, refused), and logged with op \"restore\". Needs the mount.")
}

func runRestore(args []string) error {
	flags := restoreFlagSet()
	if err := parse(flags, args, 1); err != nil {
		return err
	}
	if flags.NArg() != 1 {
		return usageError{"name FILE@REV (run 'paracfs restore --help')"}
	}
	f, err := resolveFile(flags.Arg(0))
	if err != nil {
		return err
	}
	if !f.hasRev {
		return noRev(flags.Arg(0), "FILE@REV")
	}
	if f.mount == nil {
		return fmt.Errorf("%s: restore needs the mount, and %s is not mounted: run paracfs mount %s first", f, f.root, f.root)
	}
	// Fail early, and clearly, on a revision that is not kept.
	if _, err := f.content(); err != nil {
		return err
	}
	live := filepath.Join(f.mount.Mountpoint, filepath.FromSlash(f.rel))
	base := int64(-1)
	buf := make([]byte, 32)
	if n, err := unix.Getxattr(live, "user.paracfs.revision", buf); err == nil {
		if base, err = strconv.ParseInt(string(buf[:n]), 10, 64); err != nil {
			return fmt.Errorf("%s: unreadable revision %q", live, buf[:n])
		}
	} else if err != unix.ENOENT {
		return fmt.Errorf("%s: reading its revision: %v", live, err)
	}
	res, err := controlCall(f.mount.Mountpoint, pfs.RestoreRequest{Path: f.rel, Rev: f.rev, Base: base})
	if err != nil {
		if strings.Contains(err.Error(), "conflict refused") {
			return fmt.Errorf("%v\nsomeone committed %s after revision %d: see paracfs history %s, then restore again", err, f.rel, base, f.rel)
		}
		return err
	}
	if !res.Changed {
		fmt.Printf("%s already has the content of revision %d (revision %d): nothing committed\n", f.rel, f.rev, res.Revision)
		return nil
	}
	fmt.Printf("restored %s as revision %d\n", f, res.Revision)
	return nil
}
