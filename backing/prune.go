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
// It copies the lines it keeps to a temp file beside the log in two
// passes. The first copies the log as it is, and fsyncs, while appends go
// on. The second holds the log's append lock: it copies what was appended
// meanwhile, fsyncs, renames the temp file over the log and fsyncs the
// directory; then appends resume, into the new file. So an append waits
// only for the second pass (the lines of a few moments), never for a copy
// of the whole log, and lands in the new file. Lines that processes
// writing to DIR directly (not through the mount) appended to the old file
// during the rename are copied over after it. A kill at any point leaves
// the old log or the new one, never a mix (the temp file is removed at the
// next start). The prune is logged as one line of its own, op "prune".
func (d *Dir) PruneLog(cutoff time.Time, c Caller) (removed, kept int, err error) {
	if err := d.begin(); err != nil {
		return 0, 0, err
	}
	defer d.inflight.Done()
	d.log.pruneMu.Lock()
	defer d.log.pruneMu.Unlock()
	if err := d.openLog(false); err != nil {
		return 0, 0, err
	}
	d.log.mu.Lock()
	w, old := d.log.w, d.log.f
	d.log.mu.Unlock()
	if w == nil {
		return 0, 0, nil // no log yet: nothing to prune
	}
	p, err := d.startPrune(old, cutoff)
	if err != nil {
		return 0, 0, fmt.Errorf("pruning the change log %s: %w", d.Config().LogPath, err)
	}
	defer d.closeParent(p.pfd)
	d.log.mu.Lock()
	err = w.Replace(func(cur *os.File) (*os.File, error) {
		if cur != old {
			return nil, fmt.Errorf("the log was reopened during the prune")
		}
		return p.finish(old)
	})
	if err == nil {
		d.log.f = p.f
	}
	d.log.mu.Unlock()
	if err != nil {
		p.abort()
		return 0, 0, fmt.Errorf("pruning the change log %s: %w", d.Config().LogPath, err)
	}
	old.Close()
	e := d.entry(changelog.OpPrune, "", c)
	e.Description = fmt.Sprintf("pruned the change log: removed %d entries stamped before %s, kept %d lines",
		p.removed, changelog.Timestamp(cutoff), p.kept)
	d.appendLog(e)
	d.markLogSynced() // lines recovery would look for may be pruned away
	return p.removed, p.kept, nil
}

// prune is a rewrite of the log under way.
type prune struct {
	pfd           int    // the log's directory
	leaf, tmp     string // the log's name and the temp file's, in pfd
	f             *os.File
	cutoff        time.Time
	done          int64 // bytes of the old log copied
	removed, kept int
}

// startPrune copies old, as it is now, minus its entries before cutoff, to
// a temp file beside it, and fsyncs that.
func (d *Dir) startPrune(old *os.File, cutoff time.Time) (*prune, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(old.Fd()), &st); err != nil {
		return nil, err
	}
	pfd, leaf, err := d.parent(d.Config().LogPath)
	if err != nil {
		return nil, err
	}
	p := &prune{pfd: pfd, leaf: leaf, tmp: tempName(leaf), cutoff: cutoff}
	fd, err := unix.Openat(pfd, p.tmp, unix.O_RDWR|unix.O_APPEND|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, st.Mode&0o7777)
	if err != nil {
		d.closeParent(pfd)
		return nil, err
	}
	p.f = os.NewFile(uintptr(fd), d.Config().LogPath)
	unix.Fchown(fd, int(st.Uid), int(st.Gid)) // keep the log's owner and mode, best effort
	unix.Fchmod(fd, st.Mode&0o7777)
	if err := p.copy(old, st.Size); err != nil {
		p.abort()
		d.closeParent(pfd)
		return nil, err
	}
	return p, nil
}

// copy appends old's bytes from p.done to size, minus old entries, to the
// temp file, and fsyncs it.
func (p *prune) copy(old *os.File, size int64) error {
	if size < p.done {
		return fmt.Errorf("the log shrank from %d to %d bytes during the prune", p.done, size)
	}
	bw := bufio.NewWriterSize(p.f, 256<<10)
	removed, kept, err := changelog.Prune(bw, io.NewSectionReader(old, p.done, size-p.done), p.cutoff)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = p.f.Sync()
	}
	if err != nil {
		return err
	}
	p.done, p.removed, p.kept = size, p.removed+removed, p.kept+kept
	return nil
}

// finish copies what was appended since startPrune and renames the temp
// file over the log. The caller holds the append lock.
func (p *prune) finish(old *os.File) (*os.File, error) {
	fi, err := old.Stat()
	if err != nil {
		return nil, err
	}
	if err := p.copy(old, fi.Size()); err != nil {
		return nil, err
	}
	if err := unix.Renameat(p.pfd, p.tmp, p.pfd, p.leaf); err != nil {
		return nil, err
	}
	p.tmp = ""
	fsyncDir(p.pfd)
	if fi, err := old.Stat(); err == nil && fi.Size() > p.done {
		io.Copy(p.f, io.NewSectionReader(old, p.done, fi.Size()-p.done))
	}
	return p.f, nil
}

// abort removes the temp file.
func (p *prune) abort() {
	p.f.Close()
	if p.tmp != "" {
		unix.Unlinkat(p.pfd, p.tmp, 0)
	}
}
