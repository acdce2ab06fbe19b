package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// readTree lays out what case 3 reads: a 4 KiB and a 1 MiB YAML file and a
// 1,000-file tree (10 directories of 100 files).
func readTree(root string, quick bool) error {
	if err := os.MkdirAll(filepath.Join(root, "read"), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "read/small.yaml"), yamlDoc(4096, 0, 7), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "read/big.yaml"), yamlDoc(1<<20, 0, 8), 0o644); err != nil {
		return err
	}
	dirs, files := 10, 100
	if quick {
		dirs, files = 4, 25
	}
	return writeTree(filepath.Join(root, "tree"), dirs, files, 512)
}

// walkStat lists every directory under dir and stats every entry, like
// `ls -lR` or `find -ls`.
func walkStat(dir string) (int, error) {
	f, err := os.Open(dir)
	if err != nil {
		return 0, err
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, name := range names {
		p := dir + "/" + name
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return n, err
		}
		n++
		if st.Mode&unix.S_IFMT == unix.S_IFDIR && name != ".paracfs" {
			m, err := walkStat(p)
			n += m
			if err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

type readOp struct {
	name   string
	metric string
	warm   int
	cold   int
	fn     func(root string, buf []byte) error
	bytes  int // for throughput
}

// caseRead is case 3: reads, stat and readdir+stat, warm and cold, on
// native, loopback, loopback-strict (a diagnostic: the loopback served
// with paracfs's cache policy) and paracfs.
func (b *Bench) caseRead() error {
	roots := map[string]string{}
	for _, s := range []string{"native", "lo-back", "strict-back", "pc"} {
		d := b.dir("read", s)
		if err := readTree(d, b.cfg.Quick); err != nil {
			return err
		}
		roots[s] = d
	}
	lo, err := b.mountLoopback(roots["lo-back"], b.dir("read", "lo"), "read/small.yaml", false)
	if err != nil {
		return err
	}
	defer b.unmount(lo)
	strict, err := b.mountLoopback(roots["strict-back"], b.dir("read", "strict"), "read/small.yaml", true)
	if err != nil {
		return err
	}
	defer b.unmount(strict)
	pc, err := b.mountParacfs(roots["pc"], "read/small.yaml")
	if err != nil {
		return err
	}
	defer b.unmount(pc)
	systems := []string{"native", "loopback", "loopback-strict", "paracfs"}
	path := map[string]string{"native": roots["native"], "loopback": lo.Path, "loopback-strict": strict.Path, "paracfs": pc.Path}

	treeFiles := 1000
	if b.cfg.Quick {
		treeFiles = 100
	}
	ops := []readOp{
		{name: "read 4 KiB", metric: "read 4k", warm: b.n(1000, 30), cold: b.n(20, 2), fn: func(r string, buf []byte) error {
			_, err := readFile(r+"/read/small.yaml", buf)
			return err
		}},
		{name: "read 1 MiB", metric: "read 1m", warm: b.n(200, 10), cold: b.n(10, 1), bytes: 1 << 20, fn: func(r string, buf []byte) error {
			n, err := readFile(r+"/read/big.yaml", buf)
			if err == nil && n != 1<<20 {
				err = fmt.Errorf("read %d bytes of big.yaml", n)
			}
			return err
		}},
		{name: "stat", metric: "stat", warm: b.n(2000, 50), fn: func(r string, buf []byte) error {
			var st unix.Stat_t
			return unix.Stat(r+"/read/small.yaml", &st)
		}},
		{name: fmt.Sprintf("readdir+stat, %d files", treeFiles), metric: "readdir+stat", warm: b.n(50, 3), cold: b.n(5, 1), fn: func(r string, buf []byte) error {
			n, err := walkStat(r + "/tree")
			if err == nil && n < treeFiles {
				err = fmt.Errorf("walk saw %d entries", n)
			}
			return err
		}},
	}
	buf := make([]byte, 128<<10)
	t := &table{
		title: "3. Reads: p50 (p99) per operation; ratios of p50s",
		head:  []string{"operation", "native", "loopback", "loopback-strict", "paracfs", "paracfs/loopback", "paracfs/strict"},
	}
	results := map[string]map[string]*Series{} // op+temp -> system -> series
	for _, op := range ops {
		// Warm: the systems take turns.
		var cs []*contender
		for _, s := range systems {
			root := path[s]
			cs = append(cs, &contender{name: s, batch: loop(func() (time.Duration, error) {
				t0 := time.Now()
				err := op.fn(root, buf)
				return time.Since(t0), err
			})})
		}
		if err := interleave(cs, b.n(10, 2), op.warm, b.n(10, 2)); err != nil {
			return fmt.Errorf("%s: %w", op.name, err)
		}
		key := op.name + " (warm)"
		results[key] = map[string]*Series{}
		for _, c := range cs {
			results[key][c.name] = b.series("read", op.metric+" warm", c.name, "ns", nanos(c.lat))
		}
		b.readRow(t, key, systems, results[key])
		if op.bytes > 0 {
			row := []string{"  throughput (warm)"}
			for _, s := range systems {
				tp := float64(op.bytes) / (1 << 20) / (results[key][s].P50 / 1e9)
				b.value("read", op.metric+" warm throughput", s, "MiB/s", tp, "from the p50 time")
				row = append(row, fmtVal(tp, "MiB/s"))
			}
			lt := 1 / results[key]["loopback"].P50
			pt := 1 / results[key]["paracfs"].P50
			st := 1 / results[key]["loopback-strict"].P50
			row = append(row, fmtRatio(pt/lt), fmtRatio(pt/st))
			t.add(row...)
			b.target("1 MiB warm sequential read throughput vs loopback", pt/lt, ">=", 0.8, "x",
				fmt.Sprintf("%s vs %s per read", fmtNs(results[key]["paracfs"].P50), fmtNs(results[key]["loopback"].P50)))
		}
		b.target(op.name+" (warm) p50 vs loopback", ratio(results[key]["paracfs"].P50, results[key]["loopback"].P50), "<=", 1.2, "x",
			fmt.Sprintf("%s vs %s", fmtNs(results[key]["paracfs"].P50), fmtNs(results[key]["loopback"].P50)))

		if op.cold == 0 {
			continue
		}
		key = op.name + " (cold)"
		if !b.coldOK {
			t.add(key, "not root: caches cannot be dropped")
			continue
		}
		lat := map[string][]time.Duration{}
		for i := 0; i < op.cold; i++ {
			for j := range systems {
				s := systems[(i+j)%len(systems)]
				b.dropCaches()
				t0 := time.Now()
				if err := op.fn(path[s], buf); err != nil {
					return fmt.Errorf("%s (cold) on %s: %w", op.name, s, err)
				}
				lat[s] = append(lat[s], time.Since(t0))
			}
		}
		results[key] = map[string]*Series{}
		for _, s := range systems {
			results[key][s] = b.series("read", op.metric+" cold", s, "ns", nanos(lat[s]))
		}
		b.readRow(t, key, systems, results[key])
		b.target(op.name+" (cold) p50 vs loopback", ratio(results[key]["paracfs"].P50, results[key]["loopback"].P50), "<=", 1.2, "x",
			fmt.Sprintf("%s vs %s", fmtNs(results[key]["paracfs"].P50), fmtNs(results[key]["loopback"].P50)))
	}
	t.notes = append(t.notes,
		"cold: page, dentry and inode caches dropped before each operation (echo 3 > /proc/sys/vm/drop_caches)",
		"loopback: go-fuse's example options (1 s entry and attribute timeouts, page cache); loopback-strict: the same loopback",
		"with paracfs's policy for managed files (no attribute caching, direct I/O): a diagnostic, not a target")
	b.printTable(t)

	if b.cfg.Profile {
		pr := func(name string, op readOp, k int) {
			on := func(root string) func() error {
				return func() error {
					for i := 0; i < k; i++ {
						if err := op.fn(root, buf); err != nil {
							return err
						}
					}
					return nil
				}
			}
			b.profile(name, pc.Pid, fmt.Sprintf("%d× %s (warm)", k, op.name), k, on(pc.Path), &profRef{"loopback", lo.Pid, on(lo.Path)})
		}
		pr("read4k", ops[0], 5000)
		pr("read1m", ops[1], 500)
		pr("stat", ops[2], 10000)
		pr("readdir", ops[3], 50)
		var named []namedOp
		for _, op := range ops {
			k := 20
			if op.metric == "readdir+stat" {
				k = 2
			}
			named = append(named, namedOp{op.name, k, func(root string) error { return op.fn(root, buf) }})
		}
		b.requestsPerOp("read", []string{"paracfs", "loopback", "loopback-strict"}, func(dir string) error { return readTree(dir, b.cfg.Quick) }, named)
	}
	return nil
}

// readRow adds one operation's p50 (p99) for every system, and the ratios.
func (b *Bench) readRow(t *table, name string, systems []string, r map[string]*Series) {
	row := []string{name}
	for _, s := range systems {
		row = append(row, fmt.Sprintf("%s (%s)", fmtNs(r[s].P50), fmtNs(r[s].P99)))
	}
	row = append(row, fmtRatio(ratio(r["paracfs"].P50, r["loopback"].P50)), fmtRatio(ratio(r["paracfs"].P50, r["loopback-strict"].P50)))
	t.add(row...)
}
