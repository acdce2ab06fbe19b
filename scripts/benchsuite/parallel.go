package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// caseParallel is parallel writers: one writer process alone, then 8
// writer processes on 8 different files, each doing read-modify-write
// increments. What counts is scaling: the 8 writers' aggregate commits
// per second over the lone writer's, for paracfs against the same ratio of
// the floor (the locked durable replace done natively), measured in the
// same rounds.
func (b *Bench) caseParallel() error {
	const writers = 8
	n, rounds := b.n(150, 10), b.n(3, 1)
	root := map[string]string{}
	for _, s := range []string{"floor", "pc"} {
		d := b.dir("parallel", s, "memory")
		for i := 0; i < writers; i++ {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("w%d.yaml", i)), counterDoc(0, 0), 0o644); err != nil {
				return err
			}
		}
		root[s] = filepath.Dir(d)
	}
	pc, err := b.mountParacfs(root["pc"], "memory/w0.yaml")
	if err != nil {
		return err
	}
	defer b.unmount(pc)
	type system struct {
		name, mode, dir string
	}
	systems := []system{{"floor", "floor", root["floor"]}, {"paracfs", "optimistic", pc.Path}}
	ops := map[string]int{}
	wall := map[string]time.Duration{}
	lat := map[string][]float64{}
	counts := map[string]int64{}
	runs := 0
	for r := 0; r < rounds; r++ {
		for j := range systems {
			s := systems[(r+j)%len(systems)]
			for _, k := range []int{1, writers} {
				paths := make([]string, k)
				for i := range paths {
					paths[i] = filepath.Join(s.dir, "memory", fmt.Sprintf("w%d.yaml", i))
				}
				res, w, err := b.runWorkers(s.mode, paths, n)
				if err != nil {
					b.fail("parallel: %s, %d writers: %v", s.name, k, err)
					continue
				}
				runs++
				key := fmt.Sprintf("%s %d", s.name, k)
				ops[key] += k * n
				wall[key] += w
				for _, x := range res {
					for _, ns := range x.LatNs {
						lat[key] = append(lat[key], float64(ns))
					}
				}
				for i := range paths {
					counts[paths[i]] += int64(n)
				}
			}
		}
	}
	// Nothing lost: every file counted every increment made to it.
	for p, want := range counts {
		data, err := readBytes(p)
		if err != nil {
			b.fail("parallel: %v", err)
			continue
		}
		if _, got, err := parseCounter(data); err != nil || got != want {
			b.fail("parallel: %s holds count %d (%v), want %d: updates were lost", p, got, err, want)
		}
	}
	t := &table{
		title: fmt.Sprintf("7. Parallel writers: 1 writer, then %d writers on %d files, %d read-modify-write increments each (%d rounds)", writers, writers, n, rounds),
		head:  []string{"system", "writers", "commits/s", "p50", "p99", "scaling (8 / 1)"},
	}
	scaling := map[string]float64{}
	for _, s := range systems {
		for _, k := range []int{1, writers} {
			key := fmt.Sprintf("%s %d", s.name, k)
			if wall[key] <= 0 {
				continue
			}
			tput := float64(ops[key]) / wall[key].Seconds()
			b.value("parallel", fmt.Sprintf("throughput %d writers", k), s.name, "ops/s", tput, "")
			ser := b.series("parallel", fmt.Sprintf("latency %d writers", k), s.name, "ns", lat[key])
			sc := ""
			if k == writers {
				one := fmt.Sprintf("%s 1", s.name)
				if wall[one] > 0 {
					scaling[s.name] = tput / (float64(ops[one]) / wall[one].Seconds())
					sc = fmtRatio(scaling[s.name])
				}
			}
			t.add(s.name, fmt.Sprint(k), fmtVal(tput, "ops/s"), fmtNs(ser.P50), fmtNs(ser.P99), sc)
		}
	}
	t.notes = append(t.notes, "floor: flock P.lock, read, temp file, fsync, rename, directory fsync; paracfs: read and rewrite through one descriptor, close commits",
		"commits/s: increments of all writers over wall time (first start to last end), summed over the rounds")
	b.printTable(t)
	b.target("8-writer scaling vs the floor's 8-writer scaling", ratio(scaling["paracfs"], scaling["floor"]), ">=", 0.8, "x",
		fmt.Sprintf("paracfs %s, floor %s (aggregate commits/s with 8 writers over 1 writer)", fmtRatio(scaling["paracfs"]), fmtRatio(scaling["floor"])))
	return nil
}
