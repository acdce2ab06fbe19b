package backing

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// A reader without a Dir (paracfs show, diff on a DIR no daemon serves)
// finds the versions a Dir kept, checked as Dir.ReadVersion checks them.
func TestReadVersionAt(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	if err := os.Mkdir(filepath.Join(root, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	commit(t, d, "sub/x.yaml", "a: 1\n")
	commit(t, d, "sub/x.yaml", "a: 2\n")
	d.Close()
	meta := MetaPath(root)

	vs, err := VersionsAt(meta, "sub/x.yaml")
	if err != nil || len(vs) < 2 {
		t.Fatalf("VersionsAt: %+v, %v; want two versions at least", vs, err)
	}
	for _, v := range vs {
		data, err := ReadVersionAt(meta, "sub/x.yaml", v)
		if err != nil || SHA256(data) != v.SHA256 || int64(len(data)) != v.Size {
			t.Errorf("ReadVersionAt(revision %d) = %q, %v; want the bytes of sha256 %s", v.Rev, data, err, v.SHA256)
		}
	}
	if _, err := VersionsAt(meta, "none.yaml"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("VersionsAt of a file without history: %v, want ErrNotExist", err)
	}

	// Damaged bytes are an error, never shown.
	old := vs[0] // not the newest, which a Dir opened again takes back from the file itself
	p := filepath.Join(meta, "history", "sub", "x.yaml", VersionName("sub/x.yaml", old.Rev))
	if err := os.WriteFile(p, []byte("a: 9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "sub/x.yaml@" + strconv.FormatInt(old.Rev, 10) + ": the kept bytes do not match their sha256 (damaged by a crash?)"
	if _, err := ReadVersionAt(meta, "sub/x.yaml", old); err == nil || err.Error() != want {
		t.Errorf("ReadVersionAt of damaged bytes: %v, want %q", err, want)
	}
	d2 := openDir(t, root, Config{})
	if _, _, err := d2.ReadVersion("sub/x.yaml", old.Rev); err == nil || err.Error() != want {
		t.Errorf("Dir.ReadVersion of damaged bytes: %v, want %q", err, want)
	}
}

// TempName makes the names IsTemp knows, which the mount hides and
// recovery removes, for long names too.
func TestTempName(t *testing.T) {
	for _, base := range []string{"state_changes.jsonl", strings.Repeat("é", 127)} {
		n := TempName(base)
		if !IsTemp(n) || len(n) > maxName || n == TempName(base) {
			t.Errorf("TempName(%d bytes) = %q: IsTemp %v, %d bytes; want a fresh temp name of at most %d bytes", len(base), n, IsTemp(n), len(n), maxName)
		}
	}
}
