package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
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
	n, rounds := b.n(120, 10), b.n(5, 1)
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
	// Per round, each configuration's throughput: the target pairs the
	// systems within a round, so that the machine's drift between rounds
	// (other load; the floor mostly waits for fsync) cancels out.
	perRound := make([]map[string]float64, rounds)
	for r := 0; r < rounds; r++ {
		perRound[r] = map[string]float64{}
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
				if w > 0 {
					perRound[r][key] = float64(k*n) / w.Seconds()
				}
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
	var rel []float64
	var each []string
	for _, m := range perRound {
		sc := func(name string) float64 { return ratio(m[fmt.Sprintf("%s %d", name, writers)], m[name+" 1"]) }
		if x := ratio(sc("paracfs"), sc("floor")); !math.IsNaN(x) && !math.IsInf(x, 0) {
			rel = append(rel, x)
			each = append(each, fmtRatio(x))
		}
	}
	med := math.NaN()
	if len(rel) > 0 {
		sort.Float64s(rel)
		med = rel[len(rel)/2]
		if len(rel)%2 == 0 {
			med = (rel[len(rel)/2-1] + rel[len(rel)/2]) / 2
		}
	}
	t.notes = append(t.notes, fmt.Sprintf("paracfs's scaling over the floor's, round by round: %s (the target takes their median)", strings.Join(each, ", ")))
	b.printTable(t)
	b.target("8-writer scaling vs the floor's 8-writer scaling", med, ">=", 0.8, "x",
		fmt.Sprintf("median of %d rounds; all rounds: paracfs %s, floor %s (aggregate commits/s, 8 writers over 1)", len(rel), fmtRatio(scaling["paracfs"]), fmtRatio(scaling["floor"])))
	return nil
}
