package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"
)

const (
	hotPath  = "memory/context/current_state.yaml" // 2% of the lines, all through the log
	rarePath = "roadmap/rare.yaml"                 // 20 lines, all at the very start
)

// writeLog generates a change log of about size bytes of realistic
// paracfs lines (about 1 KiB each: paracle's fields, old and new values,
// changed keys).
func writeLog(file string, size int64) (lines int, err error) {
	if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
		return 0, err
	}
	f, err := os.Create(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewSource(5))
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var written int64
	var line []byte
	for written < size {
		p := fmt.Sprintf("memory/context/file_%03d.yaml", rng.Intn(200))
		switch {
		case lines < 200 && lines%10 == 0:
			p = rarePath
		case rng.Intn(50) == 0:
			p = hotPath
		}
		rev := lines/10 + 1
		ts := t.Add(time.Duration(lines) * 1337 * time.Millisecond)
		line = line[:0]
		line = append(line, `{"timestamp":"`...)
		line = ts.AppendFormat(line, "2006-01-02T15:04:05.000000+00:00")
		line = append(line, `","process_id":`...)
		line = strconv.AppendInt(line, int64(1000+rng.Intn(30000)), 10)
		line = append(line, `,"change_type":"commit","description":"`...)
		line = append(line, p...)
		line = fmt.Appendf(line, `: revision %d → %d (commit) by sed[%d]"`, rev-1, rev, 1234)
		val := fmt.Sprintf(`{"current_phase":{"completed":["sync_engine"],"deliverables":["sync_engine","search_index","conflict_ui"],"id":"phase_3","in_progress":["search_index"],"name":"Sync & Search","progress":"%d%%","status":"in_progress"}}`, lines%100)
		line = append(line, `,"old_value":`...)
		line = append(line, val...)
		line = append(line, `,"new_value":`...)
		line = append(line, val...)
		line = fmt.Appendf(line, `,"revision":%d,"path":"%s","op":"commit","uid":0,"command":"sed","old_revision":%d,"size":1015,"sha256":"%064x","keys":{"current_phase":{"old":"40%%","new":"45%%"}},"from":"memory/context/sedsD20Rw"}`, rev, p, rev-1, rng.Uint64())
		line = append(line, '\n')
		w.Write(line)
		written += int64(len(line))
		lines++
	}
	return lines, w.Flush()
}

// caseLog is case 5: `paracfs log --path P -n 20` on a large log, timed
// as a user runs it (the whole command, process start included), on the
// log read directly and through the mount.
func (b *Bench) caseLog() error {
	size := int64(b.n(100<<20, 2<<20))
	dir := b.dir("log", "pc")
	logFile := filepath.Join(dir, "memory/logs/state_changes.jsonl")
	t0 := time.Now()
	lines, err := writeLog(logFile, size)
	if err != nil {
		return err
	}
	gen := time.Since(t0)
	st, err := os.Stat(logFile)
	if err != nil {
		return err
	}

	query := func(want int, args ...string) (float64, error) {
		cmd := exec.Command(b.cfg.Paracfs, args...)
		if len(args) > 0 && args[0] == "gostart" {
			// A Go program that prints a line and exits (built beside
			// the suite by scripts/bench): the floor of a command's start.
			cmd = exec.Command(filepath.Join(filepath.Dir(b.self), "gostart"))
		}
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		t0 := time.Now()
		err := cmd.Run()
		d := time.Since(t0)
		if err != nil {
			return 0, fmt.Errorf("paracfs %v: %v: %s", args, err, bytes.TrimSpace(errb.Bytes()))
		}
		if want >= 0 && bytes.Count(out.Bytes(), []byte("\n")) != want {
			return 0, fmt.Errorf("paracfs %v printed %d lines, want %d", args, bytes.Count(out.Bytes(), []byte("\n")), want)
		}
		return float64(d.Nanoseconds()), nil
	}
	repeat := func(k int, cold bool, want int, args ...string) ([]float64, error) {
		var v []float64
		for i := 0; i < k; i++ {
			if cold {
				b.dropCaches()
			}
			d, err := query(want, args...)
			if err != nil {
				return nil, err
			}
			v = append(v, d)
		}
		return v, nil
	}
	reps := b.n(20, 3)
	type q struct {
		name, metric string
		k            int
		cold         bool
		want         int
		args         []string
	}
	qs := []q{
		{"paracfs version (process start-up)", "exec baseline", b.n(50, 5), false, -1, []string{"version"}},
		{"a Go program that prints a line (start floor)", "exec floor", b.n(50, 5), false, 1, []string{"gostart"}},
		{"log --path P -n 20 (P in 2% of lines)", "hot path", reps, false, 20, []string{"log", "--path", hotPath, "-n", "20", dir}},
		{"log --path P -n 20, cold caches", "hot path cold", b.n(5, 1), true, 20, []string{"log", "--path", hotPath, "-n", "20", dir}},
		{"log -n 20 (no filter)", "no filter", reps, false, 20, []string{"log", "-n", "20", dir}},
		{"log --path R -n 20 (R only at the start: whole log)", "rare path", b.n(3, 1), false, 20, []string{"log", "--path", rarePath, "-n", "20", dir}},
	}
	if !b.coldOK {
		qs = append(qs[:3], qs[4:]...)
	}
	t := &table{
		title: fmt.Sprintf("5. Log queries on a %.0f MiB log (%d lines, generated in %s); whole command timed", float64(st.Size())/(1<<20), lines, fmtNs(float64(gen))),
		head:  []string{"query", "direct p50", "direct p99", "through the mount p50", "through the mount p99"},
	}
	direct := map[string]*Series{}
	for _, x := range qs {
		v, err := repeat(x.k, x.cold, x.want, x.args...)
		if err != nil {
			return err
		}
		direct[x.metric] = b.series("log", x.metric, "direct", "ns", v)
	}
	// The same queries with DIR mounted in place, as a user runs them.
	pc, err := b.mountParacfs(dir, "memory/logs/state_changes.jsonl")
	if err != nil {
		return err
	}
	mounted := map[string]*Series{}
	for _, x := range qs[2:] {
		v, err := repeat(x.k, x.cold, x.want, x.args...)
		if err != nil {
			b.unmount(pc)
			return fmt.Errorf("through the mount: %w", err)
		}
		mounted[x.metric] = b.series("log", x.metric, "paracfs mount", "ns", v)
	}
	if err := b.unmount(pc); err != nil {
		return err
	}
	for _, x := range qs {
		d, m := direct[x.metric], mounted[x.metric]
		row := []string{x.name, fmtNs(d.P50), fmtNs(d.P99), "-", "-"}
		if m != nil {
			row[3], row[4] = fmtNs(m.P50), fmtNs(m.P99)
		}
		t.add(row...)
	}
	t.notes = append(t.notes, "direct: DIR not mounted, the log read from disk; through the mount: DIR mounted in place, the log read through paracfs")
	b.printTable(t)
	b.target(fmt.Sprintf("log --path P -n 20 on a %.0f MiB log (direct)", float64(st.Size())/(1<<20)), direct["hot path"].P50/1e6, "<=", 50, "ms", "whole command, process start included")
	b.target(fmt.Sprintf("log --path P -n 20 on a %.0f MiB log (through the mount)", float64(st.Size())/(1<<20)), mounted["hot path"].P50/1e6, "<=", 50, "ms", "DIR mounted in place")
	b.target("CLI command start (paracfs version) p50", direct["exec baseline"].P50/1e6, "<=", 5, "ms",
		fmt.Sprintf("a Go program that prints a line: %s", fmtNs(direct["exec floor"].P50)))
	return nil
}
