package backing

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// revXattr holds "<revision> <sha256> <size> <mtime ns>" on each committed
// backing file. It is written on the temp file before the rename, so a
// file's revision changes atomically with its content and survives a
// remount; size, mtime and sha256 tell when the file was changed behind
// the mount's back. It is hidden from the mount, which shows
// user.paracfs.revision instead.
const revXattr = "user.paracfs.rev"

// stamp is what paracfs recorded on a backing file.
type stamp struct {
	rev   int64
	sha   string
	size  int64
	mtime int64 // nanoseconds
}

func (s stamp) String() string {
	return strconv.FormatInt(s.rev, 10) + " " + s.sha + " " + strconv.FormatInt(s.size, 10) + " " + strconv.FormatInt(s.mtime, 10)
}

func mtimeNs(st *unix.Stat_t) int64 { return st.Mtim.Sec*1e9 + st.Mtim.Nsec }

// tombstonesFile remembers the revision of managed names that were deleted
// or renamed away, so that a file re-created under the name continues its
// count instead of starting over.
const tombstonesFile = MetaDir + "/tombstones.json"

type revStore struct {
	d       *Dir
	mu      sync.Mutex
	tomb    map[string]int64
	noXattr bool             // the backing filesystem refuses user xattrs
	mem     map[string]stamp // stamps kept in memory when noXattr
	seen    map[string]int64 // last revision known of each name this run
}

func newRevStore(d *Dir) *revStore {
	s := &revStore{d: d, tomb: map[string]int64{}, mem: map[string]stamp{}, seen: map[string]int64{}}
	if b, err := d.readSmall(tombstonesFile); err == nil {
		if err := json.Unmarshal(b, &s.tomb); err != nil {
			d.note("recover", fmt.Sprintf("%s is not valid JSON (%v): deleted names start their revisions anew", tombstonesFile, err))
			s.tomb = map[string]int64{}
		}
	}
	return s
}

// stored reads the stamp recorded on an open backing file.
func (s *revStore) stored(fd int, rel string) (stamp, bool) {
	var st stamp
	if s.noXattr {
		s.mu.Lock()
		defer s.mu.Unlock()
		st, ok := s.mem[rel]
		return st, ok
	}
	buf := make([]byte, 160)
	n, err := unix.Fgetxattr(fd, revXattr, buf)
	if err != nil {
		return st, false
	}
	f := strings.Fields(string(buf[:n]))
	if len(f) == 0 {
		return st, false
	}
	if st.rev, err = strconv.ParseInt(f[0], 10, 64); err != nil || st.rev < 0 {
		return st, false
	}
	if len(f) >= 4 {
		st.sha = f[1]
		st.size, _ = strconv.ParseInt(f[2], 10, 64)
		st.mtime, _ = strconv.ParseInt(f[3], 10, 64)
	}
	s.saw(rel, st.rev)
	return st, true
}

// record writes a stamp onto a backing file: the temp file about to
// replace rel, or rel itself after a change behind the mount's back.
func (s *revStore) record(fd int, rel string, st stamp) {
	s.saw(rel, st.rev)
	if !s.noXattr {
		err := unix.Fsetxattr(fd, revXattr, []byte(st.String()), 0)
		if err == nil {
			return
		}
		if err != unix.ENOTSUP && err != unix.EOPNOTSUPP {
			s.d.note("warning", fmt.Sprintf("%s: cannot record revision %d as an xattr: %v", rel, st.rev, err))
			return
		}
		s.d.note("warning", "the backing filesystem has no user xattrs: revisions of files without a revision field last only until unmount")
		s.noXattr = true
	}
	s.mu.Lock()
	s.mem[rel] = st
	s.mu.Unlock()
}

// adopt stamps a file paracfs did not write, quietly: a file it may not
// change (another user's, a read-only mount) just stays unstamped.
func (s *revStore) adopt(fd int, rel string, st stamp) {
	if s.noXattr {
		s.mu.Lock()
		s.mem[rel] = st
		s.mu.Unlock()
	} else if unix.Fsetxattr(fd, revXattr, []byte(st.String()), 0) != nil {
		return
	}
	s.saw(rel, st.rev)
}

// saw remembers the last revision known of rel during this run, so that a
// file replaced behind the mount's back (which loses its stamp) is noticed.
func (s *revStore) saw(rel string, rev int64) {
	s.mu.Lock()
	s.seen[rel] = rev
	s.mu.Unlock()
}

// lastSeen is the revision rel had when paracfs last saw it this run.
func (s *revStore) lastSeen(rel string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rev, ok := s.seen[rel]
	return rev, ok
}

// tombstone returns the last revision of a deleted name.
func (s *revStore) tombstone(rel string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.tomb[rel]
	return r, ok
}

// bury remembers the revision of a name that was deleted or renamed away.
func (s *revStore) bury(rel string, rev int64) {
	s.mu.Lock()
	s.tomb[rel] = rev
	b, _ := json.MarshalIndent(s.tomb, "", "  ")
	s.mu.Unlock()
	if err := s.d.writeMetaFile(tombstonesFile, append(b, '\n')); err != nil {
		s.d.note("warning", fmt.Sprintf("%s: %v", tombstonesFile, err))
	}
}

// unbury forgets a tombstone once the name exists again.
func (s *revStore) unbury(rel string) {
	s.mu.Lock()
	_, ok := s.tomb[rel]
	if !ok {
		s.mu.Unlock()
		return
	}
	delete(s.tomb, rel)
	b, _ := json.MarshalIndent(s.tomb, "", "  ")
	s.mu.Unlock()
	if err := s.d.writeMetaFile(tombstonesFile, append(b, '\n')); err != nil {
		s.d.note("warning", fmt.Sprintf("%s: %v", tombstonesFile, err))
	}
}

// moveAll records files moved to new names by a directory rename: each
// old name keeps the file's revision as a tombstone, each new name, now
// holding a file, has none, and what is known of each file in memory
// follows it.
func (s *revStore) moveAll(files []moved) {
	s.mu.Lock()
	for _, m := range files {
		s.tomb[m.from] = m.rev
		if st, ok := s.mem[m.from]; ok {
			delete(s.mem, m.from)
			s.mem[m.to] = st
		}
		if rev, ok := s.seen[m.from]; ok {
			delete(s.seen, m.from)
			s.seen[m.to] = rev
		}
	}
	for _, m := range files {
		delete(s.tomb, m.to)
	}
	b, _ := json.MarshalIndent(s.tomb, "", "  ")
	s.mu.Unlock()
	if err := s.d.writeMetaFile(tombstonesFile, append(b, '\n')); err != nil {
		s.d.note("warning", fmt.Sprintf("%s: %v", tombstonesFile, err))
	}
}
