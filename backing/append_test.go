package backing

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// Concurrent appends land one after the other on whatever is current,
// never conflicting: nothing is lost, and each append is a revision.
func TestCommitAppendConcurrent(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	const rel = "events.jsonl"
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 25; j++ {
				line := fmt.Sprintf("{\"w\": %d, \"n\": %d}\n", w, j)
				if _, err := d.Commit(Write{Path: rel, Data: []byte(line), Base: 7, Append: true, Caller: Caller{Pid: 100 + w}}); err != nil {
					t.Errorf("append %d/%d: %v", w, j, err)
				}
			}
		}()
	}
	wg.Wait()
	got := mustRead(t, filepath.Join(root, rel))
	for w := 0; w < 4; w++ {
		for j := 0; j < 25; j++ {
			if n := strings.Count("\n"+string(got), fmt.Sprintf("\n{\"w\": %d, \"n\": %d}\n", w, j)); n != 1 {
				t.Errorf("line w=%d n=%d appears %d times", w, j, n)
			}
		}
	}
	wantRev(t, d, rel, 99) // the first append created the file: revision 0
}

// An append is validated: a torn JSON line is refused, the file is left
// as it was, and the refusal keeps the whole file the append would have
// made. An append to YAML is validated with what it is appended to, and
// stamped.
func TestCommitAppendValidated(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	mustWrite(t, filepath.Join(root, "e.jsonl"), "{\"a\": 1}\n", 0o644)
	_, err := d.Commit(Write{Path: "e.jsonl", Data: []byte("{\"b\": \n"), Append: true})
	r := wantRefusal(t, err, OpInvalid, syscall.EBADMSG)
	fileBytesIs(t, filepath.Join(root, "e.jsonl"), "{\"a\": 1}\n")
	if kept := mustRead(t, filepath.Join(root, r.Kept)); string(kept) != "{\"a\": 1}\n{\"b\": \n" {
		t.Errorf("kept %q, want the whole file the append would have made", kept)
	}

	mustWrite(t, filepath.Join(root, "s.yaml"), "revision: 3\na: 1\n", 0o644)
	if _, err := d.Commit(Write{Path: "s.yaml", Data: []byte("b: 2\n"), Append: true}); err != nil {
		t.Fatalf("appending a key to YAML: %v", err)
	}
	fileBytesIs(t, filepath.Join(root, "s.yaml"), "revision: 4\na: 1\nb: 2\n")
	_, err = d.Commit(Write{Path: "s.yaml", Data: []byte("c: [\n"), Append: true})
	wantRefusal(t, err, OpInvalid, syscall.EBADMSG)
	fileBytesIs(t, filepath.Join(root, "s.yaml"), "revision: 4\na: 1\nb: 2\n")
}
