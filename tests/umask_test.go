package tests

import (
	"os"
	"path/filepath"
	"testing"
)

// Files and directories created through the mount get the mode the
// caller's umask gives, as on a plain directory: with umask 002, a new
// scratch file is 0664, a directory 0775, a managed file 0664. The daemon's
// own umask (022) must not mask them a second time.
func TestCreateModeFollowsCallerUmask(t *testing.T) {
	p := newProject(t)
	plain := t.TempDir()
	mount(t, p)
	script := `umask 002; : > s.txt; mkdir d; echo 'a: 1' > m.yaml; install -d d2; python3 -c 'open("p.json","w").write("{}")'`
	for _, dir := range []string{plain, p.path("memory")} {
		if r := run(t, dir, "bash", "-c", script); r.Code != 0 {
			t.Fatalf("in %s: %s", dir, r)
		}
	}
	for _, name := range []string{"s.txt", "d", "m.yaml", "d2", "p.json"} {
		want, err := os.Stat(filepath.Join(plain, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.Stat(p.path("memory/" + name))
		if err != nil {
			t.Fatalf("%s on the mount: %v", name, err)
		}
		if got.Mode() != want.Mode() {
			t.Errorf("%s: mode %v on the mount, %v on a plain directory", name, got.Mode(), want.Mode())
		}
	}
}
