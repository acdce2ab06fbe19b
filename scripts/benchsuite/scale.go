package main

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"time"
)

// findCat reads every regular file under root, like
// `find root -type f -exec cat {} +`; it returns how many it read.
func findCat(root string, buf []byte) (int, error) {
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && d.Name() == ".paracfs" {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			if _, err := readFile(p, buf); err != nil {
				return fmt.Errorf("%s: %w", p, err)
			}
			n++
		}
		return nil
	})
	return n, err
}

// caseScale is case 4: a 10,000-file tree. Time until the mount is ready
// (first with cold caches, then warm), a full find+cat, and the serving
// process's memory after it.
func (b *Bench) caseScale() error {
	dirs, files := b.n(100, 10), b.n(100, 50)
	total := dirs * files
	const probe = "d000/f0000.yaml"
	roots := map[string]string{}
	for _, s := range []string{"native", "lo-back", "pc"} {
		d := b.dir("scale", s)
		if err := writeTree(d, dirs, files, 1024); err != nil {
			return err
		}
		roots[s] = d
	}
	loMnt := b.dir("scale", "lo")
	reps := b.n(5, 2)
	ready := map[string][]float64{}
	coldReady := map[string]float64{}
	var pc, lo *Mount
	for i := 0; i <= reps; i++ {
		cold := i == 0
		for _, kind := range []string{"paracfs", "loopback"} {
			if cold && !b.dropCaches() {
				cold = false
			}
			var m *Mount
			var err error
			if kind == "paracfs" {
				m, err = b.mountParacfs(roots["pc"], probe)
			} else {
				m, err = b.mountLoopback(roots["lo-back"], loMnt, probe, false)
			}
			if err != nil {
				return err
			}
			if i == 0 && cold {
				coldReady[kind] = float64(m.Ready.Nanoseconds())
			} else {
				ready[kind] = append(ready[kind], float64(m.Ready.Nanoseconds()))
			}
			if i < reps {
				if err := b.unmount(m); err != nil {
					return err
				}
			} else if kind == "paracfs" {
				pc = m
			} else {
				lo = m
			}
		}
	}
	defer b.unmount(pc)
	defer b.unmount(lo)
	path := map[string]string{"native": roots["native"], "loopback": lo.Path, "paracfs": pc.Path}
	systems := []string{"native", "loopback", "paracfs"}

	buf := make([]byte, 128<<10)
	pass := func(s string) (float64, error) {
		t0 := time.Now()
		n, err := findCat(path[s], buf)
		if err == nil && n != total {
			err = fmt.Errorf("find+cat on %s read %d files, want %d", s, n, total)
		}
		return float64(time.Since(t0).Nanoseconds()), err
	}
	first, cold, warm := map[string]float64{}, map[string]float64{}, map[string][]float64{}
	for _, s := range systems {
		var err error
		if first[s], err = pass(s); err != nil {
			return err
		}
	}
	if b.coldOK {
		for _, s := range systems {
			b.dropCaches()
			var err error
			if cold[s], err = pass(s); err != nil {
				return err
			}
		}
	}
	for i := 0; i < b.n(3, 1); i++ {
		for _, s := range systems {
			d, err := pass(s)
			if err != nil {
				return err
			}
			warm[s] = append(warm[s], d)
		}
	}

	t := &table{
		title: fmt.Sprintf("4. Scale: a %d-file tree (%d directories × %d files of 1 KiB, 7 in 10 YAML)", total, dirs, files),
		head:  []string{"", "native", "loopback", "paracfs", "paracfs/loopback"},
	}
	row := func(name string, v map[string]float64, withNative bool) {
		r := []string{name}
		for _, s := range systems {
			x, ok := v[s]
			if !ok || (s == "native" && !withNative) {
				r = append(r, "-")
				continue
			}
			r = append(r, fmtNs(x))
		}
		r = append(r, fmtRatio(ratio(v["paracfs"], v["loopback"])))
		t.add(r...)
	}
	if len(coldReady) > 0 {
		row("mount ready, cold caches", coldReady, false)
		for k, v := range coldReady {
			b.series("scale", "mount ready cold", k, "ns", []float64{v})
		}
	}
	readyMed := map[string]float64{}
	for k, v := range ready {
		readyMed[k] = b.series("scale", "mount ready", k, "ns", v).P50
	}
	row(fmt.Sprintf("mount ready, warm (median of %d)", len(ready["paracfs"])), readyMed, false)
	row("find+cat, first pass after mount", first, true)
	if len(cold) > 0 {
		row("find+cat, cold caches", cold, true)
	}
	warmMed := map[string]float64{}
	for _, s := range systems {
		b.series("scale", "find+cat first", s, "ns", []float64{first[s]})
		if v, ok := cold[s]; ok {
			b.series("scale", "find+cat cold", s, "ns", []float64{v})
		}
		warmMed[s] = b.series("scale", "find+cat warm", s, "ns", warm[s]).P50
	}
	row(fmt.Sprintf("find+cat, warm (median of %d)", len(warm["paracfs"])), warmMed, true)

	rss := map[string][2]float64{}
	for _, m := range []*Mount{pc, lo} {
		r, h, err := rssMiB(m.Pid)
		if err != nil {
			b.fail("scale: the %s server (pid %d) is gone: %v", m.Kind, m.Pid, err)
			continue
		}
		rss[m.Kind] = [2]float64{r, h}
		b.value("scale", "rss after", m.Kind, "MiB", r, "VmRSS after find+cat")
		b.value("scale", "rss peak", m.Kind, "MiB", h, "VmHWM")
	}
	t.add("server RSS after (VmRSS / peak)", "-",
		fmt.Sprintf("%.1f / %.1f MiB", rss["loopback"][0], rss["loopback"][1]),
		fmt.Sprintf("%.1f / %.1f MiB", rss["paracfs"][0], rss["paracfs"][1]),
		fmtRatio(ratio(rss["paracfs"][0], rss["loopback"][0])))
	t.notes = append(t.notes, "mount ready: from starting `paracfs mount DIR` (or the loopback process) to a stat answered through the mount",
		"first pass: paracfs reads files it never saw, so it stamps each one (revision xattr) as it opens it")
	b.printTable(t)

	if err := b.commitsAtScale(pc, dirs, files); err != nil {
		return fmt.Errorf("commits at scale: %w", err)
	}
	b.target(fmt.Sprintf("daemon RSS after the %d-file scale case", total), rss["paracfs"][0], "<=", 40, "MiB",
		fmt.Sprintf("peak %.1f MiB; loopback %.1f MiB", rss["paracfs"][1], rss["loopback"][0]))
	b.target("mount ready (warm)", readyMed["paracfs"]/1e6, "<=", 150, "ms", fmt.Sprintf("loopback %s", fmtNs(readyMed["loopback"])))
	if v, ok := coldReady["paracfs"]; ok {
		b.target("mount ready (cold caches)", v/1e6, "<=", 150, "ms", fmt.Sprintf("loopback %s", fmtNs(coldReady["loopback"])))
	}
	return nil
}
