package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// fixtureState is paracle's project state file as the end-to-end tests use
// it, read from the repository (scripts/bench runs from its root).
const fixtureState = "tests/testdata/parac/memory/context/current_state.yaml"

var (
	revLine      = regexp.MustCompile(`(?m)^revision: (\d+)$`)
	progressLine = regexp.MustCompile(`(?m)^(  progress: )\d+%`)
)

// bumpState is what paracle's save_state does to the state file: the
// revision bumped by the writer itself, one field changed, every other
// byte kept.
func bumpState(data []byte) ([]byte, int64, error) {
	m := revLine.FindSubmatchIndex(data)
	if m == nil {
		return nil, 0, fmt.Errorf("no top-level revision line in %d bytes", len(data))
	}
	rev, err := strconv.ParseInt(string(data[m[2]:m[3]]), 10, 64)
	if err != nil {
		return nil, 0, err
	}
	next := rev + 1
	out := make([]byte, 0, len(data)+8)
	out = append(out, data[:m[2]]...)
	out = strconv.AppendInt(out, next, 10)
	out = append(out, data[m[3]:]...)
	loc := progressLine.FindSubmatchIndex(out)
	if loc != nil {
		var b bytes.Buffer
		b.Write(out[:loc[3]])
		fmt.Fprintf(&b, "%d%%", next%100)
		b.Write(out[loc[1]:])
		out = b.Bytes()
	}
	return out, next, nil
}

// caseParacle is the paracle workload: read-modify-write of paracle's
// current_state.yaml (the fixture of the end-to-end tests), n times in a
// row, as save_state does it: read the file, bump its revision, change a
// field, write it back with open(O_TRUNC)+write+close. Its bar is the sum
// of the floors of its parts: the durable replace of the same bytes
// (floor) plus the loopback's read and write of them.
func (b *Bench) caseParacle() error {
	n, warm, rounds := b.n(1000, 30), b.n(20, 3), b.n(10, 2)
	const rel = "memory/context/current_state.yaml"
	fixture, err := os.ReadFile(fixtureState)
	if err != nil {
		return fmt.Errorf("the fixture (run from the repository's root): %w", err)
	}
	root := map[string]string{}
	for _, s := range []string{"native", "floor", "lo-back", "pc"} {
		d := b.dir("paracle", s)
		if err := os.MkdirAll(filepath.Join(d, "memory/context"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(d, rel), fixture, 0o644); err != nil {
			return err
		}
		root[s] = d
	}
	lo, err := b.mountLoopback(root["lo-back"], b.dir("paracle", "lo"), rel, false)
	if err != nil {
		return err
	}
	defer b.unmount(lo)
	pc, err := b.mountParacfs(root["pc"], rel)
	if err != nil {
		return err
	}
	defer b.unmount(pc)

	last := map[string][]byte{}
	rmw := func(name, path string) *contender {
		c := &contender{name: name}
		c.batch = loop(func() (time.Duration, error) {
			t0 := time.Now()
			data, err := readBytes(path)
			if err != nil {
				return 0, err
			}
			t1 := time.Now()
			out, _, err := bumpState(data)
			if err != nil {
				return 0, fmt.Errorf("%s: %w", path, err)
			}
			t2 := time.Now()
			var w contender
			if _, err := plainWrite(&w, path, out); err != nil {
				return 0, err
			}
			t3 := time.Now()
			last[name] = out
			c.phase("read", t1.Sub(t0))
			c.phase("write", t3.Sub(t2))
			return t3.Sub(t0), nil
		})
		return c
	}
	native := rmw("native", filepath.Join(root["native"], rel))
	lback := rmw("loopback", filepath.Join(lo.Path, rel))
	paracfs := rmw("paracfs", filepath.Join(pc.Path, rel))
	// The floor writes the same bytes durably, without reading them back.
	floorPath := filepath.Join(root["floor"], rel)
	floorData := fixture
	floor := &contender{name: "floor"}
	floor.batch = loop(func() (time.Duration, error) {
		out, _, err := bumpState(floorData)
		if err != nil {
			return 0, err
		}
		floorData = out
		last["floor"] = out
		return floorWrite(floor, floorPath, out)
	})
	cs := []*contender{native, floor, lback, paracfs}
	if err := interleave(cs, warm, n, rounds); err != nil {
		return err
	}

	// Nothing lost: each file holds its last write, and paracfs's revision
	// is the one the content carries (the writer bumped it each time).
	for _, c := range []*contender{native, floor, lback, paracfs} {
		path := map[string]string{"native": filepath.Join(root["native"], rel), "floor": floorPath,
			"loopback": filepath.Join(lo.Path, rel), "paracfs": filepath.Join(pc.Path, rel)}[c.name]
		got, err := readBytes(path)
		if err != nil || !bytes.Equal(got, last[c.name]) {
			b.fail("paracle: %s: %s does not hold the last write (%v)", c.name, path, err)
		}
	}
	_, want, _ := bumpState(last["paracfs"])
	if rev, err := getRevision(filepath.Join(pc.Path, rel)); err != nil || rev != want-1 {
		b.fail("paracle: paracfs revision is %d (%v), want %d", rev, err, want-1)
	}

	t := &table{
		title: fmt.Sprintf("6. paracle workload: read-modify-write of current_state.yaml (%d bytes), %d× in a row (%d rounds, systems interleaved)", len(fixture), n, rounds),
		head:  []string{"system", "p50", "p99", "mean", "p50 phases"},
		left:  map[int]bool{4: true},
	}
	ser := map[string]*Series{}
	phase := map[string]float64{}
	for _, c := range cs {
		s := b.series("paracle", "latency", c.name, "ns", nanos(c.lat))
		ser[c.name] = s
		var ph []string
		for _, name := range c.order {
			p := b.series("paracle", "phase "+name, c.name, "ns", nanos(c.phases[name]))
			phase[c.name+" "+name] = p.P50
			ph = append(ph, name+" "+fmtNs(p.P50))
		}
		t.add(c.name, fmtNs(s.P50), fmtNs(s.P99), fmtNs(s.Mean), strings.Join(ph, ", "))
	}
	sum := ser["floor"].P50 + phase["loopback read"] + phase["loopback write"]
	t.add("floor + loopback read + write", fmtNs(sum), "", "", "the bar's sum of floors (p50s)")
	t.notes = append(t.notes, "each read-modify-write reads the file, bumps its revision and progress, and writes it back with open(O_TRUNC)+write+close;",
		"the floor writes the same bytes durably (flock, temp, fsync, rename, directory fsync) without reading them")
	b.printTable(t)
	r := ratio(ser["paracfs"].P50, sum)
	b.target("paracle read-modify-write p50 vs floor + loopback read + write", r, "<=", 1.2, "x",
		fmt.Sprintf("%s vs %s + %s + %s", fmtNs(ser["paracfs"].P50), fmtNs(ser["floor"].P50), fmtNs(phase["loopback read"]), fmtNs(phase["loopback write"])))
	return nil
}
