package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
)

// The daemon's memory (docs/performance.md, "Memory over 100,000
// commits"). Its live heap is small (about 10 MiB for a 10,000-file tree)
// but the Go runtime lets the heap grow to twice that before collecting,
// and keeps freed pages mapped: the resident set was about 48 MiB where
// 10 MiB was live. A soft memory limit makes the runtime collect and hand
// pages back to the kernel sooner. It follows the live heap after every
// collection, so that a large tree, or a burst of large writes staged at
// once, never pins the collector at the limit: at least memoryFloor, and
// half again the live heap above that.

// memoryFloor is the least the soft limit is set to.
const memoryFloor = 24 << 20

// memoryLimitFor is the soft limit for a live heap of live bytes.
func memoryLimitFor(live int64) int64 { return max(memoryFloor, live*3/2+memoryFloor/4) }

// limitMemory sets the daemon's soft memory limit and keeps it following
// the live heap, at the end of each garbage collection, until stop is
// called. A GOMEMLIMIT in the environment wins: the limit is then the
// runtime's, as set.
func limitMemory() (stop func()) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	var stopped atomic.Bool
	setMemoryLimit()
	armMemoryLimit(&stopped)
	return func() { stopped.Store(true) }
}

// setMemoryLimit sets the limit from the live heap the last collection
// found.
func setMemoryLimit() {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	var live int64
	if sample[0].Value.Kind() == metrics.KindUint64 {
		live = int64(sample[0].Value.Uint64())
	}
	debug.SetMemoryLimit(memoryLimitFor(live))
}

// gcSentinel is garbage as soon as it is made: its finalizer runs after
// the next collection, sets the limit and makes the next sentinel.
type gcSentinel struct{ stopped *atomic.Bool }

func armMemoryLimit(stopped *atomic.Bool) {
	runtime.SetFinalizer(&gcSentinel{stopped}, func(s *gcSentinel) {
		if s.stopped.Load() {
			return
		}
		setMemoryLimit()
		armMemoryLimit(s.stopped)
	})
}
