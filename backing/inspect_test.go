package backing

import (
	"path/filepath"
	"testing"
)

// A file paracfs never stamped counts from its revision field, however the
// key is spelled, and from 0 without one (where no parse is needed).
func TestRevisionOfUnstampedFiles(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	for _, c := range []struct {
		name, data string
		want       int64
	}{
		{"plain.yaml", "a: 1\nrevision: 7\n", 7},
		{"escaped.yaml", "a: 1\n\"\\x72evision\": 5\n", 5},
		{"escaped.json", "{\"a\": 1, \"\\u0072evision\": 4}\n", 4},
		{"none.yaml", "a: 1\nb: [x, y]\n", 0},
		{"nested.yaml", "a:\n  revision: 3\n", 0},
	} {
		mustWrite(t, filepath.Join(root, c.name), c.data, 0o644)
		if got, err := d.Revision(c.name); err != nil || got != c.want {
			t.Errorf("%s: revision %d, %v; want %d", c.name, got, err, c.want)
		}
	}
}
