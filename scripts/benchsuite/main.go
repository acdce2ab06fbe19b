// Command benchsuite measures paracfs side by side with the floors and the
// peers it is judged against (issue 5, docs/performance.md): a plain
// directory (native), the same locked temp+fsync+rename done natively in Go
// (floor), a plain go-fuse loopback mount (the FUSE floor), the real
// paracfs binary, and paracle's Python approach. It prints a table of
// medians, p99s and ratios, PASS/MISS per target, and writes every raw
// sample to a JSON file. A miss is a measurement, not a failure: the exit
// status is non-zero only when something crashed or an update was lost.
//
// It is run by scripts/bench, which builds it and paracfs from the repo.
// Subcommands used by the suite itself: loopback (a plain go-fuse loopback
// mount, served until SIGTERM) and worker (one writer of the contended case).
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "loopback":
			os.Exit(runLoopback(os.Args[2:]))
		case "worker":
			os.Exit(runWorker(os.Args[2:]))
		}
	}
	os.Exit(run())
}

// Config is what the command line asks for.
type Config struct {
	Quick   bool
	Paracfs string
	Python  string
	Workdir string
	Out     string
	Profile bool
	Keep    bool
	Cases   map[string]bool
	Env     []string // extra environment of the paracfs daemons (experiments: GOMAXPROCS, GOGC)
}

var allCases = []string{"commit", "paracle", "contend", "parallel", "read", "scale", "log"}

// extraCases run only when --cases names them: etcd starts its own etcd
// cluster (etcd.go).
var extraCases = []string{"etcd"}

func run() int {
	var c Config
	var cases, profile string
	flag.BoolVar(&c.Quick, "quick", false, "a few iterations of each case, small trees and log (CI)")
	flag.StringVar(&c.Paracfs, "paracfs", "", "the paracfs binary to measure (built from the repo by scripts/bench)")
	flag.StringVar(&c.Python, "python", "/usr/bin/python3", "python3 with filelock and PyYAML, for paracle-style")
	flag.StringVar(&c.Workdir, "workdir", "/var/tmp/paracfs-bench", "where the trees and mounts go (one disk for all systems)")
	flag.StringVar(&c.Out, "out", "", "raw results (JSON); default WORKDIR/results-TIME.json (the table goes beside it as .txt)")
	flag.StringVar(&profile, "profile", "auto", "profile the daemon with perf during the commit and read cases: on, off, auto (on in full runs when perf exists)")
	flag.BoolVar(&c.Keep, "keep", false, "keep the run's trees (mounts are always undone)")
	var env string
	flag.StringVar(&env, "daemon-env", "", "extra environment for the paracfs daemons, comma-separated KEY=VALUE (an experiment: GOMAXPROCS=1,GOGC=400)")
	flag.StringVar(&cases, "cases", strings.Join(allCases, ","), "cases to run, comma-separated: "+strings.Join(allCases, ",")+"; also "+strings.Join(extraCases, ",")+" (not by default)")
	flag.Parse()
	if c.Paracfs == "" {
		fmt.Fprintln(os.Stderr, "benchsuite: --paracfs is required (run scripts/bench)")
		return 2
	}
	for _, kv := range strings.Split(env, ",") {
		if kv = strings.TrimSpace(kv); kv != "" {
			c.Env = append(c.Env, kv)
		}
	}
	c.Cases = map[string]bool{}
	for _, k := range strings.Split(cases, ",") {
		k = strings.TrimSpace(k)
		if k == "" {
			continue
		}
		ok := false
		for _, a := range append(allCases, extraCases...) {
			ok = ok || a == k
		}
		if !ok {
			fmt.Fprintf(os.Stderr, "benchsuite: unknown case %q (want %s)\n", k, strings.Join(append(allCases, extraCases...), ","))
			return 2
		}
		c.Cases[k] = true
	}
	_, perfErr := exec.LookPath("perf")
	switch profile {
	case "on":
		c.Profile = true
	case "off":
	case "auto":
		c.Profile = !c.Quick && perfErr == nil && os.Geteuid() == 0
	default:
		fmt.Fprintf(os.Stderr, "benchsuite: --profile %q: want on, off or auto\n", profile)
		return 2
	}
	stamp := time.Now().Format("20060102-150405")
	if c.Out == "" {
		c.Out = filepath.Join(c.Workdir, "results-"+stamp+".json")
	}

	b, err := newBench(c, stamp)
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchsuite: %v\n", err)
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "\nbenchsuite: %v: unmounting and exiting\n", s)
		b.cleanup()
		os.Exit(130)
	}()
	defer b.cleanup()

	b.printf("paracfs benchmark suite (%s mode) — %s\n", map[bool]string{true: "quick", false: "full"}[c.Quick], time.Now().Format(time.RFC3339))
	b.printf("%s\n\n", b.res.Meta.summary())
	steps := []struct {
		name string
		fn   func() error
	}{
		{"commit", b.caseCommit},
		{"paracle", b.caseParacle},
		{"contend", b.caseContend},
		{"parallel", b.caseParallel},
		{"read", b.caseRead},
		{"scale", b.caseScale},
		{"log", b.caseLog},
		{"etcd", b.caseEtcd},
	}
	for _, s := range steps {
		if !c.Cases[s.name] {
			continue
		}
		t0 := time.Now()
		if err := s.fn(); err != nil {
			b.fail("case %s: %v", s.name, err)
		}
		b.res.Meta.CaseSeconds[s.name] = time.Since(t0).Seconds()
		runtime.GC()
	}
	b.printTargets()
	if err := b.writeResults(); err != nil {
		b.fail("writing results: %v", err)
	}
	if len(b.res.Failures) > 0 {
		b.printf("\nFAILED (something crashed or an update was lost):\n")
		for _, f := range b.res.Failures {
			b.printf("  %s\n", f)
		}
		return 1
	}
	return 0
}
