package main

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The mount(8) helper: /sbin/mount.fuse.paracfs DIR MOUNTPOINT -o OPTS,
// and fstab's options, mapped to mount's flags.

func TestHelperArgs(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		flags    []string
		operands []string
		fake     bool
		verbose  bool
	}{
		{args: []string{"/p/.parac", "/p/.parac"}, operands: []string{"/p/.parac", "/p/.parac"}},
		{args: []string{"paracfs#/p/.parac", "/mnt", "-o", "rw,nosuid,nodev,relatime,lock_timeout=5s,max_size=1MiB"},
			flags: []string{"--lock-timeout=5s", "--max-size=1MiB"}, operands: []string{"/p/.parac", "/mnt"}},
		{args: []string{"-o", "log=logs/c.jsonl,log_max_size=64MiB", "/d", "/m", "-orejected_max=0,log_level=debug"},
			flags: []string{"--log=logs/c.jsonl", "--log-max-size=64MiB", "--rejected-max=0", "--log-level=debug"}, operands: []string{"/d", "/m"}},
		{args: []string{"/d", "/m", "-o", "history_versions=5,history_days=1.5,allow_other,debug"},
			flags: []string{"--history-versions=5", "--history-days=1.5", "--allow-other", "--debug"}, operands: []string{"/d", "/m"}},
		// What mount(8), systemd and mount.fuse3 add says nothing to paracfs.
		{args: []string{"/d", "/m", "-t", "fuse.paracfs", "-o", "defaults,noauto,x-systemd.automount,_netdev,user,fsname=x,subtype=paracfs,comment=y, ,"},
			operands: []string{"/d", "/m"}},
		{args: []string{"/d", "/m", "-tfuse.paracfs", "-fnv"}, operands: []string{"/d", "/m"}, fake: true, verbose: true},
	} {
		h, err := helperArgs(tc.args)
		if err != nil {
			t.Errorf("helperArgs(%q): %v", tc.args, err)
			continue
		}
		if !slices.Equal(h.flags, tc.flags) || !slices.Equal(h.operands, tc.operands) || h.fake != tc.fake || h.verbose != tc.verbose {
			t.Errorf("helperArgs(%q) = %+v; want flags %q operands %q fake %v verbose %v", tc.args, h, tc.flags, tc.operands, tc.fake, tc.verbose)
		}
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"/d"}, `want DIR and MOUNTPOINT, got ["/d"]`},
		{[]string{"/d", "/m", "/x"}, `want DIR and MOUNTPOINT, got ["/d" "/m" "/x"]`},
		{[]string{"/d", "/m", "-o"}, "-o needs a value"},
		{[]string{"/d", "/m", "-N", "/proc/1/ns/mnt"}, "-N (another mount namespace) is not supported"},
		{[]string{"/d", "/m", "-x"}, "unknown flag -x"},
		{[]string{"/d", "/dev/fd/3"}, "drop_privileges (a mountpoint of /dev/fd/N) is not supported: paracfs opens DIR before mounting over it"},
		{[]string{"/d", "/m", "-o", "ro"}, "ro: paracfs has no read-only mode (mount the directory read-only with a bind mount instead)"},
	} {
		if _, err := helperArgs(tc.args); err == nil || err.Error() != tc.want {
			t.Errorf("helperArgs(%q): %v, want %q", tc.args, err, tc.want)
		}
	}
	// An unknown option is named, with the options paracfs knows.
	_, err := helperArgs([]string{"/d", "/m", "-o", "max_size=1M,frobnicate=1"})
	if want := `unknown option "frobnicate=1" (paracfs knows lock_timeout, max_size, log, `; err == nil ||
		!strings.HasPrefix(err.Error(), want) || !strings.HasSuffix(err.Error(), ", etcd_password_file)") {
		t.Errorf("an unknown option: %v, want %q...", err, want)
	}
	for name := range mountOptions {
		if err == nil || !strings.Contains(err.Error(), " "+name+",") && !strings.Contains(err.Error(), " "+name+")") {
			t.Errorf("the unknown option's message does not name %s: %v", name, err)
		}
	}
}

// TestHelperSloppy checks -s: an unknown option is named and ignored.
func TestHelperSloppy(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := os.Stderr
	os.Stderr = w
	h, err := helperArgs([]string{"-s", "/d", "/m", "-o", "frobnicate=1,max_size=2M"})
	os.Stderr = stderr
	w.Close()
	said, _ := io.ReadAll(r)
	if err != nil || !slices.Equal(h.flags, []string{"--max-size=2M"}) || !slices.Equal(h.operands, []string{"/d", "/m"}) {
		t.Errorf("helperArgs with -s = %+v, %v", h, err)
	}
	if want := "paracfs: ignoring the unknown option frobnicate=1 (-s)\n"; string(said) != want {
		t.Errorf("stderr %q, want %q", said, want)
	}
}

// TestMountOptionsAreFlags checks that every -o option maps to one of
// mount's own flags, so that no option is lost on its way to the daemon.
func TestMountOptionsAreFlags(t *testing.T) {
	flags := mountFlagSet(&mountFlags{})
	for opt, flag := range mountOptions {
		if flags.Lookup(flag) == nil {
			t.Errorf("-o %s maps to --%s, which mount does not have", opt, flag)
		}
		if want := strings.ReplaceAll(flag, "-", "_"); opt != want {
			t.Errorf("-o %s maps to --%s, want -o %s", opt, flag, want)
		}
	}
}

// TestMountHelperStatus checks mount(8)'s exit statuses: 1 for a mistake
// in the options, 0 for -f (fake) with good ones, which mounts nothing.
func TestMountHelperStatus(t *testing.T) {
	tmp := t.TempDir()
	for _, tc := range []struct {
		argv0  string
		args   []string
		status int
		stderr string // its first line
	}{
		{"mount.fuse.paracfs", []string{tmp, tmp, "-f", "-o", "max_size=1MiB,history_days=2"}, 0, ""},
		{"mount.fuse.paracfs", []string{tmp, tmp, "-f", "-o", "max_size=huge"}, 1, `mount.fuse.paracfs: --max-size "huge": want a positive size such as 4096, 512KiB or 16MiB`},
		{"mount.fuse.paracfs", []string{tmp, tmp, "-f", "-o", "lock_timeout=soon"}, 1, `mount.fuse.paracfs: invalid argument "soon" for "--lock-timeout" flag: must be a duration like "30s" or "5m" (run 'paracfs mount --help')`},
		{"mount.fuse.paracfs", []string{tmp, "-o", "ro"}, 1, `mount.fuse.paracfs: want DIR and MOUNTPOINT, got ["` + tmp + `"]`},
		// As mount.fuse3 runs it: `paracfs DIR MOUNTPOINT -o OPTS`.
		{"paracfs", []string{tmp, tmp, "-f", "-o", "rw,ro"}, 1, `paracfs: ro: paracfs has no read-only mode (mount the directory read-only with a bind mount instead)`},
		{"/sbin/mount.fuse.paracfs", []string{tmp, tmp, "-f"}, 0, ""},
	} {
		status, _, stderr := runMain(t, tmp, tc.argv0, tc.args...)
		first, _, _ := strings.Cut(stderr, "\n")
		if status != tc.status || first != tc.stderr {
			t.Errorf("%s %q: status %d, stderr %q; want %d, %q", tc.argv0, tc.args, status, stderr, tc.status, tc.stderr)
		}
		if tc.status != 0 && !strings.Contains(stderr, "\nUsage: "+filepath.Base(tc.argv0)+" DIR MOUNTPOINT [-o ") {
			t.Errorf("%s %q: no usage line in %q", tc.argv0, tc.args, stderr)
		}
	}
	if _, err := os.Stat(filepath.Join(tmp, ".paracfs")); !os.IsNotExist(err) {
		t.Errorf("a fake mount touched DIR: %v", err)
	}
}
