package backing

import (
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// dirCache keeps O_PATH descriptors of recently used directories, so that
// Lstat of a nested name costs one statx instead of openat2, statx and
// close. The descriptors are opened like every other lookup here
// (openat2, RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), so no symlink is ever
// followed; what could go stale is the name, when a directory is renamed
// or removed. The daemon's own renames and rmdirs drop every entry, and
// every entry is dropped dirCacheTTL after the first was made, like the
// kernel's own cache of names, for directories renamed behind the mount's
// back; an idle daemon holds none.
type dirCache struct {
	mu    sync.Mutex
	m     map[string]*dirRef
	gen   uint64      // counts flushes: a descriptor opened before one is not kept
	timer *time.Timer // the next flush, while there are entries
}

type dirRef struct {
	fd      int
	refs    int // users, plus one while in the map
	expires time.Time
}

const (
	dirCacheTTL = time.Second
	dirCacheMax = 256
)

// get returns an O_PATH descriptor of the directory rel (not "."); the
// caller hands it back with put.
func (c *dirCache) get(d *Dir, rel string) (*dirRef, error) {
	now := time.Now()
	c.mu.Lock()
	gen := c.gen
	if r := c.m[rel]; r != nil {
		if now.Before(r.expires) {
			r.refs++
			c.mu.Unlock()
			return r, nil
		}
		c.dropLocked(rel, r)
	}
	c.mu.Unlock()
	fd, err := d.openat(rel, unix.O_PATH|unix.O_DIRECTORY, 0)
	if err != nil {
		return nil, err
	}
	r := &dirRef{fd: fd, refs: 2, expires: now.Add(dirCacheTTL)}
	c.mu.Lock()
	if c.gen != gen {
		// A rename or rmdir ran meanwhile: the name may be stale already.
		r.refs = 1
		c.mu.Unlock()
		return r, nil
	}
	if c.m == nil {
		c.m = map[string]*dirRef{}
	}
	if old := c.m[rel]; old != nil {
		c.dropLocked(rel, old)
	}
	if len(c.m) >= dirCacheMax {
		c.flushLocked()
	}
	c.m[rel] = r
	if c.timer == nil {
		c.timer = time.AfterFunc(dirCacheTTL, c.expire)
	}
	c.mu.Unlock()
	return r, nil
}

// put hands back a descriptor from get.
func (c *dirCache) put(r *dirRef) {
	c.mu.Lock()
	c.unrefLocked(r)
	c.mu.Unlock()
}

// flush drops every entry: a directory may have moved. Call it after the
// rename or rmdir.
func (c *dirCache) flush() {
	c.mu.Lock()
	c.flushLocked()
	c.mu.Unlock()
}

// expire is the timed flush.
func (c *dirCache) expire() {
	c.mu.Lock()
	c.timer = nil
	c.flushLocked()
	c.mu.Unlock()
}

func (c *dirCache) flushLocked() {
	c.gen++
	for rel, r := range c.m {
		c.dropLocked(rel, r)
	}
}

func (c *dirCache) dropLocked(rel string, r *dirRef) {
	delete(c.m, rel)
	c.unrefLocked(r)
}

func (c *dirCache) unrefLocked(r *dirRef) {
	r.refs--
	if r.refs == 0 {
		unix.Close(r.fd)
	}
}
