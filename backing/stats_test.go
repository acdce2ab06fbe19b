package backing

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// Stats counts commits and each kind of refusal, and keeps the last
// refusals, oldest first, no more than lastRefusals.
func TestStats(t *testing.T) {
	d := openDir(t, newRoot(t), Config{})
	commit(t, d, "a.yaml", "a: 1\n") // revision 0
	commit(t, d, "a.yaml", "a: 2\n") // revision 1
	commit(t, d, "a.json", "{}\n")
	for i := 0; i < lastRefusals+5; i++ {
		_, err := d.Commit(Write{Path: "bad.yaml", Data: []byte(fmt.Sprintf("x%d: [\n", i)), Base: -1, Caller: testCaller})
		wantRefusal(t, err, OpInvalid, 74)
	}
	_, err := d.Commit(Write{Path: "a.yaml", Data: []byte("a: 3\n"), Base: 0, Caller: testCaller})
	wantRefusal(t, err, OpConflict, 16)
	s := d.Stats()
	if s.Commits != 3 || s.Invalid != lastRefusals+5 || s.Conflicts != 1 || s.LockTimeouts != 0 || s.Refused != lastRefusals+6 {
		t.Errorf("stats %+v", s)
	}
	if len(s.Last) != lastRefusals {
		t.Fatalf("%d last refusals, want %d", len(s.Last), lastRefusals)
	}
	if l := s.Last[len(s.Last)-1]; l.Op != OpConflict || l.Path != "a.yaml" || l.Errno != "EBUSY" || l.Pid != testCaller.Pid || l.Kept == "" {
		t.Errorf("newest refusal %+v", l)
	}
	if f := s.Last[0]; f.Op != OpInvalid || f.Kept == "" {
		t.Errorf("oldest refusal kept %+v", f)
	}
}

// PruneLog removes old entries and keeps every line appended while it runs.
func TestPruneLogConcurrent(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	old := fmt.Sprintf(`{"timestamp":"%s","process_id":1,"change_type":"x","description":"old"}`+"\n",
		time.Now().Add(-48*time.Hour).UTC().Format(time.RFC3339Nano))
	for i := 0; i < 2000; i++ {
		if err := d.AppendLog([]byte(old), testCaller); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 200; i++ {
			commit(t, d, "c.yaml", fmt.Sprintf("n: %d\n", i))
		}
	}()
	removed := 0
	for i := 0; i < 20; i++ {
		n, _, err := d.PruneLog(time.Now().Add(-time.Hour), testCaller)
		if err != nil {
			t.Fatal(err)
		}
		removed += n
	}
	wg.Wait()
	if removed != 2000 {
		t.Errorf("removed %d, want 2000", removed)
	}
	commits, prunes := 0, 0
	for _, e := range logEntries(t, root) {
		switch {
		case e.Path == "c.yaml":
			commits++
		case e.Op == "prune":
			prunes++
		case e.Description == "old":
			t.Errorf("an old entry survived")
		}
	}
	if commits != 200 || prunes != 20 {
		t.Errorf("%d commit lines, %d prune lines; want 200, 20", commits, prunes)
	}
}
