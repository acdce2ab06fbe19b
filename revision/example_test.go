package revision_test

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/paracfs/paracfs/revision"
)

// A commit of current_state.yaml: validate, check the revision, stamp, and
// list what changed.
func Example() {
	old, _ := revision.Parse(revision.YAML, []byte("revision: 11\nprogress: 35%   # as the CLI writes it\n"), revision.DefaultLimits())

	// The writer kept `revision: 11` and changed the progress.
	written := []byte("revision: 11\nprogress: 40%   # as the CLI writes it\n")
	doc, err := revision.Parse(revision.KindOf("current_state.yaml"), written, revision.DefaultLimits())
	if err != nil {
		fmt.Println(err)
		return
	}
	next, stamp, err := revision.Check(11, -1, doc, true)
	if err != nil {
		fmt.Println(err)
		return
	}
	content := doc.Data
	if stamp {
		content = doc.Stamped(next)
	}
	changes, _ := json.Marshal(revision.Changes(old, doc))
	fmt.Printf("revision %d\n%s%s\n", next, content, changes)
	// Output:
	// revision 12
	// revision: 12
	// progress: 40%   # as the CLI writes it
	// {"progress":{"old":"35%","new":"40%"}}
}

// A write derived from an older revision is a conflict.
func ExampleCheck_conflict() {
	doc, _ := revision.Parse(revision.JSON, []byte(`{"revision": 9, "status": "done"}`), revision.DefaultLimits())
	_, _, err := revision.Check(11, -1, doc, true)
	var conflict *revision.ConflictError
	fmt.Println(errors.As(err, &conflict), err)
	// Output:
	// true revision conflict: write is based on revision 9, current revision is 11 (the content carries revision 9)
}

// Bombs are refused without being expanded.
func ExampleParse_bomb() {
	bomb := `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
`
	_, err := revision.Parse(revision.YAML, []byte(bomb), revision.DefaultLimits())
	fmt.Println(err)
	// Output:
	// invalid content: yaml alias expansion exceeds 1000000 nodes
}
