package main

import (
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// TestLayers checks the arrows between the packages (docs/architecture.md):
// revision and changelog import nothing of paracfs, backing imports no
// FUSE package, and nothing below the command line imports it or fs.
func TestLayers(t *testing.T) {
	const module = "github.com/paracfs/paracfs"
	deps := goListDeps(t, "./revision", "./changelog", "./textdiff", "./backing", "./fs")
	for _, tc := range []struct {
		pkg       string
		forbidden func(dep string) bool
		why       string
	}{
		{"revision", func(d string) bool { return strings.HasPrefix(d, module) }, "imports nothing of paracfs"},
		{"changelog", func(d string) bool { return strings.HasPrefix(d, module) }, "imports nothing of paracfs"},
		{"textdiff", func(d string) bool { return strings.HasPrefix(d, module) }, "imports nothing of paracfs"},
		{"backing", func(d string) bool {
			return strings.Contains(d, "go-fuse") || d == module+"/fs" || d == module
		}, "imports no FUSE package, nor fs"},
		{"fs", func(d string) bool { return d == module }, "does not import the command line"},
	} {
		pkg := module + "/" + tc.pkg
		ds, ok := deps[pkg]
		if !ok {
			t.Errorf("go list did not list %s", pkg)
			continue
		}
		var bad []string
		for _, d := range ds {
			if d != pkg && tc.forbidden(d) {
				bad = append(bad, d)
			}
		}
		if len(bad) > 0 {
			t.Errorf("%s %s, but depends on %q", tc.pkg, tc.why, bad)
		}
	}
	// And the arrow that must exist: backing stands on revision and changelog.
	for _, want := range []string{module + "/revision", module + "/changelog"} {
		if !contains(deps[module+"/backing"], want) {
			t.Errorf("backing does not depend on %s: is the layering test looking at the right packages?", want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// goListDeps returns the dependencies (transitive, standard library
// included) of each package named, as `go list -deps -json` reports them.
func goListDeps(t *testing.T, pkgs ...string) map[string][]string {
	t.Helper()
	// go test puts its own GOROOT/bin first in PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("no go command to list the packages with: %v", err)
	}
	cmd := exec.Command(goTool, append([]string{"list", "-e", "-deps", "-json=ImportPath,Deps,Error"}, pkgs...)...)
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
		t.Fatalf("go list: %v", err)
	}
	deps := map[string][]string{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Deps       []string
			Error      *struct{ Err string }
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list's output: %v", err)
		}
		if p.Error != nil {
			t.Fatalf("go list %s: %s", p.ImportPath, p.Error.Err)
		}
		sort.Strings(p.Deps)
		deps[p.ImportPath] = p.Deps
	}
	return deps
}
