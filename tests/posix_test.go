package tests

import (
	"os"
	"sort"
	"sync"
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

// posixSelfSkips are the cases that skip themselves here, and why. A case
// that skips itself and is not listed fails TestPOSIX: a skip is never
// silent. Each listed one that skipped is reported as a FIGURE line.
var posixSelfSkips = map[string]string{
	"Tmpfile":       "O_TMPFILE is not supported through the mount (EOPNOTSUPP): a commit needs a name, and go-fuse has no tmpfile request",
	"XAttrLarge":    "the backing filesystem refuses an 8 KiB xattr (ENOSPC): ext4 without ea_inode does so without paracfs too",
	"RenameOpenDir": "fstat of a directory renamed while open fails (go-fuse issue 55, a known limitation of go-fuse's node tree)",
}

// TestPOSIX runs go-fuse's POSIX conformance suite, each case on a fresh
// mount, in an empty directory made through the mount. Its names ("file",
// "dir", "link", ...) are scratch names, so this exercises pass-through.
func TestPOSIX(t *testing.T) {
	names := make([]string, 0, len(posixtest.All))
	for name := range posixtest.All {
		names = append(names, name)
	}
	sort.Strings(names)
	var mu sync.Mutex
	var skipped []string
	t.Cleanup(func() { // after every case, parallel ones too
		sort.Strings(skipped)
		for _, name := range skipped {
			if why, ok := posixSelfSkips[name]; ok {
				figure(t, "posixtest %s skipped itself: %s", name, why)
			} else {
				t.Errorf("posixtest %s skipped itself, and posixSelfSkips does not say why: see its log above", name)
			}
		}
	})
	for _, name := range names {
		fn := posixtest.All[name]
		t.Run(name, func(t *testing.T) {
			if why, ok := posixSkips[name]; ok {
				t.Skip(why)
			}
			t.Cleanup(func() {
				if t.Skipped() {
					mu.Lock()
					skipped = append(skipped, name)
					mu.Unlock()
				}
			})
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
