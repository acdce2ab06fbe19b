package main

import (
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// commitsAtScale is the scale case's second half: n read-modify-write
// commits spread over the YAML files of the mounted tree (two writers, each
// file in turn), with the daemon's RSS sampled every tenth of the way. The
// daemon must stay small and must not grow: every store it keeps per file
// or per commit is bounded.
func (b *Bench) commitsAtScale(pc *Mount, dirs, files int) error {
	total := b.n(100_000, 2000)
	var yamls []string
	for d := 0; d < dirs; d++ {
		for f := 0; f < files; f++ {
			if f%10 < 7 {
				yamls = append(yamls, filepath.Join(pc.Path, fmt.Sprintf("d%03d/f%04d.yaml", d, f)))
			}
		}
	}
	const writers = 2
	const checkpoints = 10
	var next atomic.Int64
	var failed atomic.Pointer[error]
	samples := make([][3]float64, 0, checkpoints+1) // commits, VmRSS, VmHWM
	sample := func(done int64) {
		rss, hwm, err := rssMiB(pc.Pid)
		if err != nil {
			e := fmt.Errorf("the daemon (pid %d) is gone: %w", pc.Pid, err)
			failed.Store(&e)
			return
		}
		samples = append(samples, [3]float64{float64(done), rss, hwm})
	}
	sample(0)
	t0 := time.Now()
	step := int64(total / checkpoints)
	for cp := 1; cp <= checkpoints && failed.Load() == nil; cp++ {
		end := int64(cp) * step
		if cp == checkpoints {
			end = int64(total)
		}
		var wg sync.WaitGroup
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1) - 1
					if i >= end || failed.Load() != nil {
						if i >= end {
							next.Add(-1)
						}
						return
					}
					// Writer w takes files of its own parity: no two
					// writers share a file, so no commit conflicts.
					p := yamls[(int(i)/writers*writers+w)%len(yamls)]
					if err := rmwKeep(p, int(i)); err != nil {
						e := fmt.Errorf("commit %d of %s: %w", i, p, err)
						failed.Store(&e)
						return
					}
				}
			}()
		}
		wg.Wait()
		sample(min(next.Load(), end))
	}
	elapsed := time.Since(t0)
	if e := failed.Load(); e != nil {
		return *e
	}
	// The stores fill during the first commits (the committed versions
	// kept parsed, the history index): growth is measured from 30 %.
	first, last := samples[3], samples[len(samples)-1]
	peak := 0.0
	for _, s := range samples {
		peak = max(peak, s[1])
	}
	var curve string
	for i, s := range samples {
		if i > 0 {
			curve += ", "
		}
		curve += fmt.Sprintf("%.1f", s[1])
	}
	b.value("scale", "rss after commits", "paracfs", "MiB", last[1], fmt.Sprintf("VmRSS after %d commits over %d YAML files", total, len(yamls)))
	b.value("scale", "rss commit curve", "paracfs", "MiB", peak, curve)
	b.printf("  %d commits over the %d YAML files of the tree in %s (%.0f/s, %d writers): daemon VmRSS %s MiB at each tenth; peak (VmHWM) %.1f MiB\n",
		total, len(yamls), elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds(), writers, curve, last[2])
	b.target(fmt.Sprintf("daemon RSS after %d commits at scale", total), last[1], "<=", 40, "MiB",
		fmt.Sprintf("VmRSS %.1f MiB after %d commits", first[1], int64(first[0])))
	// Growth between 30 % and the end: the daemon's stores are
	// bounded, so what is left is the Go heap's own breathing.
	b.target(fmt.Sprintf("daemon RSS growth from %d to %d commits", int64(first[0]), total), last[1]-first[1], "<=", 4, "MiB",
		fmt.Sprintf("%.1f → %.1f MiB", first[1], last[1]))
	return nil
}

// rmwKeep reads a YAML file of the scale tree and writes a new version of
// it that keeps the revision it read: paracfs stamps the next one.
func rmwKeep(path string, seed int) error {
	data, err := readBytes(path)
	if err != nil {
		return err
	}
	m := revLine.FindSubmatch(data)
	if m == nil {
		return fmt.Errorf("no revision line in %d bytes", len(data))
	}
	var rev int64
	fmt.Sscan(string(m[1]), &rev)
	var w contender
	_, err = plainWrite(&w, path, yamlDoc(1024, rev, seed))
	return err
}
