package backing

import (
	"golang.org/x/sys/unix"
)

// removeTemps walks DIR and removes the temp files of commits that a killed
// daemon left unfinished. Their target still holds the old version, which
// is the one that was acknowledged, so nothing acknowledged is lost.
func (d *Dir) removeTemps(rel string) (int, error) {
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
		case e.Type == unix.DT_DIR:
			n, err := d.removeTemps(child)
			if err != nil {
				return removed, err
			}
			removed += n
		}
	}
	return removed, nil
}
