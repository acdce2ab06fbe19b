package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// caseCommit is case 1: open, write and close a 4 KiB YAML file, n times
// in a row, on every system; p50 and p99.
func (b *Bench) caseCommit() error {
	n, warm, rounds := b.n(1000, 30), b.n(20, 3), b.n(10, 2)
	const rel = "memory/context/state.yaml"
	initial := yamlDoc(4096, 0, 1)
	root := map[string]string{}
	for _, s := range []string{"native", "floor", "paracle", "lo-back", "pc"} {
		d := b.dir("commit", s)
		if err := os.MkdirAll(filepath.Join(d, "memory/context"), 0o755); err != nil {
			return err
		}
		names := []string{rel}
		if s == "paracle" {
			names = []string{"memory/context/state-fsync.yaml", "memory/context/state-nofsync.yaml"}
		}
		for _, nm := range names {
			if err := os.WriteFile(filepath.Join(d, nm), initial, 0o644); err != nil {
				return err
			}
		}
		root[s] = d
	}
	lo, err := b.mountLoopback(root["lo-back"], b.dir("commit", "lo"), rel, false)
	if err != nil {
		return err
	}
	defer b.unmount(lo)
	pc, err := b.mountParacfs(root["pc"], rel)
	if err != nil {
		return err
	}
	defer b.unmount(pc)
	py, err := b.startPython()
	if err != nil {
		return err
	}
	defer py.close()

	last := map[string][]byte{}
	revs := map[string]int64{}
	writer := func(name, path string, write func(*contender, string, []byte) (time.Duration, error)) *contender {
		c := &contender{name: name}
		c.batch = loop(func() (time.Duration, error) {
			revs[name]++
			data := yamlDoc(4096, revs[name], 1)
			last[name] = data
			return write(c, path, data)
		})
		return c
	}
	var pySize int
	native := writer("native", filepath.Join(root["native"], rel), plainWrite)
	floor := writer("floor", filepath.Join(root["floor"], rel), floorWrite)
	lback := writer("loopback", filepath.Join(lo.Path, rel), plainWrite)
	paracfs := writer("paracfs", filepath.Join(pc.Path, rel), plainWrite)
	pyNo := pySaver(py, "paracle-style", filepath.Join(root["paracle"], "memory/context/state-nofsync.yaml"), false, &pySize)
	pyFsync := pySaver(py, "paracle-style+fsync", filepath.Join(root["paracle"], "memory/context/state-fsync.yaml"), true, &pySize)
	inproc, closeInproc, err := b.inprocCommitter(rel, initial)
	if err != nil {
		return err
	}
	defer closeInproc()
	parse := parser()
	cs := []*contender{native, floor, lback, paracfs, pyNo, pyFsync, inproc, parse}
	if err := interleave(cs, warm, n, rounds); err != nil {
		return err
	}

	// Nothing lost: each file holds the last bytes written, and paracfs
	// counted every commit.
	for _, c := range []*contender{native, floor, lback, paracfs} {
		path := map[string]string{"native": filepath.Join(root["native"], rel), "floor": filepath.Join(root["floor"], rel),
			"loopback": filepath.Join(lo.Path, rel), "paracfs": filepath.Join(pc.Path, rel)}[c.name]
		got, err := readBytes(path)
		if err != nil || !bytes.Equal(got, last[c.name]) {
			b.fail("commit: %s: %s does not hold the last write (%v)", c.name, path, err)
		}
	}
	if rev, err := getRevision(filepath.Join(pc.Path, rel)); err != nil || rev != revs["paracfs"] {
		b.fail("commit: paracfs revision is %d (%v), want %d", rev, err, revs["paracfs"])
	}

	t := &table{
		title: fmt.Sprintf("1. Commit latency: open+write+close of a 4 KiB YAML file, %d× in a row (%d rounds, systems interleaved)", n, rounds),
		head:  []string{"system", "p50", "p99", "mean", "p50 phases"},
		left:  map[int]bool{4: true},
	}
	ser := map[string]*Series{}
	for _, c := range cs {
		s := b.series("commit", "latency", c.name, "ns", nanos(c.lat))
		ser[c.name] = s
		var ph []string
		for _, name := range c.order {
			p := b.series("commit", "phase "+name, c.name, "ns", nanos(c.phases[name]))
			ph = append(ph, name+" "+fmtNs(p.P50))
		}
		t.add(c.name, fmtNs(s.P50), fmtNs(s.P99), fmtNs(s.Mean), strings.Join(ph, ", "))
	}
	sum := ser["floor"].P50 + ser["loopback"].P50
	t.add("floor + loopback", fmtNs(sum), "", "", "the bar's sum of two floors (p50s)")
	t.notes = append(t.notes, "backing.Commit and revision.Parse (in process): the daemon's own packages called from the suite, no FUSE (diagnostics)")
	r1 := ratio(ser["paracfs"].P50, sum)
	r2 := ratio(ser["paracle-style+fsync"].P50, ser["paracfs"].P50)
	t.notes = append(t.notes,
		fmt.Sprintf("paracfs / (floor + loopback) = %s (p50)   paracfs / floor = %s   paracfs p99 / floor p99 = %s",
			fmtRatio(r1), fmtRatio(ratio(ser["paracfs"].P50, ser["floor"].P50)), fmtRatio(ratio(ser["paracfs"].P99, ser["floor"].P99))),
		fmt.Sprintf("paracle-style+fsync / paracfs = %s (p50)   paracle-style (no fsync) / paracfs = %s   (paracle-style dumps %d bytes)",
			fmtRatio(r2), fmtRatio(ratio(ser["paracle-style"].P50, ser["paracfs"].P50)), pySize))
	b.printTable(t)
	b.target("committed 4 KiB write p50 vs floor + loopback write", r1, "<=", 1.2, "x",
		fmt.Sprintf("%s vs %s + %s", fmtNs(ser["paracfs"].P50), fmtNs(ser["floor"].P50), fmtNs(ser["loopback"].P50)))
	b.target("speed-up over paracle-style at equal durability (p50)", r2, ">=", 2.2, "x",
		fmt.Sprintf("%s vs %s (fsync of file and directory in both)", fmtNs(ser["paracle-style+fsync"].P50), fmtNs(ser["paracfs"].P50)))

	if b.cfg.Profile {
		more := b.n(1000, 50)
		if file, err := b.pprofOf(inproc, more); err != nil {
			b.printf("  (pprof of in-process commits: %v)\n", err)
		} else {
			b.res.Profiles = append(b.res.Profiles, file)
			b.printf("\n  Go CPU profile of %d in-process commits (backing.Commit, no FUSE): %s\n  (go tool pprof -top -cum %s %s)\n", more, file, b.self, file)
		}
		b.profile("commit-inprocess", os.Getpid(), fmt.Sprintf("%d in-process commits (backing.Commit called directly, no FUSE)", more), more, func() error {
			_, err := inproc.batch(more)
			return err
		}, nil)
		b.profile("commit", pc.Pid, fmt.Sprintf("%d commits of a 4 KiB YAML file", more), more, func() error {
			_, err := paracfs.batch(more)
			return err
		}, &profRef{"loopback", lo.Pid, func() error {
			_, err := lback.batch(more)
			return err
		}})
		revAt := map[string]int64{}
		b.requestsPerOp("commit", []string{"paracfs", "loopback"}, func(dir string) error {
			if err := os.MkdirAll(filepath.Join(dir, "memory/context"), 0o755); err != nil {
				return err
			}
			return os.WriteFile(filepath.Join(dir, rel), initial, 0o644)
		}, []namedOp{{"open+write+close 4 KiB", 20, func(root string) error {
			revAt[root]++
			_, err := plainWrite(&contender{}, filepath.Join(root, rel), yamlDoc(4096, revAt[root], 1))
			return err
		}}})
	}
	return nil
}

// getRevision reads user.paracfs.revision through the mount.
func getRevision(path string) (int64, error) {
	buf := make([]byte, 32)
	n, err := unix.Getxattr(path, "user.paracfs.revision", buf)
	if err != nil {
		return -1, err
	}
	return strconv.ParseInt(strings.TrimSpace(string(buf[:n])), 10, 64)
}
