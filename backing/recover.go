package backing

import (
	"fmt"
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
			pfd, base, err := d.parent(child)
			if err != nil {
				continue
			}
			if unix.Unlinkat(pfd, base, 0) == nil {
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

// recentWindow is how long before the log's last entry a commit may have
// landed without its line: a commit appends its line right after its
// rename, so only the commits in flight when the daemon died can lack one.
const recentWindow = time.Minute

// logUnlogged finds the commits that landed without their log line: the
// daemon was killed between the rename and the append. Such a file carries
// the stamp that commit wrote (its size and mtime still match), it was
// written shortly before the log's last entry or after it, and the log has
// no line for its revision. For each, it appends a "recover" line with the
// revision, size and sha256 of the version found, so that the log skips no
// revision.
//
// This costs one open and one xattr read per managed file, and a read of
// the end of the log (changelog.Last) only when some file was written
// around the log's last entry.
func (d *Dir) logUnlogged(managed []string) {
	if d.logf == nil {
		return // no log yet: nothing was ever logged, nothing to compare
	}
	var lst unix.Stat_t
	if err := unix.Fstat(int(d.logf.Fd()), &lst); err != nil {
		return
	}
	lastLines, err := changelog.Last(d.logf, lst.Size, changelog.Filter{}, 1)
	if err != nil || len(lastLines) == 0 {
		return
	}
	lastAt, err := changelog.ParseTime(lastLines[0].Timestamp)
	if err != nil {
		return
	}
	type landed struct {
		rel string
		s   stamp
	}
	var cands []landed
	oldest := lastAt
	for _, rel := range managed {
		fd, err := d.openat(rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		s, ok := stamp{}, false
		if unix.Fstat(fd, &st) == nil && time.Unix(0, mtimeNs(&st)).After(lastAt.Add(-recentWindow)) {
			s, ok = d.revs.stored(fd, rel)
		}
		unix.Close(fd)
		if !ok || s.sha == "" || s.rev <= 0 || s.size != st.Size || s.mtime != mtimeNs(&st) {
			continue // written long before, or not as the daemon left it
		}
		cands = append(cands, landed{rel, s})
		if t := time.Unix(0, s.mtime); t.Before(oldest) {
			oldest = t
		}
	}
	if len(cands) == 0 {
		return
	}
	lines, err := changelog.Last(d.logf, lst.Size, changelog.Filter{Since: oldest.Add(-time.Second)}, 0)
	if err != nil {
		return
	}
	logged := map[string]int64{}
	for _, e := range lines {
		// Refusals (with an errno) carry the current revision, not a new one.
		if e.Revision != nil && e.Errno == "" && *e.Revision > logged[e.Path] {
			logged[e.Path] = *e.Revision
		}
	}
	for _, c := range cands {
		if logged[c.rel] >= c.s.rev {
			continue
		}
		e := d.entry("recover", c.rel, daemonCaller())
		rev, old, size := c.s.rev, c.s.rev-1, c.s.size
		e.Revision, e.OldRevision, e.Size, e.SHA256 = &rev, &old, &size, c.s.sha
		e.Description = fmt.Sprintf("%s: revision %d was committed but not logged (the daemon stopped between the rename and the log line): logged at start", c.rel, rev)
		d.appendLog(e)
	}
}
