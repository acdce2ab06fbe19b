package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// caseContend is case 2: 8 writer processes incrementing a counter in one
// file, then 8 writers on 8 files. Each system uses its own way to stay
// correct: native, floor and loopback take P.lock; paracfs commits
// optimistically and retries on EBUSY (and, as a second row, with P.lock
// taken through the mount, as paracle does); paracle-style takes P.lock
// with filelock. The final counts prove that no update was lost.
func (b *Bench) caseContend() error {
	const writers = 8
	n := b.n(100, 10)
	root := map[string]string{}
	for _, s := range []string{"native", "floor", "lo-back", "pc", "paracle"} {
		d := b.dir("contend", s, "memory")
		root[s] = filepath.Dir(d)
	}
	files := func(dir, stem string) (one string, eight []string, err error) {
		one = filepath.Join(dir, "memory", stem+".yaml")
		if err := os.WriteFile(one, counterDoc(0, 0), 0o644); err != nil {
			return "", nil, err
		}
		for i := 0; i < writers; i++ {
			p := filepath.Join(dir, "memory", fmt.Sprintf("%s-%d.yaml", stem, i))
			if err := os.WriteFile(p, counterDoc(0, 0), 0o644); err != nil {
				return "", nil, err
			}
			eight = append(eight, p)
		}
		return one, eight, nil
	}
	type system struct {
		name      string
		dir, stem string
		mode      string // worker mode, or "py" / "py+fsync"
		one       string
		eight     []string
		checkRev  bool
	}
	systems := []*system{
		{name: "native", dir: root["native"], stem: "counter", mode: "plain"},
		{name: "floor", dir: root["floor"], stem: "counter", mode: "floor"},
		{name: "loopback", dir: root["lo-back"], stem: "counter", mode: "plain"},
		{name: "paracfs (retry on EBUSY)", dir: root["pc"], stem: "counter", mode: "optimistic", checkRev: true},
		{name: "paracfs (P.lock via mount)", dir: root["pc"], stem: "counter-locked", mode: "locked", checkRev: true},
		{name: "paracle-style", dir: root["paracle"], stem: "counter", mode: "py"},
		{name: "paracle-style+fsync", dir: root["paracle"], stem: "counter-fsync", mode: "py+fsync"},
	}
	for _, s := range systems {
		var err error
		if s.one, s.eight, err = files(s.dir, s.stem); err != nil {
			return err
		}
	}
	lo, err := b.mountLoopback(root["lo-back"], b.dir("contend", "lo"), "memory/counter.yaml", false)
	if err != nil {
		return err
	}
	defer b.unmount(lo)
	pc, err := b.mountParacfs(root["pc"], "memory/counter.yaml")
	if err != nil {
		return err
	}
	defer b.unmount(pc)
	// Paths as the writers see them: through the mounts.
	for _, s := range systems {
		via := ""
		switch s.dir {
		case root["lo-back"]:
			via = lo.Path
		}
		if via != "" {
			rebase := func(p string) string { r, _ := filepath.Rel(s.dir, p); return filepath.Join(via, r) }
			s.one = rebase(s.one)
			for i := range s.eight {
				s.eight[i] = rebase(s.eight[i])
			}
		}
	}

	t := &table{
		title: fmt.Sprintf("2. Contended commits: %d writer processes × %d read-modify-write increments each", writers, n),
		head:  []string{"system", "files", "throughput", "p50", "p99", "retries/op", "final count"},
	}
	for _, s := range systems {
		for _, scen := range []string{"1 file", "8 files"} {
			paths := make([]string, writers)
			for i := range paths {
				if scen == "1 file" {
					paths[i] = s.one
				} else {
					paths[i] = s.eight[i]
				}
			}
			res, wall, err := b.runWorkers(s.mode, paths, n)
			if err != nil {
				b.fail("contend: %s, %s: %v", s.name, scen, err)
				continue
			}
			var lat []float64
			retries := 0
			for _, r := range res {
				for _, ns := range r.LatNs {
					lat = append(lat, float64(ns))
				}
				retries += r.Retries
			}
			total := writers * n
			tput := float64(total) / wall.Seconds()
			ser := b.series("contend", "latency "+scen, s.name, "ns", lat)
			b.value("contend", "throughput "+scen, s.name, "ops/s", tput, "")
			b.value("contend", "retries "+scen, s.name, "", float64(retries), "")
			// Nothing lost.
			final := "ok"
			want := int64(total)
			check := []string{s.one}
			if scen == "8 files" {
				want, check = int64(n), s.eight
			}
			for _, p := range check {
				data, err := readBytes(p)
				if err != nil {
					b.fail("contend: %s: %v", s.name, err)
					final = "error"
					continue
				}
				_, count, err := parseCounter(data)
				if err != nil || count != want {
					b.fail("contend: %s, %s: %s holds count %d (%v), want %d: updates were lost", s.name, scen, p, count, err, want)
					final = "LOST"
				}
				if s.checkRev {
					if rev, err := getRevision(p); err != nil || rev != want {
						b.fail("contend: %s, %s: %s is at revision %d (%v), want %d", s.name, scen, p, rev, err, want)
						final = "LOST"
					}
				}
			}
			if final == "ok" {
				final = fmt.Sprintf("%d ok", want)
				if scen == "8 files" {
					final = fmt.Sprintf("8×%d ok", want)
				}
			}
			t.add(s.name, scen, fmtVal(tput, "ops/s"), fmtNs(ser.P50), fmtNs(ser.P99), fmt.Sprintf("%.2f", float64(retries)/float64(total)), final)
		}
	}
	t.notes = append(t.notes, "latency: one increment from the writer's side, lock wait and retries included; throughput: increments per second of wall time")
	b.printTable(t)
	return nil
}

type workerResult struct {
	LatNs   []int64 `json:"lat_ns"`
	StartNs int64   `json:"start_ns"`
	EndNs   int64   `json:"end_ns"`
	Retries int     `json:"retries"`
	Error   string  `json:"error,omitempty"`
}

// runWorkers starts one writer process per path, releases them together
// and collects their latencies; wall is first start to last end.
func (b *Bench) runWorkers(mode string, paths []string, n int) ([]workerResult, time.Duration, error) {
	type proc struct {
		cmd *exec.Cmd
		out bytes.Buffer
		in  interface{ Close() error }
		w   *bufio.Writer
	}
	var ps []*proc
	for _, p := range paths {
		var cmd *exec.Cmd
		switch mode {
		case "py", "py+fsync":
			fs := "0"
			if mode == "py+fsync" {
				fs = "1"
			}
			cmd = exec.Command(b.cfg.Python, b.pyFile, "counter", p, strconv.Itoa(n), fs)
		default:
			cmd = exec.Command(b.self, "worker", "--mode", mode, "--n", strconv.Itoa(n), p)
		}
		pr := &proc{cmd: cmd}
		cmd.Stdout = &pr.out
		cmd.Stderr = os.Stderr
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, 0, err
		}
		pr.in = in
		pr.w = bufio.NewWriter(in)
		if err := cmd.Start(); err != nil {
			return nil, 0, err
		}
		ps = append(ps, pr)
	}
	time.Sleep(300 * time.Millisecond) // let interpreters import their modules
	for _, pr := range ps {
		pr.w.WriteString("go\n")
		pr.w.Flush()
		pr.in.Close()
	}
	var res []workerResult
	var errs []error
	var first, last int64
	for i, pr := range ps {
		if err := pr.cmd.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("writer %d crashed: %v (%s)", i, err, bytes.TrimSpace(pr.out.Bytes())))
			continue
		}
		var r workerResult
		if err := json.Unmarshal(pr.out.Bytes(), &r); err != nil {
			errs = append(errs, fmt.Errorf("writer %d said %q", i, pr.out.String()))
			continue
		}
		if r.Error != "" {
			errs = append(errs, fmt.Errorf("writer %d: %s", i, r.Error))
		}
		if first == 0 || r.StartNs < first {
			first = r.StartNs
		}
		if r.EndNs > last {
			last = r.EndNs
		}
		res = append(res, r)
	}
	return res, time.Duration(last - first), errors.Join(errs...)
}

// runWorker is one writer process: after a line on stdin it increments
// the counter in its file n times and prints its latencies as JSON.
func runWorker(args []string) int {
	fl := flag.NewFlagSet("worker", flag.ContinueOnError)
	mode := fl.String("mode", "plain", "plain | floor | optimistic | locked")
	n := fl.Int("n", 100, "increments")
	if err := fl.Parse(args); err != nil || fl.NArg() != 1 {
		return 2
	}
	path := fl.Arg(0)
	bufio.NewReader(os.Stdin).ReadString('\n')
	var r workerResult
	r.StartNs = time.Now().UnixNano()
	for i := 0; i < *n; i++ {
		t0 := time.Now()
		retries, err := increment(*mode, path)
		r.Retries += retries
		if err != nil {
			r.Error = err.Error()
			break
		}
		r.LatNs = append(r.LatNs, time.Since(t0).Nanoseconds())
	}
	r.EndNs = time.Now().UnixNano()
	j, _ := json.Marshal(r)
	os.Stdout.Write(j)
	return 0
}

// increment adds one to the counter in path the way mode says.
func increment(mode, path string) (retries int, err error) {
	switch mode {
	case "plain", "floor":
		unlock, err := lockFile(path + ".lock")
		if err != nil {
			return 0, err
		}
		defer unlock()
		data, err := readBytes(path)
		if err != nil {
			return 0, err
		}
		rev, count, err := parseCounter(data)
		if err != nil {
			return 0, fmt.Errorf("%s: %v", path, err)
		}
		next := counterDoc(rev+1, count+1)
		if mode == "floor" {
			_, err := replaceDurably(nil, path, next)
			return 0, err
		}
		fd, err := unix.Open(path, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, err
		}
		if err := writeAll(fd, next); err != nil {
			unix.Close(fd)
			return 0, err
		}
		return 0, unix.Close(fd)
	case "locked":
		unlock, err := lockFile(path + ".lock")
		if err != nil {
			return 0, err
		}
		defer unlock()
		err = rmw(path)
		return 0, err
	case "optimistic":
		for retries = 0; retries < 100000; retries++ {
			err := rmw(path)
			if err == unix.EBUSY {
				continue // someone committed since we read: read again
			}
			return retries, err
		}
		return retries, errors.New("still conflicting after 100000 tries")
	}
	return 0, fmt.Errorf("unknown mode %q", mode)
}

// rmw is a read-modify-write through one descriptor opened without
// O_TRUNC: on paracfs, its base is the revision at open, and close
// commits (or fails with EBUSY if someone else committed first).
func rmw(path string) error {
	fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	var data []byte
	if _, err := readAll(fd, make([]byte, 16<<10), &data); err != nil {
		unix.Close(fd)
		return err
	}
	rev, count, err := parseCounter(data)
	if err != nil {
		unix.Close(fd)
		return fmt.Errorf("%s: %v", path, err)
	}
	// The revision is kept as read: paracfs stamps the next one.
	next := counterDoc(rev, count+1)
	if _, err := unix.Pwrite(fd, next, 0); err != nil {
		unix.Close(fd)
		return err
	}
	if len(next) < len(data) {
		if err := unix.Ftruncate(fd, int64(len(next))); err != nil {
			unix.Close(fd)
			return err
		}
	}
	return unix.Close(fd)
}

// parseCounter reads the revision and count lines of a counter file.
func parseCounter(data []byte) (rev, count int64, err error) {
	var gotRev, gotCount bool
	for _, line := range bytes.Split(data, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("revision: ")); ok {
			rev, err = strconv.ParseInt(string(v), 10, 64)
			gotRev = err == nil
		}
		if v, ok := bytes.CutPrefix(line, []byte("count: ")); ok {
			count, err = strconv.ParseInt(string(v), 10, 64)
			gotCount = err == nil
		}
	}
	if !gotRev || !gotCount {
		return rev, count, fmt.Errorf("not a counter file (%d bytes)", len(data))
	}
	return rev, count, nil
}
