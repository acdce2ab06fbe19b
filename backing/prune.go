package backing

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
)

// PruneLog removes the change log's entries stamped before cutoff
// (paracle's clear_old_changes) and returns how many it removed and kept.
//
// It holds the log's append lock throughout: it writes the entries it
// keeps to a temp file beside the log, fsyncs it, renames it over the log
// and fsyncs the directory; the lines appended meanwhile to the old file by
// processes writing to DIR directly are copied over after the rename; then
// appends resume, into the new file. An append through the mount waits,
// and lands in the new file. A kill at any point leaves the old log or the
// new one, never a mix (the temp file is removed at the next start). The
// prune is logged as one line of its own, op "prune".
func (d *Dir) PruneLog(cutoff time.Time, c Caller) (removed, kept int, err error) {
	if err := d.begin(); err != nil {
		return 0, 0, err
	}
	defer d.inflight.Done()
	if err := d.openLog(false); err != nil {
		return 0, 0, err
	}
	d.logMu.Lock()
	if d.log == nil {
		d.logMu.Unlock()
		return 0, 0, nil // no log yet: nothing to prune
	}
	var newf *os.File
	err = d.log.Replace(func(old *os.File) (*os.File, error) {
		var err error
		newf, removed, kept, err = d.rewriteLog(old, cutoff)
		return newf, err
	})
	if err == nil {
		d.logf.Close()
		d.logf = newf
	}
	d.logMu.Unlock()
	if err != nil {
		return 0, 0, fmt.Errorf("pruning the change log %s: %w", d.cfg.LogPath, err)
	}
	e := d.entry("prune", "", c)
	e.Description = fmt.Sprintf("pruned the change log: removed %d entries stamped before %s, kept %d lines",
		removed, changelog.Timestamp(cutoff), kept)
	d.appendLog(e)
	return removed, kept, nil
}

// rewriteLog writes old minus its entries before cutoff to a temp file and
// renames it over the log; it returns the new file, open for appending.
func (d *Dir) rewriteLog(old *os.File, cutoff time.Time) (newf *os.File, removed, kept int, err error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(old.Fd()), &st); err != nil {
		return nil, 0, 0, err
	}
	pfd, base, err := d.parent(d.cfg.LogPath)
	if err != nil {
		return nil, 0, 0, err
	}
	defer d.closeParent(pfd)
	tmp := tempName(base)
	fd, err := unix.Openat(pfd, tmp, unix.O_RDWR|unix.O_APPEND|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, st.Mode&0o7777)
	if err != nil {
		return nil, 0, 0, err
	}
	f := os.NewFile(uintptr(fd), d.cfg.LogPath)
	fail := func(err error) (*os.File, int, int, error) {
		f.Close()
		unix.Unlinkat(pfd, tmp, 0)
		return nil, 0, 0, err
	}
	unix.Fchown(fd, int(st.Uid), int(st.Gid)) // keep the log's owner, best effort
	unix.Fchmod(fd, st.Mode&0o7777)
	bw := bufio.NewWriterSize(f, 256<<10)
	removed, kept, err = changelog.Prune(bw, io.NewSectionReader(old, 0, st.Size), cutoff)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = unix.Renameat(pfd, tmp, pfd, base)
	}
	if err != nil {
		return fail(err)
	}
	fsyncDir(pfd)
	// Lines that a process writing to DIR directly (not through the mount)
	// appended to the old file while it was copied.
	if fi, err := old.Stat(); err == nil && fi.Size() > st.Size {
		io.Copy(f, io.NewSectionReader(old, st.Size, fi.Size()-st.Size))
	}
	return f, removed, kept, nil
}
