package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/paracfs/paracfs/backing"
	"github.com/paracfs/paracfs/changelog"
	pfs "github.com/paracfs/paracfs/fs"
	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
)

func pruneFlagSet(keepDays *int, logPath *string) *pflag.FlagSet {
	flags := flagSet("log prune", "[--keep-days N] [DIR]",
		"Removes the change log's entries older than N days (paracle's clear_old_changes) and\n"+
			"says how many it removed. Lines that are not log entries are kept. When DIR is mounted,\n"+
			"the daemon does it while holding the log's append lock, so that no line appended\n"+
			"meanwhile is lost; the prune is logged (op prune). Only the mount's owner may prune.")
	flags.IntVar(keepDays, "keep-days", 30, "keep the entries of the last N days (0: remove every entry stamped before now)")
	flags.StringVar(logPath, "log", "", "change log, relative to DIR, when DIR is not mounted (default: "+backing.DefaultLogPath+"; a mount prunes its own)")
	flags.SetAnnotation("log", annotFiles, []string{"jsonl"})
	return flags
}

func runPrune(args []string) error {
	keepDays, logPath := new(int), new(string)
	flags := pruneFlagSet(keepDays, logPath)
	if err := parse(flags, args, 1); err != nil {
		return err
	}
	if *keepDays < 0 {
		return usageError{"--keep-days must be 0 or more"}
	}
	dir, err := dirArg(flags.Args(), 0)
	if err != nil {
		return err
	}
	cutoff := time.Now().Add(-time.Duration(*keepDays) * 24 * time.Hour)
	var removed, kept int
	m, err := mountOf(dir)
	switch {
	case err == nil:
		res, err := controlCall(m.Mountpoint, pfs.LogPruneRequest{Before: cutoff.UTC().Format(time.RFC3339Nano)})
		if err != nil {
			return err
		}
		removed, kept = res.Removed, res.Kept
	case errors.Is(err, errNotMounted):
		if *logPath == "" {
			*logPath = logPathOf(dir)
		}
		if removed, kept, err = pruneFile(dir, *logPath, cutoff); err != nil {
			return err
		}
		appendEntry(dir, *logPath, &changelog.Entry{ChangeType: changelog.OpPrune, Op: changelog.OpPrune, Description: fmt.Sprintf(
			"pruned the change log: removed %d entries stamped before %s, kept %d lines", removed, changelog.Timestamp(cutoff), kept)})
	default:
		return err
	}
	fmt.Printf("removed %d entries older than %d days (stamped before %s), kept %d lines\n",
		removed, *keepDays, changelog.LocalTime(cutoff), kept)
	return nil
}

// pruneFile prunes a log that no daemon serves: the same temp file, fsync
// and rename as the daemon's, then the lines appended to the old file
// meanwhile are copied over. Everything is opened beneath dir, never
// through a symlink.
func pruneFile(dir, rel string, cutoff time.Time) (removed, kept int, err error) {
	path := filepath.Join(dir, rel)
	old, err := openBeneath(dir, rel, unix.O_RDONLY|unix.O_NONBLOCK, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	defer old.Close()
	st, err := old.Stat()
	if err != nil {
		return 0, 0, err
	}
	if !st.Mode().IsRegular() {
		return 0, 0, fmt.Errorf("%s is not a regular file", path)
	}
	parent, err := openBeneath(dir, filepath.Dir(rel), unix.O_RDONLY|unix.O_DIRECTORY, 0)
	if err != nil {
		return 0, 0, err
	}
	defer parent.Close()
	pfd := int(parent.Fd())
	tmp := backing.TempName(filepath.Base(rel))
	fd, err := unix.Openat(pfd, tmp, unix.O_RDWR|unix.O_APPEND|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, uint32(st.Mode().Perm()))
	if err != nil {
		return 0, 0, &os.PathError{Op: "create", Path: filepath.Join(filepath.Dir(path), tmp), Err: err}
	}
	f := os.NewFile(uintptr(fd), tmp)
	defer f.Close()
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		f.Chown(int(s.Uid), int(s.Gid))
	}
	bw := bufio.NewWriterSize(f, 256<<10)
	removed, kept, err = changelog.Prune(bw, io.NewSectionReader(old, 0, st.Size()), cutoff)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = unix.Renameat(pfd, tmp, pfd, filepath.Base(rel))
	}
	if err != nil {
		unix.Unlinkat(pfd, tmp, 0)
		return 0, 0, fmt.Errorf("pruning %s: %w", path, err)
	}
	parent.Sync()
	if fi, err := old.Stat(); err == nil && fi.Size() > st.Size() {
		io.Copy(f, io.NewSectionReader(old, st.Size(), fi.Size()-st.Size()))
	}
	return removed, kept, nil
}
