package backing

import (
	"sync"

	"github.com/paracfs/paracfs/revision"
)

// The last version the daemon committed of each recently written file is
// kept, parsed, so that the next commit of that file (which needs the old
// version for its revision, its changed keys and the same-bytes check)
// does not read and parse it again. An entry is used only while the file
// still carries the very stamp the commit wrote (revision, sha256, size,
// mtime): any change behind the mount's back, a rename or a delete makes
// it miss, and the file is read from disk as before.

// committedVersion is one file's last committed version.
type committedVersion struct {
	st   stamp
	data []byte        // the committed bytes (a private copy)
	doc  *revision.Doc // the parse of the written bytes: the same top-level values, revision aside
}

// committedCache holds committedVersions, bounded in count and bytes.
type committedCache struct {
	mu    sync.Mutex
	m     map[string]committedVersion
	bytes int
}

const (
	committedMaxFiles = 256
	committedMaxBytes = 8 << 20 // of file content; a parsed tree costs a few times more
	committedMaxFile  = 256 << 10
)

// get returns rel's cached version if it is the one stamped s.
func (c *committedCache) get(rel string, s stamp) (committedVersion, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[rel]
	if !ok || v.st != s {
		return committedVersion{}, false
	}
	return v, true
}

// put remembers the version of rel just committed. data is copied; doc
// must not alias bytes the caller still changes.
func (c *committedCache) put(rel string, s stamp, data []byte, doc *revision.Doc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(rel)
	if doc == nil || len(data) > committedMaxFile {
		return
	}
	if c.m == nil {
		c.m = map[string]committedVersion{}
	}
	for k := range c.m { // evict arbitrary entries until there is room
		if len(c.m) < committedMaxFiles && c.bytes+len(data) <= committedMaxBytes {
			break
		}
		c.dropLocked(k)
	}
	c.m[rel] = committedVersion{st: s, data: append([]byte(nil), data...), doc: doc}
	c.bytes += len(data)
}

// drop forgets rel.
func (c *committedCache) drop(rel string) {
	c.mu.Lock()
	c.dropLocked(rel)
	c.mu.Unlock()
}

func (c *committedCache) dropLocked(rel string) {
	if v, ok := c.m[rel]; ok {
		c.bytes -= len(v.data)
		delete(c.m, rel)
	}
}
