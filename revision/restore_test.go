package revision

import "testing"

func TestFirst(t *testing.T) {
	for _, tt := range []struct {
		name string
		doc  *Doc
		want int64
	}{
		{"no content kind", nil, 0},
		{"no field", &Doc{Kind: YAML}, 0},
		{"paracle's initial state", &Doc{Kind: YAML, HasRev: true, Rev: 0}, 0},
		{"a copy of revision 11", &Doc{Kind: YAML, HasRev: true, Rev: 11}, 11},
	} {
		if got := First(tt.doc); got != tt.want {
			t.Errorf("%s: First = %d, want %d", tt.name, got, tt.want)
		}
	}
}

func TestRestores(t *testing.T) {
	for _, tt := range []struct {
		name                string
		current, base, kept int64
		want                bool
	}{
		{"git checkout: never read, older version", 7, -1, 3, true},
		{"git stash: read the current version", 7, 7, 3, true},
		{"the current version again", 7, -1, 7, false},
		{"the current version from the current base", 7, 7, 7, false},
		{"rewrite of the stale copy read", 7, 3, 3, false},
		{"same change as another writer, from a stale read", 7, 5, 6, false},
		{"an older version from a stale read", 7, 5, 2, false},
	} {
		if got := Restores(tt.current, tt.base, tt.kept); got != tt.want {
			t.Errorf("%s: Restores(%d, %d, %d) = %v, want %v", tt.name, tt.current, tt.base, tt.kept, got, tt.want)
		}
	}
}

func TestOlder(t *testing.T) {
	if Older(5, nil) || Older(5, &Doc{Kind: YAML}) || Older(5, &Doc{HasRev: true, Rev: 5}) || Older(5, &Doc{HasRev: true, Rev: 6}) {
		t.Error("Older is true for content not older than current")
	}
	if !Older(5, &Doc{HasRev: true, Rev: 4}) {
		t.Error("Older(5, revision 4) = false")
	}
}
