package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paracfs/paracfs/backing"
)

// FILE@REV arguments: how they split, and how an unmounted DIR's history
// is found and read (the commands read DIR itself when it is not mounted).

func TestSplitRev(t *testing.T) {
	for _, tc := range []struct {
		arg    string
		file   string
		rev    int64
		hasRev bool
		err    string
	}{
		{arg: "state.yaml", file: "state.yaml"},
		{arg: "state.yaml@3", file: "state.yaml", rev: 3, hasRev: true},
		{arg: "state.yaml@0", file: "state.yaml", rev: 0, hasRev: true},
		{arg: "dir/a@b.yaml@12", file: "dir/a@b.yaml", rev: 12, hasRev: true},
		{arg: "user@host.md", file: "user@host.md"}, // a name with an @, no revision
		{arg: "@7", file: "", rev: 7, hasRev: true},
		{arg: "x.yaml@", err: `"x.yaml@": want FILE@REV with a revision number after the @, not "" (see paracfs history x.yaml)`},
		{arg: "x.yaml@-1", err: `"x.yaml@-1": want FILE@REV with a revision number after the @, not "-1" (see paracfs history x.yaml)`},
		{arg: "x.yaml@+-2", err: `"x.yaml@+-2": want FILE@REV with a revision number after the @, not "+-2" (see paracfs history x.yaml)`},
		{arg: "x.yaml@99999999999999999999", err: `"x.yaml@99999999999999999999": want FILE@REV with a revision number after the @, not "99999999999999999999" (see paracfs history x.yaml)`},
	} {
		file, rev, hasRev, err := splitRev(tc.arg)
		if tc.err != "" {
			var ue usageError
			if !errors.As(err, &ue) || ue.msg != tc.err {
				t.Errorf("splitRev(%q): error %v, want usage error %q", tc.arg, err, tc.err)
			}
			continue
		}
		if err != nil || file != tc.file || rev != tc.rev || hasRev != tc.hasRev {
			t.Errorf("splitRev(%q) = %q, %d, %v, %v; want %q, %d, %v", tc.arg, file, rev, hasRev, err, tc.file, tc.rev, tc.hasRev)
		}
	}
}

func TestNoRev(t *testing.T) {
	for _, tc := range []struct{ arg, form, want string }{
		{"state.yaml", "FILE@REV", `"state.yaml": name a revision, as FILE@REV (see paracfs history state.yaml)`},
		{"a/b.json@x", "FILE@A", `"a/b.json@x": want FILE@A with a revision number after the @, not "x" (see paracfs history a/b.json)`},
	} {
		var ue usageError
		if err := noRev(tc.arg, tc.form); !errors.As(err, &ue) || ue.msg != tc.want {
			t.Errorf("noRev(%q, %q) = %v, want %q", tc.arg, tc.form, err, tc.want)
		}
	}
}

func TestFileRefString(t *testing.T) {
	for _, tc := range []struct {
		f    fileRef
		want string
	}{
		{fileRef{rel: "a/b.yaml"}, "a/b.yaml"},
		{fileRef{rel: "a/b.yaml", rev: 4, hasRev: true}, "a/b.yaml@4"},
		{fileRef{rel: "c.md", rev: 0, hasRev: true}, "c.md@0"},
	} {
		if got := tc.f.String(); got != tc.want {
			t.Errorf("%+v.String() = %q, want %q", tc.f, got, tc.want)
		}
	}
}

// unmountedDir makes a DIR that paracfs has served (it has .paracfs/) and
// that is not mounted, with x.yaml and two versions of it.
func unmountedDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), ".parac")
	hist := filepath.Join(dir, filepath.FromSlash(backing.HistoryPath("sub/x.yaml")))
	for _, d := range []string{hist, filepath.Join(dir, "sub")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) {
		t.Helper()
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "sub", "x.yaml"), "revision: 2\nb: 2\n")
	write(filepath.Join(dir, "plain.md"), "no history\n")
	var index []byte
	for _, v := range []struct {
		rev     int64
		content string
	}{{1, "revision: 1\na: 1\n"}, {2, "revision: 2\nb: 2\n"}} {
		write(filepath.Join(hist, backing.VersionName("sub/x.yaml", v.rev)), v.content)
		line, err := json.Marshal(backing.Version{Rev: v.rev, Time: time.Unix(1700000000+v.rev, 0).UTC(), Op: "commit",
			Pid: 7, Command: "vim", Size: int64(len(v.content)), SHA256: backing.SHA256([]byte(v.content))})
		if err != nil {
			t.Fatal(err)
		}
		index = append(append(index, line...), '\n')
	}
	write(filepath.Join(hist, backing.HistoryIndex), string(index))
	return dir
}

func TestResolveFileUnmounted(t *testing.T) {
	dir := unmountedDir(t)
	t.Chdir(filepath.Join(dir, "sub"))

	f, err := resolveFile("x.yaml@1")
	if err != nil {
		t.Fatal(err)
	}
	if f.root != dir || f.mount != nil || f.rel != "sub/x.yaml" || f.rev != 1 || !f.hasRev {
		t.Errorf("resolveFile(x.yaml@1) = %+v; want root %s, no mount, rel sub/x.yaml, rev 1", f, dir)
	}
	if got, want := f.historyDir(), filepath.Join(dir, ".paracfs", "history", "sub", "x.yaml"); got != want {
		t.Errorf("historyDir() = %q, want %q", got, want)
	}
	b, err := f.content()
	if err != nil || string(b) != "revision: 1\na: 1\n" {
		t.Errorf("content of x.yaml@1 = %q, %v", b, err)
	}
	vs, err := f.versions()
	if err != nil || len(vs) != 2 || vs[0].Rev != 1 || vs[1].Rev != 2 || vs[1].Command != "vim" {
		t.Errorf("versions() = %+v, %v; want revisions 1 and 2", vs, err)
	}

	// No revision: the current file.
	cur, err := resolveFile(filepath.Join(dir, "sub", "x.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if b, err := cur.content(); err != nil || string(b) != "revision: 2\nb: 2\n" || cur.hasRev {
		t.Errorf("content of x.yaml = %q, %v (hasRev %v)", b, err, cur.hasRev)
	}

	for _, tc := range []struct{ arg, want string }{
		{"x.yaml@9", "sub/x.yaml: revision 9 is not kept (kept: 1 2)"},
		{"../plain.md@1", "plain.md: no history kept (paracfs keeps the versions committed through its mount)"},
		{"gone.yaml@1", "sub/gone.yaml: no such file, and no history kept under that name"},
	} {
		f, err := resolveFile(tc.arg)
		if err != nil {
			t.Errorf("resolveFile(%q): %v", tc.arg, err)
			continue
		}
		if _, err := f.content(); err == nil || err.Error() != tc.want {
			t.Errorf("content of %s: %v, want %q", tc.arg, err, tc.want)
		}
	}

	// Damaged kept bytes are refused, not shown.
	v1 := filepath.Join(dir, filepath.FromSlash(backing.HistoryPath("sub/x.yaml")), "1.yaml")
	if err := os.WriteFile(v1, []byte("revision: 1\na: 9\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := f.content(); err == nil || err.Error() != "sub/x.yaml@1: the kept bytes do not match their sha256 (damaged by a crash?)" {
		t.Errorf("content of a damaged version: %v", err)
	}
}

func TestResolveFileRefused(t *testing.T) {
	dir := unmountedDir(t)
	outside := t.TempDir()
	for _, tc := range []struct{ arg, want string }{
		{filepath.Join(dir, ".paracfs", "history", "sub", "x.yaml", "1.yaml"), "inside .paracfs/, which has no history of its own"},
		{filepath.Join(outside, "x.yaml"), "not inside a directory paracfs serves or has served (no .paracfs folder above it)"},
	} {
		_, err := resolveFile(tc.arg)
		if err == nil || !strings.HasSuffix(err.Error(), tc.want) {
			t.Errorf("resolveFile(%q) = %v, want an error ending %q", tc.arg, err, tc.want)
		}
	}
}
