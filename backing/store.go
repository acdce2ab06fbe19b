package backing

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
)

// DefaultStoreMaxSize bounds paracfs's own store in DIR/.paracfs: the
// history's objects and the kept bytes of refused writes. Past it the
// oldest versions are pruned (the newest of each file stays), and a
// refusal's bytes are no longer kept (its reason says so).
const DefaultStoreMaxSize = 256 << 20

// DefaultLogMaxSize is the size at which the change log rotates by
// default.
const DefaultLogMaxSize = 64 << 20

// storeUsage is the bytes the store holds, measured at Open and kept up
// to date by the writes and removals of objects and kept files.
type storeUsage struct {
	n atomic.Int64
	// futile is the usage at which a prune could not get within the
	// bound (newest versions and kept refusals fill it): the next is
	// tried only once the store grew by a sixteenth of the bound.
	futile atomic.Int64
}

func (s *storeUsage) add(n int64) { s.n.Add(n) }

// measureStore sums the sizes of the objects and the kept refused writes.
func (d *Dir) measureStore() {
	var total int64
	var walk func(rel string)
	walk = func(rel string) {
		ents, err := d.ReadDir(rel, true)
		if err != nil {
			return
		}
		fd, err := d.openat(rel, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return
		}
		defer unix.Close(fd)
		for _, e := range ents {
			switch e.Type {
			case unix.DT_DIR:
				walk(rel + "/" + e.Name)
			case unix.DT_REG:
				var st unix.Stat_t
				if unix.Fstatat(fd, e.Name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil {
					total += st.Size
				}
			}
		}
	}
	walk(ObjectsDir)
	walk(RejectedDir)
	d.store.n.Store(total)
}

// StoreUsage returns the bytes the store holds and its bound (0: none).
func (d *Dir) StoreUsage() (used, max int64) {
	return d.store.n.Load(), d.Config().StoreMaxSize
}

// roomToKeep refuses to keep n more bytes past the store's bound.
func (d *Dir) roomToKeep(n int64) error {
	max := d.Config().StoreMaxSize
	if used := d.store.n.Load(); max > 0 && used+n > max {
		return fmt.Errorf("%s holds %d bytes, and keeping %d more would pass its %d-byte bound (store_max_size)", MetaDir, used, n, max)
	}
	return nil
}

// pruneStore drops the oldest versions of all files' histories, never the
// newest of a file, until the store is within its bound. The caller holds
// d.hist.record. The indexes not cached are read, not cached: a prune
// walks every file's history.
func (d *Dir) pruneStore() {
	bound := d.Config().StoreMaxSize
	if bound <= 0 || d.store.n.Load() <= bound || d.store.n.Load() < d.store.futile.Load()+bound/16 {
		return
	}
	type cand struct {
		rel string
		v   Version
	}
	var cands []cand
	lists := map[string]fileHistory{}
	var walk func(rel string)
	walk = func(rel string) {
		ents, err := d.ReadDir(rel, true)
		if err != nil {
			return
		}
		for _, e := range ents {
			switch {
			case e.Type == unix.DT_DIR:
				walk(rel + "/" + e.Name)
			case e.Name == HistoryIndex:
				file := strings.TrimPrefix(rel, HistoryDir+"/")
				h, ok := d.hist.get(file)
				if !ok {
					var err error
					if h, err = d.readHistory(file); err != nil {
						continue
					}
				}
				lists[file] = h
				for _, v := range h.versions[:max(0, len(h.versions)-1)] {
					cands = append(cands, cand{file, v})
				}
			}
		}
	}
	walk(HistoryDir)
	sort.Slice(cands, func(i, j int) bool { return cands[i].v.Time.Before(cands[j].v.Time) })
	ofd, err := d.openat(ObjectsDir, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return
	}
	defer unix.Close(ofd)
	dropped := map[string][]Version{}
	n := 0
	for _, c := range cands {
		if d.store.n.Load() <= bound {
			break
		}
		hfd, err := d.openat(HistoryPath(c.rel), unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			continue
		}
		d.unlinkVersion(hfd, ofd, c.rel, c.v)
		unix.Close(hfd)
		dropped[c.rel] = append(dropped[c.rel], c.v)
		n++
	}
	for rel, vs := range dropped {
		h := lists[rel]
		gone := map[int64]bool{}
		for _, v := range vs {
			gone[v.Rev] = true
		}
		var keep []Version
		for _, v := range h.versions {
			if !gone[v.Rev] {
				keep = append(keep, v)
			}
		}
		h.versions = keep
		if hfd, err := d.openat(HistoryPath(rel), unix.O_PATH|unix.O_DIRECTORY, 0); err == nil {
			var out []byte
			for _, x := range h.versions {
				b, _ := json.Marshal(x)
				out = append(append(out, b...), '\n')
			}
			if d.replaceIndex(hfd, HistoryIndex, out) == nil {
				h.lines, h.torn = len(h.versions), false
				fsyncDir(hfd)
			} else {
				h.torn = true
			}
			unix.Close(hfd)
		} else {
			h.torn = true
		}
		d.hist.put(rel, h)
	}
	if used := d.store.n.Load(); used > bound {
		d.store.futile.Store(used)
	}
	if n > 0 {
		d.note(changelog.OpPrune, fmt.Sprintf("%s passed its %d-byte bound (store_max_size): pruned the %d oldest history versions (the newest of each file stays); it now holds %d bytes", MetaDir, bound, n, d.store.n.Load()))
	}
}
