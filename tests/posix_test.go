package tests

import (
	"os"
	"sort"
	"testing"

	"github.com/hanwen/go-fuse/v2/posixtest"
)

// posixSkips are the posixtest cases that cannot pass on paracfs, each with
// the reason. Nothing is skipped for being inconvenient. (Some cases skip
// themselves when the filesystem lacks a feature: Tmpfile without
// O_TMPFILE support, XAttrLarge when the backing filesystem refuses large
// xattrs, RenameOpenDir on go-fuse issue 55. They still run here, so they
// start testing the day the feature is there.)
var posixSkips = map[string]string{}

// TestPOSIX runs go-fuse's POSIX conformance suite, each case on a fresh
// mount, in an empty directory made through the mount. Its names ("file",
// "dir", "link", ...) are scratch names, so this exercises pass-through.
func TestPOSIX(t *testing.T) {
	names := make([]string, 0, len(posixtest.All))
	for name := range posixtest.All {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		fn := posixtest.All[name]
		t.Run(name, func(t *testing.T) {
			if why, ok := posixSkips[name]; ok {
				t.Skip(why)
			}
			if name != "FdLeak" { // FdLeak counts this process's descriptors
				t.Parallel()
			}
			p := newProject(t)
			mount(t, p)
			dir := p.path("posix")
			if err := os.Mkdir(dir, 0o755); err != nil {
				t.Fatalf("mkdir through the mount: %v", err)
			}
			fn(t, dir)
		})
	}
}
