package fs

import (
	"bytes"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// What /proc says about the thread behind a request (its process, that
// process's start time, the process's name) is read once per thread and
// kept, instead of three or four /proc files per request.
//
// A request reads one file, /proc/TID/stat, with a plain open, read and
// close: it gives the thread's start time and name. An entry is used only
// while the thread's start time is the one it was made with, so a thread
// id given to a new thread is never taken for the thread that had it
// before. The main thread's name is its process's, read fresh each time
// (an exec changes it); another thread's entry keeps its process's name as
// read at first sight.

// threadKey identifies a thread across reuse of its id.
type threadKey struct {
	tid   int
	start uint64 // the thread's start time, in clock ticks since boot
}

// threadInfo is what is known of one thread.
type threadInfo struct {
	proc procKey
	name string // the process's name, for a thread other than the main one
}

// procCache maps threads to what is known of them.
type procCache struct {
	mu sync.Mutex
	m  map[threadKey]threadInfo
}

// procMaxThreads bounds the cache; when full it starts over.
const procMaxThreads = 4096

var procs procCache

// lookup returns tid's process and the process's current name.
func (c *procCache) lookup(tid int) (p procKey, comm string, ok bool) {
	if tid <= 0 {
		return procKey{}, "", false
	}
	name, start, ok := readStat(tid)
	if !ok {
		return procKey{}, "", false
	}
	k := threadKey{tid, start}
	c.mu.Lock()
	t, hit := c.m[k]
	c.mu.Unlock()
	if !hit {
		if t.proc, ok = readProc(tid); !ok {
			return procKey{}, name, false
		}
		if t.proc.tgid != tid {
			b, err := readSmallProc("/proc/" + strconv.Itoa(t.proc.tgid) + "/comm")
			if err != nil {
				return procKey{}, name, false
			}
			t.name = string(bytes.TrimRight(b, "\n"))
		}
		// The thread must still be the one whose process was read: a live
		// thread's id is never reused.
		if _, again, ok := readStat(tid); !ok || again != start {
			return procKey{}, name, false
		}
		c.mu.Lock()
		if c.m == nil || len(c.m) >= procMaxThreads {
			c.m = map[threadKey]threadInfo{}
		}
		c.m[k] = t
		c.mu.Unlock()
	}
	if t.proc.tgid != tid {
		name = t.name
	}
	return t.proc, name, true
}

// readStat reads a thread's name and start time from /proc/TID/stat.
func readStat(tid int) (name string, start uint64, ok bool) {
	b, err := readSmallProc("/proc/" + strconv.Itoa(tid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	// "tid (name) state ppid ...": the name may hold spaces and parentheses.
	lp, rp := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if lp < 0 || rp < lp {
		return "", 0, false
	}
	f := bytes.Fields(b[rp+1:]) // f[0] is field 3 (state)
	if len(f) < 20 {
		return "", 0, false
	}
	start, err = strconv.ParseUint(string(f[19]), 10, 64)
	return string(b[lp+1 : rp]), start, err == nil
}

// readSmallProc reads a small /proc file with one open, read and close.
func readSmallProc(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	buf := make([]byte, 1024)
	n, err := unix.Read(fd, buf)
	if err != nil {
		return nil, err
	}
	return buf[:n], nil
}

// readProc reads the process of thread tid and its start time from /proc.
func readProc(tid int) (procKey, bool) {
	p := readTgid(tid)
	if p <= 0 {
		return procKey{}, false
	}
	start, ok := startTime(p)
	return procKey{p, start}, ok
}
