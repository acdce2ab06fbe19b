package backing

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
)

// revXattr holds "<revision> <sha256> <size> <mtime ns>" on each committed
// backing file. It is written on the temp file before the rename, so a
// file's revision changes atomically with its content and survives a
// remount; size, mtime and sha256 tell when the file was changed behind
// the mount's back. It is hidden from the mount, which shows
// user.paracfs.revision instead.
//
// Only a commit writes it. Reading, stat and listing change nothing on a
// backing file (no xattr, so no new ctime: tar and rsync see a file at
// rest): what a read learns of a file paracfs never committed is kept in
// memory, and a change behind the mount's back noticed by a read is kept
// in stampsFile, among paracfs's own data.
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

// parseStamp reads a stamp as String wrote it (or an older bare revision).
func parseStamp(v string) (stamp, bool) {
	var st stamp
	f := strings.Fields(v)
	if len(f) == 0 {
		return st, false
	}
	var err error
	if st.rev, err = strconv.ParseInt(f[0], 10, 64); err != nil || !plausible(st.rev) {
		return st, false
	}
	if len(f) >= 4 {
		st.sha = f[1]
		st.size, _ = strconv.ParseInt(f[2], 10, 64)
		st.mtime, _ = strconv.ParseInt(f[3], 10, 64)
	}
	return st, true
}

// MaxRevision is the largest revision paracfs believes: a stamp or a
// revision field beyond it (or negative) was not written by a commit
// (revisions count commits), and would wrap if counted on.
const MaxRevision = 1 << 53

func plausible(rev int64) bool { return rev >= 0 && rev <= MaxRevision }

// forged reports whether the open file carries a stamp that is not one a
// commit wrote: a revision out of range, or no number at all.
func (s *revStore) forged(fd int) bool {
	if s.noXattr {
		return false
	}
	buf := make([]byte, 160)
	n, err := unix.Fgetxattr(fd, revXattr, buf)
	if err != nil {
		return false
	}
	_, ok := parseStamp(string(buf[:n]))
	return !ok
}

func mtimeNs(st *unix.Stat_t) int64 { return st.Mtim.Sec*1e9 + st.Mtim.Nsec }

// tombstonesFile remembers the revision of managed names that were deleted
// or renamed away, so that a file re-created under the name continues its
// count instead of starting over.
const tombstonesFile = MetaDir + "/tombstones.json"

// stampsFile keeps, by name, the stamp of each change made behind the
// mount's back that paracfs counted without committing the file (a read
// noticed it, or a commit that then was refused): the backing file is not
// written for that, and the count must survive a restart. A commit of the
// name, which stamps the file itself, or its removal drops the entry.
const stampsFile = MetaDir + "/stamps.json"

type revStore struct {
	d       *Dir
	mu      sync.Mutex
	tomb    map[string]int64
	noXattr bool             // the backing filesystem refuses user xattrs
	mem     map[string]stamp // stamps not on the file, for this run: every stamp when noXattr, else those of files read but never committed
	noted   map[string]stamp // stamps of changes behind the mount's back, kept in stampsFile
	seen    map[string]int64 // last revision known of each name this run
}

func newRevStore(d *Dir) *revStore {
	s := &revStore{d: d, tomb: map[string]int64{}, mem: map[string]stamp{}, noted: map[string]stamp{}, seen: map[string]int64{}}
	if b, err := d.readSmall(tombstonesFile); err == nil {
		if err := json.Unmarshal(b, &s.tomb); err != nil {
			d.note(changelog.OpRecover, fmt.Sprintf("%s is not valid JSON (%v): deleted names start their revisions anew", tombstonesFile, err))
			s.tomb = map[string]int64{}
		}
	}
	if b, err := d.readSmall(stampsFile); err == nil {
		var m map[string]string
		if err := json.Unmarshal(b, &m); err != nil {
			d.note(changelog.OpRecover, fmt.Sprintf("%s is not valid JSON (%v): changes made behind the mount's back and not committed since are counted again", stampsFile, err))
		}
		for rel, v := range m {
			if st, ok := parseStamp(v); ok {
				s.noted[rel] = st
			}
		}
	}
	return s
}

// stored returns the stamp paracfs keeps for an open backing file: the
// one recorded on it, or one kept aside (in memory or in stampsFile),
// whichever is the latest. An entry kept aside is dropped once the file
// carries a stamp as recent (a commit replaced it).
func (s *revStore) stored(fd int, rel string) (stamp, bool) {
	var st stamp
	ok := false
	if !s.noXattr {
		buf := make([]byte, 160)
		if n, err := unix.Fgetxattr(fd, revXattr, buf); err == nil {
			st, ok = parseStamp(string(buf[:n]))
		}
	}
	onFile := ok && !s.noXattr
	s.mu.Lock()
	if aside, found := s.mem[rel]; found {
		if onFile && st.rev >= aside.rev {
			delete(s.mem, rel) // a commit stamped the file since
		} else if !ok || aside.rev > st.rev {
			st, ok = aside, true
		}
	}
	stale := false
	if aside, found := s.noted[rel]; found {
		if onFile && st.rev >= aside.rev {
			stale = true
		} else if !ok || aside.rev > st.rev {
			st, ok = aside, true
		}
	}
	s.mu.Unlock()
	if stale {
		s.forget(rel)
	}
	if ok {
		s.saw(rel, st.rev)
	}
	return st, ok
}

// record writes a stamp onto the temp file about to replace rel in a
// commit.
func (s *revStore) record(fd int, rel string, st stamp) {
	s.saw(rel, st.rev)
	if !s.noXattr {
		err := unix.Fsetxattr(fd, revXattr, []byte(st.String()), 0)
		if err == nil {
			// What was kept aside for rel stays until stored sees the
			// renamed file: a reader of the file being replaced still
			// needs it.
			return
		}
		if err != unix.ENOTSUP && err != unix.EOPNOTSUPP {
			s.d.note(changelog.OpWarning, fmt.Sprintf("%s: cannot record revision %d as an xattr: %v", rel, st.rev, err))
			return
		}
		s.d.note(changelog.OpWarning, "the backing filesystem has no user xattrs: revisions of files without a revision field last only until unmount")
		s.noXattr = true
	}
	s.mu.Lock()
	s.mem[rel] = st
	s.mu.Unlock()
	s.forget(rel)
}

// adopt remembers, for this run, the stamp of a file paracfs never
// committed, as a read found it, so that a later change behind the
// mount's back shows. Nothing is written: after a restart such a file's
// revision is read from its field (or tombstone) again.
func (s *revStore) adopt(rel string, st stamp) {
	s.mu.Lock()
	s.mem[rel] = st
	s.mu.Unlock()
	s.saw(rel, st.rev)
}

// noteExternal keeps the stamp of a change made behind the mount's back
// in stampsFile, without touching the file.
func (s *revStore) noteExternal(rel string, st stamp) {
	s.saw(rel, st.rev)
	s.mu.Lock()
	s.noted[rel] = st
	delete(s.mem, rel)
	b := s.notedJSON()
	s.mu.Unlock()
	s.saveNoted(b)
}

// forget drops the stampsFile entry of rel, if it has one.
func (s *revStore) forget(rel string) {
	s.mu.Lock()
	if _, ok := s.noted[rel]; !ok {
		s.mu.Unlock()
		return
	}
	delete(s.noted, rel)
	b := s.notedJSON()
	s.mu.Unlock()
	s.saveNoted(b)
}

// notedJSON is stampsFile's content; s.mu is held.
func (s *revStore) notedJSON() []byte {
	m := make(map[string]string, len(s.noted))
	for rel, st := range s.noted {
		m[rel] = st.String()
	}
	b, _ := json.MarshalIndent(m, "", "  ")
	return append(b, '\n')
}

func (s *revStore) saveNoted(b []byte) {
	if err := s.d.writeMetaFile(stampsFile, b); err != nil {
		s.d.note(changelog.OpWarning, fmt.Sprintf("%s: %v", stampsFile, err))
	}
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
	s.forget(rel) // the tombstone carries the revision on
	s.mu.Lock()
	s.tomb[rel] = rev
	delete(s.mem, rel)
	b, _ := json.MarshalIndent(s.tomb, "", "  ")
	s.mu.Unlock()
	if err := s.d.writeMetaFile(tombstonesFile, append(b, '\n')); err != nil {
		s.d.note(changelog.OpWarning, fmt.Sprintf("%s: %v", tombstonesFile, err))
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
		s.d.note(changelog.OpWarning, fmt.Sprintf("%s: %v", tombstonesFile, err))
	}
}

// moveAll records files moved to new names by a directory rename: each
// old name keeps the file's revision as a tombstone, each new name, now
// holding a file, has none, and what is known of each file in memory
// follows it.
func (s *revStore) moveAll(files []moved) {
	s.mu.Lock()
	notedMoved := false
	for _, m := range files {
		s.tomb[m.from] = m.rev
		if st, ok := s.mem[m.from]; ok {
			// A stamp kept for this run only (a file paracfs never
			// committed): kept aside under the new name, where the
			// old name's tombstone no longer gives its revision.
			delete(s.mem, m.from)
			s.noted[m.to] = st
			notedMoved = true
		}
		if st, ok := s.noted[m.from]; ok {
			delete(s.noted, m.from)
			s.noted[m.to] = st
			notedMoved = true
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
	var nb []byte
	if notedMoved {
		nb = s.notedJSON()
	}
	s.mu.Unlock()
	if err := s.d.writeMetaFile(tombstonesFile, append(b, '\n')); err != nil {
		s.d.note(changelog.OpWarning, fmt.Sprintf("%s: %v", tombstonesFile, err))
	}
	if nb != nil {
		s.saveNoted(nb)
	}
}
