package revision

import (
	"math/rand/v2"
	"strings"
	"testing"
)

// yamlPieces are fragments that move yaml.v3's line and column counting:
// every kind of line break, tabs, multi-byte characters, multi-line scalars.
var yamlPieces = []string{
	"a: 1", "b: \"q\"", "c: 'it''s'", "é: ☕", "𝄞: \"𝄞\"", "k\t: v",
	"# comment ☃", "#", "d: x # ü",
	"m: \"line\n  folded\"", "n: 'two\n\n  lines'", "o: \"esc\\\n  aped\"",
	"p: |\n  literal ☕\n   more", "q: >-\n  folded\n\n  text", "r: |2\n    indented",
	"s: [1,\n  2, é]", "t: {x: 1,\n  y: ü}", "u: &a [1]", "v: *a",
	"? complex\n: key", "w:\n  - 1\n  - ⌘", "plain: multi\n  line ü",
}

var yamlBreaks = []string{"\n", "\r\n", "\r", "\u0085", "\u2028", "\u2029", "\n\n", "\n# c\n"}

var revisionLines = []string{
	"revision: 11", "revision: 11   # comment", "\"revision\": 11", "'revision': 11",
	"revision:\t11", "revision:\n  11", "revision: 11 #☕", "revision:    0",
}

// TestStampRandomDocuments builds many documents from the fragments above
// and checks that stamping changes exactly the revision scalar.
func TestStampRandomDocuments(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	stamped := 0
	for range 20000 {
		var b strings.Builder
		if rng.IntN(8) == 0 {
			b.WriteString("\uFEFF")
		}
		if rng.IntN(8) == 0 {
			b.WriteString("---" + yamlBreaks[rng.IntN(len(yamlBreaks))])
		}
		n := rng.IntN(6)
		at := rng.IntN(n + 1)
		used := map[int]bool{}
		for i := 0; i <= n; i++ {
			if i == at {
				b.WriteString(revisionLines[rng.IntN(len(revisionLines))])
			} else {
				p := rng.IntN(len(yamlPieces))
				if used[p] {
					continue
				}
				used[p] = true
				b.WriteString(yamlPieces[p])
			}
			b.WriteString(yamlBreaks[rng.IntN(len(yamlBreaks))])
		}
		d, err := Parse(YAML, []byte(b.String()), DefaultLimits())
		if err != nil || !d.HasRev {
			continue
		}
		stamped++
		checkStamp(t, d, rng.Int64N(1<<40))
	}
	if stamped < 5000 {
		t.Fatalf("only %d of 20000 documents had a revision; the generator is broken", stamped)
	}
}
