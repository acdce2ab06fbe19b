package main

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/paracfs/paracfs/backing"
)

// Sizes (--max-size, --log-max-size, --rejected-max, and their -o forms)
// and how the serving flags become the backing directory's Config.

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
	}{
		{"4096", 4096},
		{" 4096 ", 4096},
		{"1B", 1},
		{"512KiB", 512 << 10},
		{"64MiB", 64 << 20},
		{"16MiB", 16 << 20},
		{"1GiB", 1 << 30},
		{"2KB", 2000},
		{"3MB", 3000000},
		{"1GB", 1000000000},
		{"8K", 8 << 10},
		{"16M", 16 << 20},
		{"1G", 1 << 30},
		{"5 MiB", 5 << 20},
		{"1024GiB", 1 << 40}, // the largest
	} {
		got, err := parseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
	for in, msg := range map[string]string{
		"":        "want a positive size such as 4096, 512KiB or 16MiB",
		"0":       "want a positive size such as 4096, 512KiB or 16MiB",
		"-1MiB":   "want a positive size such as 4096, 512KiB or 16MiB",
		"1.5MiB":  "want a positive size such as 4096, 512KiB or 16MiB",
		"16mib":   "want a positive size such as 4096, 512KiB or 16MiB",
		"16TiB":   "want a positive size such as 4096, 512KiB or 16MiB",
		"MiB":     "want a positive size such as 4096, 512KiB or 16MiB",
		"1025GiB": "too large",
		"2TB":     "want a positive size such as 4096, 512KiB or 16MiB",
	} {
		if got, err := parseSize(in); err == nil || err.Error() != msg {
			t.Errorf("parseSize(%q) = %d, %v; want the error %q", in, got, err, msg)
		}
	}
}

// mountConfig parses mount's flags and returns the Config they make.
func mountConfig(t *testing.T, args ...string) (backing.Config, error) {
	t.Helper()
	var mf mountFlags
	if err := parse(mountFlagSet(&mf), args, 2); err != nil {
		t.Fatalf("parse(%q): %v", args, err)
	}
	return mf.config()
}

func TestMountConfig(t *testing.T) {
	c, err := mountConfig(t)
	if err != nil {
		t.Fatal(err)
	}
	if c.LockTimeout != 10*time.Second || c.Limits.MaxSize != 16<<20 || c.LogPath != backing.DefaultLogPath ||
		c.LogMaxSize != 64<<20 || c.RejectedMax != 64<<20 || c.StoreMaxSize != 256<<20 || c.StagingMaxSize != 256<<20 ||
		c.FdReserve != backing.DefaultFdReserve ||
		c.History != (backing.HistoryBounds{MaxVersions: backing.DefaultHistoryVersions, MaxAge: 30 * 24 * time.Hour}) {
		t.Errorf("defaults: %+v", c)
	}

	c, err = mountConfig(t, "--lock-timeout=2s", "--max-size=1MiB", "--log", "logs/./x.jsonl", "--log-max-size", "4KiB",
		"--rejected-max=0", "--history-versions=0", "--history-days=0")
	if err != nil {
		t.Fatal(err)
	}
	if c.LockTimeout != 2*time.Second || c.Limits.MaxSize != 1<<20 || c.LogPath != "logs/x.jsonl" || c.LogMaxSize != 4096 ||
		c.RejectedMax != -1 || c.History != (backing.HistoryBounds{MaxVersions: -1, MaxAge: -1}) {
		t.Errorf("set: %+v", c)
	}
	c, err = mountConfig(t, "--history-days=0.5", "--history-versions=3")
	if err != nil || c.History != (backing.HistoryBounds{MaxVersions: 3, MaxAge: 12 * time.Hour}) {
		t.Errorf("--history-days=0.5 --history-versions=3: %+v, %v", c.History, err)
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--max-size=0"}, `--max-size "0": want a positive size such as 4096, 512KiB or 16MiB`},
		{[]string{"--lock-timeout=-1s"}, "--lock-timeout -1s: must be positive"},
		{[]string{"--log-max-size=4095"}, `--log-max-size "4095": want at least 4KiB, or 0 for no rotation`},
		{[]string{"--log-max-size=big"}, `--log-max-size "big": want a positive size such as 4096, 512KiB or 16MiB, or 0 for no rotation`},
		{[]string{"--rejected-max=-5"}, `--rejected-max "-5": want a positive size such as 4096, 512KiB or 16MiB, or 0 for no bound`},
		{[]string{"--log=/var/log/x.jsonl"}, `--log "/var/log/x.jsonl": must be a path inside DIR`},
		{[]string{"--log=../x.jsonl"}, `--log "../x.jsonl": must be a path inside DIR`},
		{[]string{"--log=a/../.."}, `--log "a/../..": must be a path inside DIR`},
		{[]string{"--log=."}, `--log ".": must be a path inside DIR`},
		{[]string{"--history-versions=-1"}, "--history-versions -1: want a number of versions, or 0 to keep none"},
		{[]string{"--history-days=-2"}, "--history-days -2: want 0 (no age limit) or a number of days"},
		{[]string{"--history-days=2e6"}, "--history-days 2e+06: want 0 (no age limit) or a number of days"},
	} {
		_, err := mountConfig(t, tc.args...)
		var ue usageError
		if !errors.As(err, &ue) || ue.msg != tc.want {
			t.Errorf("%q: %v, want usage error %q", tc.args, err, tc.want)
		}
	}
}

// TestDaemonArgs checks that the flags set on a mount command line reach
// the background daemon as given, without --foreground and --ready-fd,
// and that those of them the config file also sets are pinned.
func TestDaemonArgs(t *testing.T) {
	var mf mountFlags
	flags := mountFlagSet(&mf)
	if err := parse(flags, []string{"-f", "--ready-fd=3", "--max-size", "1MiB", "--log-level=debug", "--history-days", "2", "--lock-timeout=3s", "DIR"}, 2); err != nil {
		t.Fatal(err)
	}
	got := daemonArgs(flags)
	slices.Sort(got)
	want := []string{"--history-days=2", "--lock-timeout=3s", "--log-level=debug", "--max-size=1MiB"}
	if !slices.Equal(got, want) {
		t.Errorf("daemonArgs = %q, want %q", got, want)
	}
	pinned := pinnedSettings(flags)
	slices.Sort(pinned)
	wantPinned := []string{backing.SetHistoryAge, backing.SetLockTimeout}
	slices.Sort(wantPinned)
	if !slices.Equal(pinned, wantPinned) {
		t.Errorf("pinnedSettings = %q, want %q", pinned, wantPinned)
	}
}

func TestLogLevel(t *testing.T) {
	for in, want := range map[string]string{"debug": "debug", "INFO": "info", "warn": "warn", "Warning": "warn", "error": "error"} {
		var l logLevel
		if err := l.Set(in); err != nil || l.String() != want {
			t.Errorf("--log-level %s: %q, %v; want %q", in, l.String(), err, want)
		}
	}
	var l logLevel
	if err := l.Set("loud"); err == nil || err.Error() != "want one of debug, info, warn, error" {
		t.Errorf("--log-level loud: %v", err)
	}
	if l.Type() != "level" {
		t.Errorf("Type() = %q", l.Type())
	}
}
