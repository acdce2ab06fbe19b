package main

import (
	"runtime"
	"runtime/debug"
	"testing"
)

func TestMemoryLimitFor(t *testing.T) {
	for _, c := range []struct{ live, want int64 }{
		{0, memoryFloor},
		{10 << 20, memoryFloor},
		{100 << 20, 150<<20 + memoryFloor/4},
	} {
		if got := memoryLimitFor(c.live); got != c.want {
			t.Errorf("memoryLimitFor(%d) = %d, want %d", c.live, got, c.want)
		}
	}
}

// The limit follows the live heap at each collection: a heap grown past
// the floor (a burst of large staged writes) is not collected against a
// limit below it.
func TestMemoryLimitFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	stop := limitMemory()
	defer stop()
	if got := debug.SetMemoryLimit(-1); got < memoryFloor {
		t.Fatalf("limit %d after limitMemory, want at least %d", got, memoryFloor)
	}
	big := make([][]byte, 64)
	for i := range big {
		big[i] = make([]byte, 1<<20)
	}
	// The finalizer that sets the limit runs after a collection, on the
	// finalizers' goroutine: collect until it has (a deadlock guard only).
	for i := 0; i < 1000 && debug.SetMemoryLimit(-1) < 96<<20; i++ {
		runtime.GC()
		runtime.Gosched()
	}
	if got := debug.SetMemoryLimit(-1); got < 96<<20 {
		t.Errorf("limit %d MiB with 64 MiB live, want at least 96 MiB", got>>20)
	}
	runtime.KeepAlive(big)
}
