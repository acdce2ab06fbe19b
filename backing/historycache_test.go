package backing

import (
	"fmt"
	"testing"
)

func versionsN(n int) []Version {
	vs := make([]Version, n)
	for i := range vs {
		vs[i].Rev = int64(i)
	}
	return vs
}

// The cache keeps at most histCacheMaxFiles files and
// histCacheMaxVersions versions, dropping the least recently used first.
func TestHistoryCacheBounds(t *testing.T) {
	var c historyCache
	for i := 0; i < 3*histCacheMaxFiles; i++ {
		c.put(fmt.Sprintf("f%d", i), fileHistory{versions: versionsN(1), lines: 1})
		if i == 10 {
			c.get("f0") // used: outlives f1 to f10
		}
	}
	files, versions := c.len()
	if files != histCacheMaxFiles || versions != histCacheMaxFiles {
		t.Errorf("after %d files of one version: %d files, %d versions cached, want %d", 3*histCacheMaxFiles, files, versions, histCacheMaxFiles)
	}
	if _, ok := c.get(fmt.Sprintf("f%d", 3*histCacheMaxFiles-1)); !ok {
		t.Error("the newest file is not cached")
	}
	if _, ok := c.get("f1"); ok {
		t.Error("f1, the least recently used, is still cached")
	}

	// Files of many versions: the bound on versions holds.
	per := histCacheMaxVersions / 8
	for i := 0; i < 20; i++ {
		c.put(fmt.Sprintf("big%d", i), fileHistory{versions: versionsN(per), lines: per})
	}
	if _, versions := c.len(); versions > histCacheMaxVersions {
		t.Errorf("%d versions cached, want at most %d", versions, histCacheMaxVersions)
	}
	if h, ok := c.get("big19"); !ok || len(h.versions) != per {
		t.Errorf("big19: %d versions, cached %v; want %d", len(h.versions), ok, per)
	}

	// Replacing an entry counts its versions once.
	c.clear()
	c.put("a", fileHistory{versions: versionsN(5)})
	c.put("a", fileHistory{versions: versionsN(7)})
	if files, versions := c.len(); files != 1 || versions != 7 {
		t.Errorf("one file put twice: %d files, %d versions, want 1, 7", files, versions)
	}
	// A file larger than the bound alone stays: it was just recorded.
	c.put("huge", fileHistory{versions: versionsN(histCacheMaxVersions + 1)})
	if _, ok := c.get("huge"); !ok {
		t.Error("a file over the bound alone is not cached")
	}
	if files, _ := c.len(); files != 1 {
		t.Errorf("%d files cached beside one over the bound, want 1", files)
	}
}

// An entry whose index is torn (an append failed) is never dropped: only
// it lists the versions the index lacks.
func TestHistoryCacheKeepsTorn(t *testing.T) {
	var c historyCache
	c.put("torn", fileHistory{versions: versionsN(2), torn: true})
	for i := 0; i < 2*histCacheMaxFiles; i++ {
		c.put(fmt.Sprintf("f%d", i), fileHistory{versions: versionsN(1)})
	}
	if h, ok := c.get("torn"); !ok || !h.torn || len(h.versions) != 2 {
		t.Errorf("torn entry after %d others: %+v, cached %v; want it kept", 2*histCacheMaxFiles, h, ok)
	}
	if files, _ := c.len(); files != histCacheMaxFiles {
		t.Errorf("%d files cached, want %d", files, histCacheMaxFiles)
	}
}

// A file whose cached index was dropped goes on where its index left off:
// the versions, the pruning by the bound and the restore of an old version
// are those of a file never dropped.
func TestHistoryAfterEviction(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{History: HistoryBounds{MaxVersions: 3}})
	for i := 0; i < 5; i++ {
		commit(t, d, "a.md", fmt.Sprintf("a %d\n", i))
		d.hist.clear() // what eviction does
	}
	// Many files: a.md's entry is evicted by the bound, not by hand.
	for i := 0; i < histCacheMaxFiles+1; i++ {
		d.hist.record.Lock()
		d.hist.put(fmt.Sprintf("other%d.md", i), fileHistory{versions: versionsN(1), lines: 1})
		d.hist.record.Unlock()
	}
	if _, ok := d.hist.get("a.md"); ok {
		t.Fatal("a.md is still cached after more files than the bound")
	}
	commit(t, d, "a.md", "a 5\n")
	vs, err := d.Versions("a.md")
	if err != nil || len(vs) != 3 || vs[0].Rev != 3 || vs[2].Rev != 5 {
		t.Fatalf("versions of a.md: %+v (%v), want revisions 3, 4, 5", vs, err)
	}
	if h, ok := d.hist.get("a.md"); !ok || len(h.versions) != 3 || h.versions[2].Rev != 5 {
		t.Errorf("cached a.md after its commit: %+v, %v", h, ok)
	}
	d.hist.clear()
	if data, _, err := d.ReadVersion("a.md", 4); err != nil || string(data) != "a 4\n" {
		t.Errorf("a.md@4: %q, %v", data, err)
	}
	// A stale write of revision 4's bytes is a restore, found in the
	// index read back.
	d.hist.clear()
	if v, ok := d.restoredVersion("a.md", sha("a 4\n"), 5, -1); !ok || v.Rev != 4 {
		t.Errorf("restoredVersion of a.md@4 after eviction: %+v, %v", v, ok)
	}
}
