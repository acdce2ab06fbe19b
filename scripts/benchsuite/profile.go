package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The daemon is profiled from outside, without changing it: perf attaches
// to its pid while the suite repeats a case's operations. Three extra
// passes, never the timed ones: perf stat (the daemon's CPU time per
// operation), perf record -g (where that CPU time goes: user and kernel
// stacks; Go binaries keep frame pointers and symbols) and perf trace -s
// (the daemon's syscalls with their wall time, which shows the time spent
// off the CPU: fsync, locks, waiting).

// profRef is the same work against a reference server (the loopback),
// whose CPU per operation is printed beside the daemon's.
type profRef struct {
	name string
	pid  int
	work func() error
}

// profile runs work (k operations) under each perf pass against pid and
// prints a summary; the raw reports go to the profile directory.
func (b *Bench) profile(name string, pid int, what string, k int, work func() error, ref *profRef) {
	if err := os.MkdirAll(b.profDir, 0o755); err != nil {
		b.printf("  (profile %s: %v)\n", name, err)
		return
	}
	base := filepath.Join(b.profDir, name)
	who, sys := fmt.Sprintf("the paracfs daemon (pid %d)", pid), "paracfs"
	if pid == os.Getpid() {
		who, sys = "the suite itself", "in-process"
	}
	b.printf("\n  Profile of %s, %s: where the time goes\n", who, what)

	// 1. CPU time per operation, the daemon's and the reference's.
	statOut := base + ".perf-stat.txt"
	wall, err := b.underPerf(work, "stat", "-e", "task-clock,context-switches", "-p", strconv.Itoa(pid), "-o", statOut)
	if err != nil {
		b.printf("  (perf stat: %v)\n", err)
		return
	}
	b.res.Profiles = append(b.res.Profiles, statOut)
	ms, cs := parsePerfStat(statOut)
	cpuPerOp := ms * 1e6 / float64(k)
	b.value(name, "cpu per op", sys, "ns", cpuPerOp, what)
	b.value(name, "context switches per op", sys, "", cs/float64(k), what)
	line := fmt.Sprintf("    CPU %s and %.1f context switches per operation (client wall time %s per operation in that pass)",
		fmtNs(cpuPerOp), cs/float64(k), fmtNs(float64(wall.Nanoseconds())/float64(k)))
	if ref != nil {
		refOut := base + ".perf-stat-" + ref.name + ".txt"
		if _, err := b.underPerf(ref.work, "stat", "-e", "task-clock,context-switches", "-p", strconv.Itoa(ref.pid), "-o", refOut); err == nil {
			rms, rcs := parsePerfStat(refOut)
			b.value(name, "cpu per op", ref.name, "ns", rms*1e6/float64(k), what)
			b.value(name, "context switches per op", ref.name, "", rcs/float64(k), what)
			line += fmt.Sprintf("\n    %s, same operations: server CPU %s and %.1f context switches per operation", ref.name, fmtNs(rms*1e6/float64(k)), rcs/float64(k))
		}
	}
	b.printf("%s\n", line)

	// 2. Where the CPU time goes.
	data := base + ".perf.data"
	if _, err := b.underPerf(work, "record", "-q", "-F", "4999", "-g", "-p", strconv.Itoa(pid), "-o", data); err != nil {
		b.printf("  (perf record: %v)\n", err)
		return
	}
	self, _ := exec.Command("perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "sym", "-g", "none", "--percent-limit", "0.2").Output()
	children, _ := exec.Command("perf", "report", "-i", data, "--stdio", "--children", "--sort", "sym", "-g", "none", "--percent-limit", "0.5").Output()
	graph, _ := exec.Command("perf", "report", "-i", data, "--stdio", "--no-children", "--sort", "sym", "-g", "caller,0.5,callee", "--percent-limit", "2").Output()
	for suffix, out := range map[string][]byte{".self.txt": self, ".children.txt": children, ".callgraph.txt": graph} {
		os.WriteFile(base+suffix, out, 0o644)
		b.res.Profiles = append(b.res.Profiles, base+suffix)
	}
	b.res.Profiles = append(b.res.Profiles, data)
	incl := parseReport(children)
	per := func(s symPct) string {
		return fmt.Sprintf("%s %s (%.0f%%)", shortSym(s.sym), fmtNs(s.pct/100*cpuPerOp), s.pct)
	}
	var ours, rt, kern []string
	for _, s := range incl {
		if s.pct >= 1 {
			b.value(name, "cpu inclusive: "+s.sym, sys, "%", s.pct, "perf record -g, --children")
		}
		switch {
		case strings.Contains(s.sym, "paracfs/paracfs/") && s.pct >= 2 && len(ours) < 16:
			ours = append(ours, per(s))
		case landmark[s.sym] && s.pct >= 1:
			rt = append(rt, per(s))
		case s.kernel && (strings.HasPrefix(s.sym, "__x64_sys_") || s.sym == "schedule") && s.pct >= 1 && len(kern) < 12:
			kern = append(kern, per(s))
		}
	}
	b.printf("    CPU per operation by function (inclusive; from perf record -g):\n")
	b.printf("      paracfs: %s\n", strings.Join(ours, ", "))
	b.printf("      Go runtime and go-fuse: %s\n", strings.Join(rt, ", "))
	b.printf("      kernel (by syscall; schedule is context switching): %s\n", strings.Join(kern, ", "))

	// 3. Syscalls, with the time spent in them.
	traceOut := base + ".perf-trace.txt"
	if _, err := b.underPerf(work, "trace", "-s", "-p", strconv.Itoa(pid), "-o", traceOut); err != nil {
		b.printf("  (perf trace: %v)\n", err)
		return
	}
	b.res.Profiles = append(b.res.Profiles, traceOut)
	var sl []string
	for _, s := range parseTrace(traceOut) {
		b.value(name, "syscall "+s.name, sys, "ns/op", s.totalMs*1e6/float64(k), fmt.Sprintf("%.2f calls/op", float64(s.calls)/float64(k)))
		if idle[s.name] || float64(s.calls)/float64(k) < 0.5 || len(sl) >= 14 {
			continue
		}
		sl = append(sl, fmt.Sprintf("%s %.1f× %s", s.name, float64(s.calls)/float64(k), fmtNs(s.totalMs*1e6/float64(k))))
	}
	b.printf("    syscalls per operation (calls, wall time under perf trace; waits for requests and the runtime's sleeps left out):\n      %s\n", strings.Join(sl, ", "))
}

// landmark symbols of the Go runtime and go-fuse worth a line.
var landmark = map[string]bool{
	"github.com/hanwen/go-fuse/v2/fuse.(*Server).handleRequest": true,
	"github.com/hanwen/go-fuse/v2/fuse.(*fuseFD).readRequest":   true,
	"github.com/hanwen/go-fuse/v2/fuse.(*fuseFD).write":         true,
	"runtime.sysmon":                       true,
	"runtime.gcBgMarkWorker":               true,
	"runtime.mallocgc":                     true,
	"runtime.schedule":                     true,
	"runtime.findRunnable":                 true,
	"os.ReadFile":                          true,
	"encoding/json.Marshal":                true,
	"crypto/sha256.Sum256":                 true,
	"gopkg.in/yaml%2ev3.(*Decoder).Decode": true,
}

// idle syscalls: waiting for the next request, parking threads, sleeping.
var idle = map[string]bool{"read": true, "futex": true, "nanosleep": true, "epoll_pwait": true, "sched_yield": true}

// underPerf runs `perf ARGS...` attached to a process while work runs,
// then stops it with SIGINT; it returns work's wall time.
func (b *Bench) underPerf(work func() error, args ...string) (time.Duration, error) {
	cmd := exec.Command("perf", args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	time.Sleep(400 * time.Millisecond) // perf has no readiness signal
	t0 := time.Now()
	werr := work()
	wall := time.Since(t0)
	time.Sleep(50 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	if werr != nil {
		return wall, werr
	}
	if err != nil && !strings.Contains(err.Error(), "interrupt") && cmd.ProcessState.ExitCode() != 0 && cmd.ProcessState.ExitCode() != -1 {
		return wall, fmt.Errorf("perf %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
	}
	return wall, nil
}

func parsePerfStat(file string) (taskMs, switches float64) {
	b, _ := os.ReadFile(file)
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(strings.ReplaceAll(f[0], ",", ""), 64)
		if err != nil {
			continue
		}
		switch {
		case strings.Contains(line, "task-clock"):
			taskMs = v
		case strings.Contains(line, "context-switches"):
			switches = v
		}
	}
	return taskMs, switches
}

type symPct struct {
	sym    string
	kernel bool
	pct    float64
}

var reportLine = regexp.MustCompile(`^\s+([\d.]+)%\s+(?:([\d.]+)%\s+)?\[([k.])\]\s+(.+?)\s*$`)

// parseReport reads `perf report --stdio --sort sym` lines. With
// --children the first percentage is the inclusive one.
func parseReport(out []byte) []symPct {
	var r []symPct
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		m := reportLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		p, _ := strconv.ParseFloat(m[1], 64)
		r = append(r, symPct{sym: m[4], kernel: m[3] == "k", pct: p})
	}
	return r
}

// shortSym drops the module path of a Go symbol.
func shortSym(s string) string {
	s = strings.TrimPrefix(s, "github.com/paracfs/paracfs/")
	s = strings.TrimPrefix(s, "github.com/hanwen/go-fuse/v2/")
	return strings.ReplaceAll(s, "%2e", ".")
}

type sysTime struct {
	name    string
	calls   int
	totalMs float64
}

// parseTrace sums `perf trace -s` over the daemon's threads.
func parseTrace(file string) []sysTime {
	b, _ := os.ReadFile(file)
	m := map[string]*sysTime{}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 8 {
			continue
		}
		calls, err1 := strconv.Atoi(f[1])
		total, err2 := strconv.ParseFloat(f[3], 64)
		if err1 != nil || err2 != nil {
			continue
		}
		s := m[f[0]]
		if s == nil {
			s = &sysTime{name: f[0]}
			m[f[0]] = s
		}
		s.calls += calls
		s.totalMs += total
	}
	var out []sysTime
	for _, s := range m {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].totalMs > out[j].totalMs })
	return out
}

var rxLine = regexp.MustCompile(`rx \d+: ([A-Z_0-9]+) `)

// requestLog follows the debug output of a FUSE server to count the
// requests each operation costs.
type requestLog struct {
	file string
	off  int64
}

// since counts the requests logged since the last call.
func (r *requestLog) since() map[string]int {
	time.Sleep(100 * time.Millisecond) // RELEASE and FORGET arrive asynchronously
	b, _ := os.ReadFile(r.file)
	if int64(len(b)) < r.off {
		r.off = 0
	}
	seg := b[r.off:]
	r.off = int64(len(b))
	out := map[string]int{}
	for _, m := range rxLine.FindAllSubmatch(seg, -1) {
		out[string(m[1])]++
	}
	return out
}

// fmtRequests prints per-operation request counts: "LOOKUP 1, OPEN 1, ...".
func fmtRequests(m map[string]int, k int) string {
	var keys []string
	for op := range m {
		keys = append(keys, op)
	}
	sort.Strings(keys)
	var parts []string
	for _, op := range keys {
		v := float64(m[op]) / float64(k)
		if v < 0.05 {
			continue
		}
		if v == float64(int(v)) {
			parts = append(parts, fmt.Sprintf("%s %d", op, int(v)))
		} else {
			parts = append(parts, fmt.Sprintf("%s %.1f", op, v))
		}
	}
	if len(parts) == 0 {
		return "none (kernel cache)"
	}
	return strings.Join(parts, ", ")
}

// debugMount starts a paracfs daemon in the foreground with --debug, or a
// loopback child with --debug, its request log going to logFile.
func (b *Bench) debugMount(kind, backing, mnt, logFile string) (stop func(), err error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	m, err := b.startMount(func() (*Mount, error) {
		var cmd *exec.Cmd
		switch kind {
		case "paracfs":
			cmd = exec.Command(b.cfg.Paracfs, "mount", "-f", "--debug", backing)
		case "loopback":
			cmd = exec.Command(b.self, "loopback", "--debug", backing, mnt)
		default:
			cmd = exec.Command(b.self, "loopback", "--strict", "--debug", backing, mnt)
		}
		var before syscall.Stat_t
		syscall.Stat(mnt, &before)
		cmd.Stdout, cmd.Stderr = f, f
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		m := &Mount{Kind: kind + " --debug", Backing: backing, Path: mnt, Pid: cmd.Process.Pid, cmd: cmd}
		for i := 0; i < 2000; i++ {
			var st syscall.Stat_t
			if syscall.Stat(mnt, &st) == nil && st.Dev != before.Dev {
				return m, nil
			}
			time.Sleep(time.Millisecond)
		}
		return m, fmt.Errorf("%s --debug on %s did not come up", kind, mnt)
	})
	stop = func() {
		b.unmount(m)
		f.Close()
	}
	if err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// namedOp is one client operation on a tree rooted at its argument.
type namedOp struct {
	name string
	k    int // repetitions counted
	fn   func(root string) error
}

// requestsPerOp counts the FUSE requests each operation sends to each
// kind of server, on a fresh tree made by prepare, k times each. Every
// operation runs once first so that the counts are those of a warm mount.
func (b *Bench) requestsPerOp(cas string, kinds []string, prepare func(dir string) error, ops []namedOp) {
	t := &table{title: "  FUSE requests per operation (from --debug servers, warm)", head: append([]string{"operation"}, kinds...)}
	t.left = map[int]bool{}
	for i := range kinds {
		t.left[i+1] = true
	}
	counts := map[string]map[string]string{}
	for _, kind := range kinds {
		back := b.dir(cas, "debug-"+kind)
		if err := prepare(back); err != nil {
			b.printf("  (request counts: %v)\n", err)
			return
		}
		mnt := back
		if kind != "paracfs" {
			mnt = b.dir(cas, "debug-"+kind+"-mnt")
		}
		logFile := filepath.Join(b.profDir, cas+".requests-"+kind+".log")
		os.MkdirAll(b.profDir, 0o755)
		stop, err := b.debugMount(kind, back, mnt, logFile)
		if err != nil {
			b.printf("  (request counts: %v)\n", err)
			return
		}
		rl := &requestLog{file: logFile}
		counts[kind] = map[string]string{}
		for _, op := range ops {
			if err := op.fn(mnt); err != nil {
				b.printf("  (request counts %s %s: %v)\n", kind, op.name, err)
				continue
			}
			rl.since()
			for i := 0; i < op.k; i++ {
				op.fn(mnt)
			}
			counts[kind][op.name] = fmtRequests(rl.since(), op.k)
		}
		stop()
		os.Remove(logFile) // large; the counts are in the report
	}
	for _, op := range ops {
		row := []string{op.name}
		for _, kind := range kinds {
			row = append(row, counts[kind][op.name])
		}
		t.add(row...)
	}
	b.printTable(t)
}
