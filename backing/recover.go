package backing

import (
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
)

// removeTemps walks DIR and removes the temp files of commits that a killed
// daemon left unfinished. Their target still holds the old version, which
// is the one that was acknowledged, so nothing acknowledged is lost. It
// appends to managed the managed regular files it passes.
func (d *Dir) removeTemps(rel string, managed *[]string) (int, error) {
	entries, err := d.ReadDir(rel, true)
	if err != nil {
		if rel != "." && (err == unix.ENOENT || err == unix.EACCES || err == unix.ELOOP) {
			return 0, nil
		}
		return 0, err
	}
	removed := 0
	for _, e := range entries {
		child := e.Name
		if rel != "." {
			child = rel + "/" + e.Name
		}
		switch {
		case IsTemp(e.Name) && e.Type == unix.DT_REG:
			pfd, leaf, err := d.parent(child)
			if err != nil {
				continue
			}
			if unix.Unlinkat(pfd, leaf, 0) == nil {
				removed++
			}
			d.closeParent(pfd)
		case e.Type == unix.DT_REG && d.Managed(child):
			*managed = append(*managed, child)
		case e.Type == unix.DT_DIR:
			n, err := d.removeTemps(child, managed)
			if err != nil {
				return removed, err
			}
			removed += n
		}
	}
	return removed, nil
}

// recentWindow is the margin before the log's mark (or its last entry)
// within which a commit may have landed without its line being on disk.
const recentWindow = time.Minute

// logUnlogged finds the commits that landed without their log line on
// disk: the daemon was killed between the rename and the append, or a
// power cut took the log's newest lines (the log is appended without an
// fsync; a commit's file and history are fsynced). Such a file carries the
// stamp that commit wrote (its size and mtime still match), and the log
// has no line for its revision. For each, it appends a "recover" line with
// the revision, size and sha256 of the version found, so that the log
// skips no revision, even when the cut left the log empty or missing.
//
// The files looked at are those changed (ctime: an mtime can be set by
// the writer) after the log's mark less a margin: the mark (logMarkFile)
// says up to when the log was on disk, and is set at each start, rotation,
// prune and stop. Without a mark, the margin is taken before the log's
// last entry, and a log without entries has every stamped file checked.
// This costs one open and one xattr read per managed file, and a read of
// the end of the log and of the rotated one only when some file is a
// candidate.
func (d *Dir) logUnlogged(managed []string) {
	defer d.markLogSynced()
	var lst unix.Stat_t
	if d.log.f != nil {
		if err := unix.Fstat(int(d.log.f.Fd()), &lst); err != nil {
			return
		}
	}
	var since time.Time // zero: every stamped file
	if mark, ok := d.readLogMark(); ok {
		since = mark.Add(-recentWindow)
	} else if d.log.f != nil {
		if last, err := changelog.Last(d.log.f, lst.Size, changelog.Filter{}, 1); err == nil && len(last) > 0 {
			if at, err := changelog.ParseTime(last[0].Timestamp); err == nil {
				since = at.Add(-recentWindow)
			}
		}
	}
	type landed struct {
		rel string
		s   stamp
	}
	var cands []landed
	oldest := time.Now()
	for _, rel := range managed {
		fd, err := d.openat(rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		s, ok := stamp{}, false
		if unix.Fstat(fd, &st) == nil && time.Unix(st.Ctim.Unix()).After(since) {
			s, ok = d.revs.stored(fd, rel)
		}
		unix.Close(fd)
		if !ok || s.sha == "" || s.rev < 0 || s.size != st.Size || s.mtime != mtimeNs(&st) {
			continue // changed long before, or not as the daemon left it
		}
		cands = append(cands, landed{rel, s})
		if t := time.Unix(st.Ctim.Unix()); t.Before(oldest) {
			oldest = t
		}
	}
	for _, c := range cands {
		d.repairNewest(c.rel, c.s) // its history record may have been lost with the log's lines
	}
	if len(cands) == 0 {
		return
	}
	logged := map[string]int64{}
	note := func(lines []*changelog.Entry) {
		for _, e := range lines {
			// Refusals (with an errno) carry the current revision, not a new one.
			if e.Revision == nil || e.Errno != "" {
				continue
			}
			if r, ok := logged[e.Path]; !ok || *e.Revision > r {
				logged[e.Path] = *e.Revision
			}
		}
	}
	from := changelog.Filter{Since: oldest.Add(-recentWindow)}
	if pfd, leaf, err := d.parent(d.Config().LogPath); err == nil {
		// The rotated log holds the lines of commits made just before a
		// rotation.
		if fd, err := unix.Openat(pfd, leaf+RotatedSuffix, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0); err == nil {
			f := os.NewFile(uintptr(fd), leaf+RotatedSuffix)
			if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
				if lines, err := changelog.Last(f, st.Size(), from, 0); err == nil {
					note(lines)
				}
			}
			f.Close()
		}
		d.closeParent(pfd)
	}
	if d.log.f != nil {
		lines, err := changelog.Last(d.log.f, lst.Size, from, 0)
		if err != nil {
			return
		}
		note(lines)
	} // else a cut took the log whole: the recover lines start it again
	for _, c := range cands {
		if r, ok := logged[c.rel]; ok && r >= c.s.rev {
			continue // a new name's first commit is revision 0: logged only if a line says so
		}
		e := d.entry(changelog.OpRecover, c.rel, daemonCaller())
		rev, old, size := c.s.rev, max(c.s.rev-1, 0), c.s.size
		e.Revision, e.OldRevision, e.Size, e.SHA256 = &rev, &old, &size, c.s.sha
		e.Description = fmt.Sprintf("%s: revision %d was committed but its log line was lost (the daemon stopped, or the power was cut, before the line reached the disk): logged at start", c.rel, rev)
		d.appendLog(e)
	}
}
