package backing

import (
	"fmt"
	"sort"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
)

// Revisions belong to names (a file re-created under a name continues its
// count), and a committed file carries its own, stamped on it. Renaming a
// directory moves the files it holds to new names: each managed file
// takes its revision along, the names it leaves keep theirs as
// tombstones, like any name a file was renamed away from, and each gets
// one "move" line in the log.

// moved is one managed file carried along by a directory rename.
type moved struct {
	from, to string
	rev      int64
}

// moveDir renames (or, with RENAME_EXCHANGE, exchanges) directory oldRel
// with newRel, carrying the revisions of the managed files inside along.
func (d *Dir) moveDir(oldRel, newRel string, flags uint32, c Caller) error {
	if err := d.begin(); err != nil {
		return err
	}
	defer d.inflight.Done()
	files := d.managedIn(oldRel, newRel)
	if flags&unix.RENAME_EXCHANGE != 0 {
		files = append(files, d.managedIn(newRel, oldRel)...)
	}
	if err := d.renameat(oldRel, newRel, flags); err != nil {
		return err
	}
	d.moveHistory(oldRel, newRel, flags&unix.RENAME_EXCHANGE != 0)
	if len(files) == 0 {
		return nil
	}
	d.revs.moveAll(files)
	for _, m := range files {
		rev := m.rev
		e := d.entry(changelog.OpMove, m.to, c)
		e.Revision, e.OldRevision, e.From = &rev, &rev, m.from
		e.Description = fmt.Sprintf("%s: moved from %s with its directory, at revision %d, by %s[%d]", m.to, m.from, rev, c.Command, c.Pid)
		d.appendLog(e)
	}
	names := make([]string, 0, 2*len(files))
	for _, m := range files {
		names = append(names, m.from, m.to)
	}
	d.configTouched(names...) // a folder of schemas the config file names
	return nil
}

// managedIn lists the managed files under directory dir with their
// revisions, and the names they get once dir is renamed to to. Reading a
// revision stamps a file paracfs never stamped (as a read through the
// mount does), so that it carries its revision to its new name.
func (d *Dir) managedIn(dir, to string) []moved {
	var out []moved
	entries, err := d.ReadDir(dir, false)
	if err != nil {
		return nil
	}
	sort.Slice(entries, func(i, j int) bool { return entries[i].Name < entries[j].Name })
	for _, e := range entries {
		rel, dst := dir+"/"+e.Name, to+"/"+e.Name
		typ := e.Type
		if typ == unix.DT_UNKNOWN {
			st, err := d.Lstat(rel)
			if err != nil {
				continue
			}
			typ = uint8(st.Mode & unix.S_IFMT >> 12)
		}
		switch {
		case typ == unix.DT_DIR:
			out = append(out, d.managedIn(rel, dst)...)
		case typ == unix.DT_REG && d.Managed(rel) && !d.IsLog(rel):
			if rev, ok := d.carried(rel); ok {
				out = append(out, moved{from: rel, to: dst, rev: rev})
			}
		}
	}
	return out
}

// carried returns the revision of the managed file rel. A file paracfs
// never stamped is remembered as read (revStore.adopt); moveAll keeps
// that stamp aside under the new name, in stampsFile, so that the file
// carries its revision there after a restart without being touched (a
// stamp set on it would move its ctime, which a rename of its directory
// leaves alone).
func (d *Dir) carried(rel string) (int64, bool) {
	fd, err := d.openat(rel, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
	if err != nil {
		return 0, false
	}
	defer unix.Close(fd)
	rev, err := d.noticeExternal(fd, rel)
	return rev, err == nil
}
