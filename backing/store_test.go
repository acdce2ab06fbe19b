package backing

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fakeCluster is an in-memory store shared by the Dirs of a test, each
// through its own fakeStore (a "machine").
type fakeCluster struct {
	mu       sync.Mutex
	rev      int64
	kv       map[string]StoredVersion
	log      []StoredVersion
	watchers map[string]chan StoredVersion
	held     map[string][]StoredVersion // versions not yet delivered to a machine
	hold     map[string]bool
	down     error
	limit    int
}

func newFakeCluster() *fakeCluster {
	return &fakeCluster{kv: map[string]StoredVersion{}, watchers: map[string]chan StoredVersion{},
		held: map[string][]StoredVersion{}, hold: map[string]bool{}}
}

type fakeStore struct {
	c    *fakeCluster
	name string
}

func (s *fakeStore) Commit(base int64, v StoredVersion) (int64, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down != nil {
		return 0, c.down
	}
	if c.limit > 0 && len(v.Data) > c.limit {
		return 0, &StoreLimitError{Size: len(v.Data), Limit: c.limit, What: "the fake's limit"}
	}
	if c.kv[v.Path].ModRev != base {
		return 0, ErrStoreConflict
	}
	c.rev++
	v.ModRev = c.rev
	v.Data = append([]byte(nil), v.Data...)
	c.kv[v.Path] = v
	c.log = append(c.log, v)
	for name, ch := range c.watchers {
		if c.hold[name] {
			c.held[name] = append(c.held[name], v)
		} else {
			ch <- v
		}
	}
	return c.rev, nil
}

func (s *fakeStore) Move(base int64, v StoredVersion, goneBase int64, gone StoredVersion) (int64, error) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.down != nil {
		return 0, c.down
	}
	if c.kv[v.Path].ModRev != base || c.kv[gone.Path].ModRev != goneBase {
		return 0, ErrStoreConflict
	}
	c.rev++
	for _, v := range []StoredVersion{v, gone} {
		v.ModRev = c.rev
		v.Data = append([]byte(nil), v.Data...)
		c.kv[v.Path] = v
		c.log = append(c.log, v)
		for name, ch := range c.watchers {
			if c.hold[name] {
				c.held[name] = append(c.held[name], v)
			} else {
				ch <- v
			}
		}
	}
	return c.rev, nil
}

func (s *fakeStore) Get(rel string) (StoredVersion, bool, error) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	v, ok := s.c.kv[rel]
	return v, ok, s.c.down
}

func (s *fakeStore) Load() ([]StoredVersion, int64, error) {
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	if s.c.down != nil {
		return nil, 0, s.c.down
	}
	var out []StoredVersion
	for _, v := range s.c.kv {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ModRev < out[j].ModRev })
	return out, s.c.rev, nil
}

func (s *fakeStore) Watch(ctx context.Context, from int64, apply func(StoredVersion), resynced func(int64, int64)) {
	ch := make(chan StoredVersion, 1024)
	s.c.mu.Lock()
	for _, v := range s.c.log {
		if v.ModRev >= from {
			ch <- v
		}
	}
	s.c.watchers[s.name] = ch
	s.c.mu.Unlock()
	for {
		select {
		case <-ctx.Done():
			return
		case v := <-ch:
			apply(v)
		}
	}
}

// release delivers what was held back from machine name.
func (c *fakeCluster) release(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold[name] = false
	for _, v := range c.held[name] {
		c.watchers[name] <- v
	}
	c.held[name] = nil
}

func (s *fakeStore) Name() string             { return s.name }
func (s *fakeStore) String() string           { return "fake" }
func (s *fakeStore) Ping(time.Duration) error { s.c.mu.Lock(); defer s.c.mu.Unlock(); return s.c.down }
func (s *fakeStore) Close() error             { return nil }

// machine opens a fresh DIR attached to c as name.
func machine(t *testing.T, c *fakeCluster, name string) (*Dir, string) {
	t.Helper()
	root := newRoot(t)
	d := openDir(t, root, Config{LockTimeout: 2 * time.Second})
	if err := d.AttachStore(&fakeStore{c: c, name: name}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(d.DetachStore)
	return d, root
}

// eventually polls cond (a deadlock guard, not a time bound).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStoreFollowAndConflict(t *testing.T) {
	c := newFakeCluster()
	a, rootA := machine(t, c, "A")
	b, rootB := machine(t, c, "B")
	commit(t, a, "notes.md", "one\n")
	eventually(t, "B to apply and log A's commit", func() bool {
		return len(entriesFor(t, rootB, "create", "notes.md")) == 1
	})
	fileBytesIs(t, filepath.Join(rootB, "notes.md"), "one\n")
	e := oneEntry(t, rootB, "create", "notes.md")
	if e.Machine != "A" || *e.Revision != 0 || e.SHA256 != sha("one\n") {
		t.Errorf("B's log line of A's commit: machine %q revision %v sha %s", e.Machine, ptrStr(e.Revision), e.SHA256)
	}
	if e := oneEntry(t, rootA, "create", "notes.md"); e.Machine != "A" {
		t.Errorf("A's own line: machine %q", e.Machine)
	}

	// B's watch is behind: A commits again, and B's commit from the
	// version it has is refused by the store, its bytes kept.
	c.mu.Lock()
	c.hold["B"] = true
	c.mu.Unlock()
	commit(t, a, "notes.md", "two\n")
	_, err := b.Commit(Write{Path: "notes.md", Data: []byte("stale\n"), Base: -1, Caller: testCaller})
	r := wantRefusal(t, err, OpConflict, syscall.EBUSY)
	wantKept(t, rootB, r, oneEntry(t, rootB, OpConflict, "notes.md"), "stale\n")
	fileBytesIs(t, filepath.Join(rootB, "notes.md"), "one\n")

	c.release("B")
	eventually(t, "B to catch up", func() bool {
		got, _ := os.ReadFile(filepath.Join(rootB, "notes.md"))
		return string(got) == "two\n"
	})
	wantRev(t, b, "notes.md", 1)
	commit(t, b, "notes.md", "three\n") // from the version it now has
	eventually(t, "A to apply B's commit", func() bool {
		got, _ := os.ReadFile(filepath.Join(rootA, "notes.md"))
		return string(got) == "three\n"
	})
	wantRev(t, a, "notes.md", 2)
}

func TestStoreUnavailableAndTooLarge(t *testing.T) {
	c := newFakeCluster()
	a, rootA := machine(t, c, "A")
	commit(t, a, "notes.md", "one\n")

	c.mu.Lock()
	c.down = errors.New("etcd at 127.0.0.1:1 did not answer within 2s")
	c.mu.Unlock()
	_, err := a.Commit(Write{Path: "notes.md", Data: []byte("two\n"), Base: -1, Caller: testCaller})
	r := wantRefusal(t, err, OpStoreUnavailable, syscall.EIO)
	wantKept(t, rootA, r, oneEntry(t, rootA, OpStoreUnavailable, "notes.md"), "two\n")
	fileBytesIs(t, filepath.Join(rootA, "notes.md"), "one\n")
	wantRev(t, a, "notes.md", 0)
	conf := map[string]any{}
	a.StoreStatus(conf)
	if s, _ := conf["store_state"].(string); s == "ok" || s == "" {
		t.Errorf("store_state %q with the store down", s)
	}
	if err := a.Remove("notes.md", testCaller); Errno(err) != syscall.EIO {
		t.Errorf("a removal with the store down: %v, want EIO", err)
	}
	fileBytesIs(t, filepath.Join(rootA, "notes.md"), "one\n")

	c.mu.Lock()
	c.down, c.limit = nil, 8
	c.mu.Unlock()
	_, err = a.Commit(Write{Path: "notes.md", Data: []byte("much longer than eight\n"), Base: -1, Caller: testCaller})
	wantRefusal(t, err, OpTooLarge, syscall.EFBIG)
	fileBytesIs(t, filepath.Join(rootA, "notes.md"), "one\n")
}

func TestStoreRemoveIsShared(t *testing.T) {
	c := newFakeCluster()
	a, _ := machine(t, c, "A")
	_, rootB := machine(t, c, "B")
	commit(t, a, "gone.md", "x\n")
	eventually(t, "B to get gone.md", func() bool {
		_, err := os.Stat(filepath.Join(rootB, "gone.md"))
		return err == nil
	})
	if err := a.Remove("gone.md", testCaller); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B to remove gone.md and log it", func() bool {
		return len(entriesFor(t, rootB, "delete", "gone.md")) == 1
	})
	notExist(t, filepath.Join(rootB, "gone.md"))
	if e := oneEntry(t, rootB, "delete", "gone.md"); e.Machine != "A" {
		t.Errorf("B's delete line: machine %q", e.Machine)
	}
}

// TestStoreRenameIsShared: a rename between managed names is one store
// transaction: every machine gets the new name and loses the old one,
// logged as the renaming machine's; a newer version of the old name on
// another machine refuses the rename as a whole.
func TestStoreRenameIsShared(t *testing.T) {
	c := newFakeCluster()
	a, rootA := machine(t, c, "A")
	b, rootB := machine(t, c, "B")
	commit(t, a, "old.md", "x\n")
	eventually(t, "B to get old.md", func() bool {
		_, err := os.Stat(filepath.Join(rootB, "old.md"))
		return err == nil
	})
	if err := a.Rename("old.md", "new.md", 0, testCaller); err != nil {
		t.Fatal(err)
	}
	notExist(t, filepath.Join(rootA, "old.md"))
	eventually(t, "B to remove old.md and log it", func() bool {
		return len(entriesFor(t, rootB, "delete", "old.md")) == 1
	})
	notExist(t, filepath.Join(rootB, "old.md"))
	fileBytesIs(t, filepath.Join(rootB, "new.md"), "x\n")
	if e := oneEntry(t, rootB, "delete", "old.md"); e.Machine != "A" || !strings.Contains(e.Description, "renamed to new.md on A") {
		t.Errorf("B's line for old.md: machine %q, %q", e.Machine, e.Description)
	}
	if es := entriesFor(t, rootA, "delete", "old.md"); len(es) != 0 {
		t.Errorf("A logged its own rename's old name as a delete too: %q", es[0].Description)
	}

	// B commits new.md again; A has not seen it yet. A's rename of
	// new.md is refused as a whole: nothing moves anywhere.
	c.mu.Lock()
	c.hold["A"] = true
	c.mu.Unlock()
	commit(t, b, "new.md", "y\n")
	err := a.Rename("new.md", "third.md", 0, testCaller)
	wantRefusal(t, err, OpConflict, syscall.EBUSY)
	fileBytesIs(t, filepath.Join(rootA, "new.md"), "x\n")
	notExist(t, filepath.Join(rootA, "third.md"))
	c.release("A")
	eventually(t, "A to catch up", func() bool {
		got, _ := os.ReadFile(filepath.Join(rootA, "new.md"))
		return string(got) == "y\n"
	})
	notExist(t, filepath.Join(rootB, "third.md"))
	if err := a.Rename("new.md", "third.md", 0, testCaller); err != nil {
		t.Fatal(err)
	}
	eventually(t, "B to follow the rename", func() bool {
		got, _ := os.ReadFile(filepath.Join(rootB, "third.md"))
		_, err := os.Stat(filepath.Join(rootB, "new.md"))
		return string(got) == "y\n" && err != nil
	})
}
