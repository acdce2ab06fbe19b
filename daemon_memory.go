package main

import (
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The daemon's memory (docs/performance.md, "Memory over 100,000
// commits"). Its live heap is small (about 10 MiB for a 10,000-file tree)
// but the Go runtime lets the heap grow to twice that before collecting,
// and keeps freed pages mapped: the resident set was about 48 MiB where
// 10 MiB was live. A soft memory limit makes the runtime collect and hand
// pages back to the kernel sooner. It follows the live heap, so that a
// large tree never pins the collector at the limit: at least
// memoryFloor, and half again the live heap above that.

// memoryFloor is the least the soft limit is set to.
const memoryFloor = 24 << 20

// memoryEvery is how often the limit follows the live heap.
const memoryEvery = 10 * time.Second

// limitMemory sets the daemon's soft memory limit and keeps it following
// the live heap until stop is called. A GOMEMLIMIT in the environment
// wins: the limit is then the runtime's, as set.
func limitMemory() (stop func()) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	set := func() {
		metrics.Read(sample)
		var live int64
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = int64(sample[0].Value.Uint64())
		}
		debug.SetMemoryLimit(max(memoryFloor, live*3/2+memoryFloor/4))
	}
	set()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(memoryEvery)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				set()
			case <-done:
				return
			}
		}
	}()
	return func() { close(done) }
}
