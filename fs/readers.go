package fs

import (
	"os"
	"strconv"
	"strings"
	"sync"
)

// Stale read-modify-write by tools that know nothing of revisions: the
// daemon remembers, per process, the revision of each managed file it last
// read through the mount (opened for reading, or for writing without
// O_TRUNC). When that process later commits the file, that revision is the
// write's base: if another process committed in between, the write is a
// conflict, even for a file without a revision field.
//
// Processes are told apart by process id and start time (a recycled pid is
// another process); threads count as their process. What escapes: a read
// by one process and a write by another (`cat f | edit > f`, a shell that
// reads with one command and writes with the next), and reads that do not
// go through the mount.

// procKey identifies a process across pid reuse.
type procKey struct {
	tgid  int
	start uint64 // start time in clock ticks since boot
}

// procOf finds the process of thread tid.
func procOf(tid int) (procKey, bool) {
	p, _, ok := procs.lookup(tid)
	return p, ok
}

// startTime reads field 22 of /proc/PID/stat.
func startTime(pid int) (uint64, bool) {
	f := statFields(pid)
	if len(f) < 20 {
		return 0, false
	}
	v, err := strconv.ParseUint(f[19], 10, 64)
	return v, err == nil
}

// parentPid reads a process's parent from /proc (0 when gone).
func parentPid(pid int) int { return statInt(pid, 1) }

// sessionOf is the session of process pid (0 if unknown): the shell
// script or terminal session that started it, unless it made its own.
func sessionOf(pid int) int { return statInt(pid, 3) }

// statInt is field i of statFields(pid) as a number (0 if unknown).
func statInt(pid, i int) int {
	f := statFields(pid)
	if len(f) <= i {
		return 0
	}
	v, _ := strconv.Atoi(f[i])
	return v
}

// statFields returns the fields of /proc/PID/stat from field 3 (state)
// on: field 4 is the parent, 5 the process group, 6 the session.
func statFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(s[i+1:])
}

// readers maps each process to the revisions it last read.
type readers struct {
	mu    sync.Mutex
	m     map[procKey]map[string]int64
	saves int
}

const pruneEvery = 1024

func (r *readers) saw(p procKey, rel string, rev int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[procKey]map[string]int64{}
	}
	if r.m[p] == nil {
		r.m[p] = map[string]int64{}
	}
	r.m[p][rel] = rev
	r.saves++
	if r.saves%pruneEvery == 0 {
		r.pruneLocked()
	}
}

func (r *readers) last(p procKey, rel string) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rev, ok := r.m[p][rel]
	return rev, ok
}

// pruneLocked forgets processes that have exited.
func (r *readers) pruneLocked() {
	for p := range r.m {
		if start, ok := startTime(p.tgid); !ok || start != p.start {
			delete(r.m, p)
		}
	}
}

// procReads is one caller's view of readers, for backing.Caller.Reads. The
// process is looked up on first use: most requests never need it.
type procReads struct {
	r    *readers
	tid  int
	once sync.Once
	p    procKey
	ok   bool
}

func (pr *procReads) proc() (procKey, bool) {
	pr.once.Do(func() { pr.p, pr.ok = procOf(pr.tid) })
	return pr.p, pr.ok
}

// Read records that the caller read revision rev of rel.
func (pr *procReads) Read(rel string, rev int64) {
	if p, ok := pr.proc(); ok {
		pr.r.saw(p, rel, rev)
	}
}

// LastRead is the revision of rel the caller last read through the mount.
func (pr *procReads) LastRead(rel string) (int64, bool) {
	if p, ok := pr.proc(); ok {
		return pr.r.last(p, rel)
	}
	return 0, false
}

// Wrote records that the caller committed revision rev of rel: it knows
// that version, so its next write is not stale for its own commit.
func (pr *procReads) Wrote(rel string, rev int64) { pr.Read(rel, rev) }
