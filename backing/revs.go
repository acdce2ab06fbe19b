package backing

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// revXattr holds "<revision> <sha256>" on each committed backing file. It is
// written on the temp file before the rename, so a file's revision changes
// atomically with its content and survives a remount. It is hidden from the
// mount, which shows user.paracfs.revision instead.
const revXattr = "user.paracfs.rev"

// tombstonesFile remembers the revision of managed names that were deleted
// or renamed away, so that a file re-created under the name continues its
// count instead of starting over.
const tombstonesFile = MetaDir + "/tombstones.json"

type revStore struct {
	d       *Dir
	mu      sync.Mutex
	tomb    map[string]int64
	noXattr bool             // the backing filesystem refuses user xattrs
	mem     map[string]int64 // revisions kept in memory when noXattr
}

func newRevStore(d *Dir) *revStore {
	s := &revStore{d: d, tomb: map[string]int64{}, mem: map[string]int64{}}
	if b, err := d.readSmall(tombstonesFile); err == nil {
		if err := json.Unmarshal(b, &s.tomb); err != nil {
			d.note("recover", fmt.Sprintf("%s is not valid JSON (%v): deleted names start their revisions anew", tombstonesFile, err))
			s.tomb = map[string]int64{}
		}
	}
	return s
}

// stored reads the revision recorded on an open backing file.
func (s *revStore) stored(fd int, rel string) (rev int64, sha string, ok bool) {
	if s.noXattr {
		s.mu.Lock()
		defer s.mu.Unlock()
		rev, ok = s.mem[rel]
		return rev, "", ok
	}
	buf := make([]byte, 128)
	n, err := unix.Fgetxattr(fd, revXattr, buf)
	if err != nil {
		return 0, "", false
	}
	f := strings.Fields(string(buf[:n]))
	if len(f) == 0 {
		return 0, "", false
	}
	rev, err = strconv.ParseInt(f[0], 10, 64)
	if err != nil || rev < 0 {
		return 0, "", false
	}
	if len(f) > 1 {
		sha = f[1]
	}
	return rev, sha, true
}

// record writes the revision onto the temp file about to replace rel.
func (s *revStore) record(fd int, rel string, rev int64, sha string) {
	if !s.noXattr {
		err := unix.Fsetxattr(fd, revXattr, []byte(strconv.FormatInt(rev, 10)+" "+sha), 0)
		if err == nil {
			return
		}
		if err != unix.ENOTSUP && err != unix.EOPNOTSUPP {
			s.d.note("warning", fmt.Sprintf("%s: cannot record revision %d as an xattr: %v", rel, rev, err))
			return
		}
		s.d.note("warning", "the backing filesystem has no user xattrs: revisions of files without a revision field last only until unmount")
		s.noXattr = true
	}
	s.mu.Lock()
	s.mem[rel] = rev
	s.mu.Unlock()
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
