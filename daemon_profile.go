package main

import (
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
)

// cpuProfileEnv names a file the daemon writes a Go CPU profile to, from
// mounting until it unmounts (docs/performance.md): an absolute path, in
// which %p becomes the daemon's pid (several mounts, several profiles).
// Read it with `go tool pprof -top BINARY FILE`.
const cpuProfileEnv = "PARACFS_CPUPROFILE"

// startCPUProfile starts the profile $PARACFS_CPUPROFILE asks for and
// returns what stops it; a profile that cannot start is a warning only.
func startCPUProfile() (stop func()) {
	name := os.Getenv(cpuProfileEnv)
	if name == "" {
		return func() {}
	}
	name = strings.ReplaceAll(name, "%p", strconv.Itoa(os.Getpid()))
	if !filepath.IsAbs(name) {
		slog.Warn("not profiling: "+cpuProfileEnv+" must be an absolute path (the daemon runs in /)", "path", name)
		return func() {}
	}
	f, err := os.Create(name)
	if err != nil {
		slog.Warn("not profiling", "err", err)
		return func() {}
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		slog.Warn("not profiling", "err", err)
		return func() {}
	}
	slog.Info("writing a CPU profile", "path", name)
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// memProfileEnv names a file the daemon writes a Go heap profile to when
// it unmounts, before it lets go of its caches (docs/performance.md): an
// absolute path, %p its pid. `go tool pprof -sample_index=inuse_space
// -top BINARY FILE` shows what the live heap is made of.
const memProfileEnv = "PARACFS_MEMPROFILE"

// writeHeapProfile writes the profile $PARACFS_MEMPROFILE asks for, after
// a collection, so that it shows the live heap; a failure is a warning.
func writeHeapProfile() {
	name := os.Getenv(memProfileEnv)
	if name == "" {
		return
	}
	name = strings.ReplaceAll(name, "%p", strconv.Itoa(os.Getpid()))
	if !filepath.IsAbs(name) {
		slog.Warn("no heap profile: "+memProfileEnv+" must be an absolute path (the daemon runs in /)", "path", name)
		return
	}
	runtime.GC()
	f, err := os.Create(name)
	if err == nil {
		err = pprof.Lookup("heap").WriteTo(f, 0)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		slog.Warn("no heap profile", "err", err)
		return
	}
	slog.Info("wrote a heap profile", "path", name)
}
