package main

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// DIR operands: made absolute with symlinks resolved (so that a mount is
// found whatever path names it), or the nearest .parac when none is given.

// realTemp is t.TempDir() with its own symlinks resolved (TMPDIR may be
// one).
func realTemp(t *testing.T) string {
	t.Helper()
	d, err := filepath.EvalSymlinks(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestAbsDir(t *testing.T) {
	tmp := realTemp(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(tmp, "real", ".parac"), 0o755))
	must(os.Symlink("real", filepath.Join(tmp, "rel-link")))                          // relative
	must(os.Symlink(filepath.Join(tmp, "real", ".parac"), filepath.Join(tmp, "abs"))) // absolute, to the last component
	must(os.Symlink("rel-link/.parac", filepath.Join(tmp, "chain")))                  // through another link
	must(os.Symlink("loop-b", filepath.Join(tmp, "loop-a")))
	must(os.Symlink("loop-a", filepath.Join(tmp, "loop-b")))
	t.Chdir(tmp)

	want := filepath.Join(tmp, "real", ".parac")
	for _, in := range []string{
		want, "real/.parac", "./real/../real/.parac/", "rel-link/.parac", "abs", "chain",
		filepath.Join(tmp, "rel-link", ".parac"),
	} {
		if got, err := absDir(in); err != nil || got != want {
			t.Errorf("absDir(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	// A missing path is made absolute; the caller says it is missing.
	if got, err := absDir("rel-link/missing"); err != nil || got != filepath.Join(tmp, "real", "missing") {
		t.Errorf("absDir(rel-link/missing) = %q, %v", got, err)
	}
	if got, err := absDir("loop-a"); err == nil || err.Error() != "loop-a: too many levels of symbolic links" {
		t.Errorf("absDir(loop-a) = %q, %v; want too many levels", got, err)
	}

	// dirOperand takes operand i, or the nearest .parac.
	if got, err := dirOperand([]string{"x", "abs"}, 1); err != nil || got != want {
		t.Errorf("dirOperand(abs) = %q, %v", got, err)
	}
	t.Chdir(filepath.Join(tmp, "real", ".parac"))
	must(os.Mkdir("deep", 0o755))
	t.Chdir("deep")
	if got, err := dirOperand(nil, 0); err != nil || got != want {
		t.Errorf("dirOperand() inside .parac/deep = %q, %v; want %q", got, err, want)
	}
	t.Chdir(filepath.Join(tmp, "real"))
	if got, err := dirOperand([]string{"x"}, 1); err != nil || got != want {
		t.Errorf("dirOperand() above .parac = %q, %v; want %q", got, err, want)
	}
}

func TestFindParacNone(t *testing.T) {
	tmp := realTemp(t)
	t.Chdir(tmp)
	if _, err := os.Stat("/.parac"); err == nil {
		t.Skip("/.parac exists")
	}
	_, err := findParac()
	var ue usageError
	if !errors.As(err, &ue) || ue.msg != "no .parac directory at or above "+tmp+": name DIR" {
		t.Errorf("findParac() = %v, want a usage error naming %s", err, tmp)
	}
}

func TestDirArg(t *testing.T) {
	tmp := realTemp(t)
	file := filepath.Join(tmp, "f")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := dirArg([]string{tmp}, 0); err != nil || got != tmp {
		t.Errorf("dirArg(%s) = %q, %v", tmp, got, err)
	}
	for arg, want := range map[string]string{
		file:                       file + ": not a directory",
		filepath.Join(tmp, "none"): filepath.Join(tmp, "none") + ": no such directory",
	} {
		if _, err := dirArg([]string{arg}, 0); err == nil || err.Error() != want {
			t.Errorf("dirArg(%s) = %v, want %q", arg, err, want)
		}
	}
}

func TestRelTo(t *testing.T) {
	tmp := realTemp(t)
	dir := filepath.Join(tmp, ".parac")
	t.Chdir(tmp)
	for in, want := range map[string]string{
		"":                                "",
		"roadmap/x.yaml":                  "roadmap/x.yaml", // already relative to DIR
		"roadmap/*.yaml":                  "roadmap/*.yaml",
		".parac/roadmap/x.yaml":           "roadmap/x.yaml", // from the cwd
		filepath.Join(dir, "a", "b.yaml"): "a/b.yaml",       // absolute
		"./a//b.yaml":                     "a/b.yaml",
		"/elsewhere/x.yaml":               "/elsewhere/x.yaml",
	} {
		if got := relTo(dir, in); got != want {
			t.Errorf("relTo(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`/plain`:         "/plain",
		`/with\040space`: "/with space",
		`/tab\011x\134y`: "/tab\tx\\y",
		`/end\040`:       "/end ",
		`/short\04`:      `/short\04`,
		`/not\999octal`:  `/not\999octal`,
		`\134\134`:       `\\`,
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
