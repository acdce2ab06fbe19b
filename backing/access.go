package backing

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Who may read what paracfs derives from a file. Everything paracfs keeps
// of a file (its versions, the log's values, a refusal's reason) is for
// those who can read the file now through its own path: search permission
// on every directory from DIR down, read permission on the file. The mode
// bits and the ACLs decide, as the kernel decides with default_permissions
// and FUSE_POSIX_ACL (acl.go). See docs/security.md.

// privileged reports whether c sees everything: root, and the user the
// daemon runs as, who owns paracfs's own data anyway.
func privileged(c Caller) bool {
	return c.Uid == 0 || int(c.Uid) == os.Geteuid()
}

// callerGroups is the caller's primary and supplementary groups, read
// from /proc while it waits for its request.
func callerGroups(c Caller) []uint32 {
	gs := []uint32{c.Gid}
	if c.Pid <= 0 {
		return gs
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(c.Pid) + "/status")
	if err != nil {
		return gs
	}
	s := string(b)
	i := strings.Index(s, "\nGroups:")
	if i < 0 {
		return gs
	}
	line := s[i+8:]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	for _, f := range strings.Fields(line) {
		if g, err := strconv.ParseUint(f, 10, 32); err == nil {
			gs = append(gs, uint32(g))
		}
	}
	return gs
}

// permits reports whether a caller with uid and groups gets the bits want
// (4 read, 2 write, 1 search) on a file of owner, group and mode.
func permits(uid uint32, groups []uint32, owner, group, mode, want uint32) bool {
	if uid == 0 {
		return true
	}
	switch {
	case uid == owner:
		mode >>= 6
	case containsGid(groups, group):
		mode >>= 3
	}
	return mode&want == want
}

func containsGid(gs []uint32, g uint32) bool {
	for _, x := range gs {
		if x == g {
			return true
		}
	}
	return false
}

// access is one caller's view of DIR's permissions.
type access struct {
	d      *Dir
	c      Caller
	groups []uint32
	all    bool // privileged: everything is allowed
	others bool // only what the mode grants to others counts
}

// grants reports whether rel, whose status is st, gives the caller the
// bits want: by its ACL when it has one, else by its mode. For others,
// every user but the owner must get them.
func (a *access) grants(rel string, st *Stat, want uint32) bool {
	if acl := a.d.accessACL(rel); acl != nil {
		if a.others {
			return aclAllPermit(acl, want)
		}
		return a.c.Uid == 0 || aclPermits(acl, a.c.Uid, a.groups, st.Uid, st.Gid, want)
	}
	if a.others {
		return st.Mode&want == want && (st.Mode>>3)&want == want
	}
	return permits(a.c.Uid, a.groups, st.Uid, st.Gid, st.Mode, want)
}

func (d *Dir) accessFor(c Caller) *access {
	a := &access{d: d, c: c, all: privileged(c)}
	if !a.all {
		a.groups = callerGroups(c)
	}
	return a
}

// search reports whether the caller can reach dir (relative to DIR, "" or
// "." for DIR itself) and search it: every directory on the way, and dir,
// must grant it search permission.
func (a *access) search(dir string) bool {
	if a.all {
		return true
	}
	if dir == "." {
		dir = ""
	}
	p := ""
	for {
		st, err := a.d.Lstat(p)
		if err != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || !a.grants(p, &st, 1) {
			return false
		}
		if p == dir {
			return true
		}
		rest := strings.TrimPrefix(dir, p)
		rest = strings.TrimPrefix(rest, "/")
		next, _, _ := strings.Cut(rest, "/")
		if p == "" {
			p = next
		} else {
			p += "/" + next
		}
	}
}

// read reports whether the caller can read rel through its path now; ok
// is false when rel does not exist (its directories are checked anyway).
func (a *access) read(rel string) (may, exists bool) {
	dir, _ := split(rel)
	st, err := a.d.Lstat(rel)
	exists = err == nil
	if a.all {
		return true, exists
	}
	if !a.search(dir) {
		return false, exists
	}
	if !exists {
		return false, false
	}
	return a.grants(rel, &st, 4), true
}

// MayRead reports whether c can read rel through its own path now.
func (d *Dir) MayRead(rel string, c Caller) bool {
	ok, _ := d.accessFor(c).read(rel)
	return ok
}

// ReadableByAll reports whether every user can read rel through its path:
// every directory from DIR down has o+x and the file o+r. The log, which
// everyone may read, shows the values of those files only.
func (d *Dir) ReadableByAll(rel string) bool {
	ok, _ := (&access{d: d, others: true}).read(rel)
	return ok
}

// What of .paracfs/ a caller may see through the mount. The backing
// folders are the daemon's own (history/ 0700, rejected/ 0711), so that
// nobody else reads them while DIR is not mounted; the mount shows them
// open and asks these functions at each lookup, open and listing.

// MayReadMeta reports whether c may look up, open or list mrel, a path
// under .paracfs/history or .paracfs/rejected (other paths under
// .paracfs/ keep the permissions of their backing files: true).
func (d *Dir) MayReadMeta(mrel string, c Caller) bool {
	switch {
	case privileged(c), mrel == HistoryDir, mrel == RejectedDir:
		return true
	case strings.HasPrefix(mrel, HistoryDir+"/"):
		return d.accessFor(c).history(strings.TrimPrefix(mrel, HistoryDir+"/"))
	case strings.HasPrefix(mrel, RejectedDir+"/"):
		return d.accessFor(c).rejected(mrel)
	}
	return true
}

// MayReadVersion reports whether c may read revision rev of rel from its
// history (show, diff, restore).
func (d *Dir) MayReadVersion(rel string, rev int64, c Caller) bool {
	if privileged(c) {
		return true
	}
	a := d.accessFor(c)
	if vs, err := d.Versions(rel); err == nil && a.fileHistory(rel) {
		found := false
		for _, v := range vs {
			found = found || v.Rev == rev
		}
		if !found {
			return true // nothing to read: the restore says so
		}
	}
	return a.version(rel, VersionName(rel, rev))
}

// IndexFor returns rel's history index as c may see it through the mount,
// when that differs from the file: the sha256 of each version c may not
// read is left out, for the hash of a short secret gives it back. ok is
// false when c may read every version listed (the file is served as is).
func (d *Dir) IndexFor(rel string, c Caller) (data []byte, ok bool) {
	if privileged(c) {
		return nil, false
	}
	b, err := d.readSmall(HistoryPath(rel) + "/" + HistoryIndex)
	if err != nil {
		return nil, false
	}
	a := d.accessFor(c)
	var out []byte
	for _, v := range ParseIndex(b) {
		if v.SHA256 != "" && !a.version(rel, VersionName(rel, v.Rev)) {
			v.SHA256, ok = "", true
		}
		line, err := json.Marshal(v)
		if err != nil {
			return nil, false
		}
		out = append(append(out, line...), '\n')
	}
	return out, ok
}

// history: x is a path inside .paracfs/history/.
func (a *access) history(x string) bool {
	if dir, leaf := split(x); dir != "." && a.d.hasHistory(dir) {
		return a.version(dir, leaf)
	}
	if a.d.hasHistory(x) {
		return a.fileHistory(x)
	}
	return a.search(x) // the mirror of a directory of DIR
}

// hasHistory reports whether rel's history folder holds an index.
func (d *Dir) hasHistory(rel string) bool {
	st, err := d.Lstat(HistoryPath(rel) + "/" + HistoryIndex)
	return err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG
}

// fileHistory: the caller may read rel now; when rel is gone, it may
// search its directory and could read rel's newest version as it was.
func (a *access) fileHistory(rel string) bool {
	may, exists := a.read(rel)
	if exists || !a.search(parentOf(rel)) {
		return may
	}
	vs, err := a.d.Versions(rel)
	if err != nil || len(vs) == 0 {
		return false
	}
	return a.couldRead(vs[len(vs)-1])
}

// version: name is a version (or the index) in rel's history folder. A
// version is for those who may read rel now, and, when rel's owner is not
// the owner the version had (the name was deleted and made again by
// someone else), who could read that version as it was: making a name
// anew gives no rights over what it held before.
func (a *access) version(rel, name string) bool {
	if !a.fileHistory(rel) {
		return false
	}
	if name == HistoryIndex {
		return true
	}
	vs, err := a.d.Versions(rel)
	if err != nil {
		return false
	}
	for _, v := range vs {
		if VersionName(rel, v.Rev) != name {
			continue
		}
		if st, err := a.d.Lstat(rel); err == nil && v.Mode != 0 && st.Uid == v.Owner {
			return true
		}
		return a.couldRead(v)
	}
	return false
}

// couldRead reports whether the caller could read version v with the
// owner, group and mode the file had then; never for a version recorded
// without them.
func (a *access) couldRead(v Version) bool {
	if a.all {
		return true
	}
	return v.Mode != 0 && permits(a.c.Uid, a.groups, v.Owner, v.Group, v.Mode, 4)
}

// rejected: mrel is a path inside .paracfs/rejected/. A kept write is
// its writer's (it owns the kept file); a folder is for those who may
// search the directory of DIR it mirrors.
func (a *access) rejected(mrel string) bool {
	if _, ok := ParseKept(mrel); ok {
		if st, err := a.d.Lstat(mrel); err == nil && st.Mode&unix.S_IFMT == unix.S_IFREG {
			return st.Uid == a.c.Uid
		}
	}
	return a.search(strings.TrimPrefix(mrel, RejectedDir+"/"))
}

func parentOf(rel string) string {
	dir, _ := split(rel)
	return dir
}

// mkdirGuarded makes the folder rel (under MetaDir) and those on the way
// below top, each with mode perm, the daemon's: a folder found with
// another mode gets perm.
func (d *Dir) mkdirGuarded(top, rel string, perm uint32) error {
	if err := d.mkdirAll(rel); err != nil {
		return err
	}
	p := top
	rest := strings.TrimPrefix(strings.TrimPrefix(rel, top), "/")
	for {
		fd, err := d.openat(p, unix.O_PATH|unix.O_DIRECTORY, 0)
		if err != nil {
			return err
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil {
			if st.Mode&0o7777 != perm {
				unix.Fchmodat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), perm, 0)
			}
			if int(st.Uid) != os.Geteuid() && os.Geteuid() == 0 {
				unix.Fchownat(fd, "", 0, 0, unix.AT_EMPTY_PATH) // once handed to a file's owner
			}
		}
		unix.Close(fd)
		if rest == "" {
			return nil
		}
		next, after, _ := strings.Cut(rest, "/")
		p, rest = p+"/"+next, after
	}
}

// ValuesShown reports whether the world-readable change log and status
// may carry rel's values and the reasons that quote them: rel is readable
// by all through its path, or, for a name with no file yet, every
// directory on its way may be searched by all (the values are then the
// writer's own).
func (d *Dir) ValuesShown(rel string) bool {
	a := &access{d: d, others: true}
	may, exists := a.read(rel)
	if exists {
		return may
	}
	return a.search(parentOf(rel))
}

// statShown reports whether everyone may stat rel through its path: every
// directory on its way may be searched by all.
func (d *Dir) statShown(rel string) bool {
	a := &access{d: d, others: true}
	return a.search(parentOf(rel))
}

// MayWrite reports whether c could write rel through the mount now, as
// the kernel decides with default_permissions: search on every directory
// on its way and write on the file, or, for a name with no file, write
// and search on its directory.
func (d *Dir) MayWrite(rel string, c Caller) bool {
	a := d.accessFor(c)
	if a.all {
		return true
	}
	dir := parentOf(rel)
	if !a.search(dir) {
		return false
	}
	st, err := d.Lstat(rel)
	if err != nil {
		dst, err := d.Lstat(dir)
		return err == nil && a.grants(dir, &dst, 3)
	}
	return a.grants(rel, &st, 2)
}
