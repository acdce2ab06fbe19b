package backing

import "sync"

// historyCache is what the daemon keeps in memory of the files'
// versions: the indexes of the files recorded most recently, so that the
// next commit of a file does not read its index again, and the records
// not yet fsynced. It is bounded: past histCacheMaxFiles files or
// histCacheMaxVersions versions in all, the least recently used files'
// entries are dropped, and read again from their index when needed.
//
// record serializes the records and the reads of an index into the cache
// (objects are shared between files, and an index read while a record
// appends to it would miss the new line); mu guards the cache alone, so
// that a lookup that hits waits for no record of another file.
type historyCache struct {
	record sync.Mutex

	mu       sync.Mutex
	files    map[string]*histEntry
	lru      histEntry // sentinel of the ring of entries, most recently used first
	versions int       // len(versions) summed over the entries
	// pending is the record of each file's newest version while it is not
	// fsynced (see pendingSync), whether or not its index is cached.
	pending map[string]*pendingSync
}

// fileHistory is a file's index as the cache knows it. versions is never
// changed in place: an update puts a new slice.
type fileHistory struct {
	versions []Version // oldest first
	lines    int       // lines in the index file, dropped versions' included
	torn     bool      // an append failed: the index is to be rewritten whole
}

type histEntry struct {
	rel        string
	h          fileHistory
	prev, next *histEntry
}

// The cache's bounds. A Version costs about 300 bytes (its strings
// included), so the cache holds at most about 1.5 MiB; the files the
// commits of the last moments touched are all in it.
const (
	histCacheMaxFiles    = 512
	histCacheMaxVersions = 4096
)

// get returns rel's cached index, marking it used.
func (c *historyCache) get(rel string) (fileHistory, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.files[rel]
	if e == nil {
		return fileHistory{}, false
	}
	c.unlinkLocked(e)
	c.pushLocked(e)
	return e.h, true
}

// put caches h as rel's index, then drops the least recently used entries
// past the bounds. An entry whose index is torn stays: only it knows the
// versions the index lacks. The caller holds c.record.
func (c *historyCache) put(rel string, h fileHistory) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.files == nil {
		c.files = map[string]*histEntry{}
		c.lru.prev, c.lru.next = &c.lru, &c.lru
	}
	e := c.files[rel]
	if e == nil {
		e = &histEntry{rel: rel}
		c.files[rel] = e
	} else {
		c.unlinkLocked(e)
		c.versions -= len(e.h.versions)
	}
	e.h = h
	c.versions += len(h.versions)
	c.pushLocked(e)
	for x := c.lru.prev; x != e && (len(c.files) > histCacheMaxFiles || c.versions > histCacheMaxVersions); {
		older := x.prev
		if !x.h.torn {
			c.dropLocked(x)
		}
		x = older
	}
}

// clear drops every entry (the histories moved on disk). The caller
// holds c.record.
func (c *historyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.files, c.versions = nil, 0
	c.lru.prev, c.lru.next = &c.lru, &c.lru
}

// len returns the number of files and of versions cached.
func (c *historyCache) len() (files, versions int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.files), c.versions
}

func (c *historyCache) dropLocked(e *histEntry) {
	c.unlinkLocked(e)
	delete(c.files, e.rel)
	c.versions -= len(e.h.versions)
}

func (c *historyCache) unlinkLocked(e *histEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *historyCache) pushLocked(e *histEntry) {
	e.prev, e.next = &c.lru, c.lru.next
	c.lru.next.prev = e
	c.lru.next = e
}

// setPending makes p the pending record of rel and returns the one it
// replaces (to be flushed by the caller).
func (c *historyCache) setPending(rel string, p *pendingSync) *pendingSync {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending == nil {
		c.pending = map[string]*pendingSync{}
	}
	old := c.pending[rel]
	c.pending[rel] = p
	return old
}

// donePending forgets p, flushed, unless a newer record replaced it.
func (c *historyCache) donePending(rel string, p *pendingSync) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pending[rel] == p {
		delete(c.pending, rel)
	}
}

// takePending returns and forgets rel's pending record (nil if none).
func (c *historyCache) takePending(rel string) *pendingSync {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.pending[rel]
	delete(c.pending, rel)
	return p
}

// takeAllPending returns and forgets every pending record.
func (c *historyCache) takeAllPending() []*pendingSync {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := make([]*pendingSync, 0, len(c.pending))
	for _, p := range c.pending {
		ps = append(ps, p)
	}
	c.pending = nil
	return ps
}
