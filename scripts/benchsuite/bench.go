package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Results is everything one run measured; it is written as JSON.
type Results struct {
	Meta     Meta      `json:"meta"`
	Series   []*Series `json:"series"`
	Values   []*Value  `json:"values"`
	Targets  []*Target `json:"targets"`
	Profiles []string  `json:"profiles,omitempty"` // files written under the profile directory
	Failures []string  `json:"failures,omitempty"`
}

// Meta describes the run.
type Meta struct {
	Time        string             `json:"time"`
	Quick       bool               `json:"quick"`
	Host        string             `json:"host"`
	Kernel      string             `json:"kernel"`
	CPUs        int                `json:"cpus"`
	Load        string             `json:"loadavg"`
	Disk        string             `json:"disk"`
	Go          string             `json:"go"`
	Paracfs     string             `json:"paracfs"`
	Python      string             `json:"python"`
	Workdir     string             `json:"workdir"`
	Root        bool               `json:"root"`
	Command     string             `json:"command"`
	CaseSeconds map[string]float64 `json:"case_seconds"`
	DaemonEnv   []string           `json:"daemon_env,omitempty"`
}

func (m Meta) summary() string {
	s := fmt.Sprintf("kernel %s, %d CPUs, load %s, disk %s\n%s\n%s\nwork dir %s", m.Kernel, m.CPUs, m.Load, m.Disk, m.Paracfs, m.Python, m.Workdir)
	if len(m.DaemonEnv) > 0 {
		s += "\ndaemon environment (experiment): " + strings.Join(m.DaemonEnv, " ")
	}
	return s
}

// Bench is one run of the suite.
type Bench struct {
	cfg     Config
	self    string // this binary, for the loopback and worker subcommands
	run     string // this run's directory under the work dir
	profDir string
	res     *Results
	out     io.Writer
	text    *bytes.Buffer // the printed report, saved beside the JSON
	coldOK  bool          // caches can be dropped (root)
	pyFile  string        // the paracle-style script

	mu      sync.Mutex
	mounts  []*Mount
	closing bool // cleanup has started: no new mounts stay up
}

func newBench(c Config, stamp string) (*Bench, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	if c.Paracfs, err = filepath.Abs(c.Paracfs); err != nil {
		return nil, err
	}
	run := filepath.Join(c.Workdir, fmt.Sprintf("run-%s-%d", stamp, os.Getpid()))
	if err := os.MkdirAll(run, 0o755); err != nil {
		return nil, err
	}
	b := &Bench{cfg: c, self: self, run: run, res: &Results{}, text: &bytes.Buffer{}}
	b.out = io.MultiWriter(os.Stdout, b.text)
	b.profDir = strings.TrimSuffix(c.Out, ".json") + "-profiles"
	b.pyFile = filepath.Join(run, "paracle_style.py")
	if err := os.WriteFile(b.pyFile, paracleStyle, 0o644); err != nil {
		return nil, err
	}
	b.coldOK = b.dropCaches()
	var uts unix.Utsname
	unix.Uname(&uts)
	load, _ := os.ReadFile("/proc/loadavg")
	ver, _ := exec.Command(c.Paracfs, "version").Output()
	py, err := exec.Command(c.Python, "-c", "import sys, yaml, filelock; print('python %s, PyYAML %s (libyaml %s), filelock %s' % (sys.version.split()[0], yaml.__version__, yaml.__with_libyaml__, filelock.__version__))").Output()
	if err != nil {
		return nil, fmt.Errorf("%s: cannot import yaml and filelock (paracle-style needs python3-yaml and python3-filelock): %v", c.Python, err)
	}
	host, _ := os.Hostname()
	b.res.Meta = Meta{
		Time:        time.Now().Format(time.RFC3339),
		Quick:       c.Quick,
		Host:        host,
		Kernel:      unix.ByteSliceToString(uts.Release[:]),
		CPUs:        runtime.NumCPU(),
		Load:        strings.Join(strings.Fields(string(load))[:3], " "),
		Disk:        diskOf(run),
		Go:          runtime.Version(),
		Paracfs:     strings.Join(strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(ver)), "\n", ",")), " "),
		Python:      strings.TrimSpace(string(py)),
		Workdir:     run,
		Root:        os.Geteuid() == 0,
		Command:     strings.Join(os.Args, " "),
		CaseSeconds: map[string]float64{},
		DaemonEnv:   c.Env,
	}
	return b, nil
}

// diskOf names the filesystem and device holding dir.
func diskOf(dir string) string {
	out, err := exec.Command("df", "--output=source,fstype", dir).Output()
	if err != nil {
		return "?"
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	return strings.Join(strings.Fields(lines[len(lines)-1]), " ")
}

func (b *Bench) printf(format string, args ...any) { fmt.Fprintf(b.out, format, args...) }

// fail records something that must fail the run: a crash or a lost update.
func (b *Bench) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	b.res.Failures = append(b.res.Failures, msg)
	b.printf("!! %s\n", msg)
}

// n picks the iteration count for the mode.
func (b *Bench) n(full, quick int) int {
	if b.cfg.Quick {
		return quick
	}
	return full
}

// series records samples and returns the summarized series.
func (b *Bench) series(cas, metric, system, unit string, raw []float64) *Series {
	s := &Series{Case: cas, Metric: metric, System: system, Unit: unit, Raw: raw}
	s.summarize()
	b.res.Series = append(b.res.Series, s)
	return s
}

func (b *Bench) value(cas, metric, system, unit string, v float64, note string) *Value {
	x := &Value{Case: cas, Metric: metric, System: system, Unit: unit, Value: v, Note: note}
	b.res.Values = append(b.res.Values, x)
	return x
}

// dropCaches empties the page, dentry and inode caches (root only). It
// reports whether it could.
func (b *Bench) dropCaches() bool {
	unix.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200) == nil
}

func (b *Bench) writeResults() error {
	if err := os.MkdirAll(filepath.Dir(b.cfg.Out), 0o755); err != nil {
		return err
	}
	j, err := json.MarshalIndent(b.res, "", " ")
	if err != nil {
		return err
	}
	if err := os.WriteFile(b.cfg.Out, append(j, '\n'), 0o644); err != nil {
		return err
	}
	txt := strings.TrimSuffix(b.cfg.Out, ".json") + ".txt"
	b.printf("\nraw numbers: %s\ntable:       %s\n", b.cfg.Out, txt)
	if len(b.res.Profiles) > 0 {
		b.printf("profiles:    %s/\n", b.profDir)
	}
	return os.WriteFile(txt, b.text.Bytes(), 0o644)
}

// cleanup undoes every mount still up and removes the run's trees. It may
// run twice at once (an interrupt during the run, then the run's own
// deferred call): the second waits for the first. Once it has started,
// no new mount is made (see startMount).
func (b *Bench) cleanup() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closing = true
	for i := len(b.mounts) - 1; i >= 0; i-- {
		if err := b.unmount(b.mounts[i]); err != nil {
			fmt.Fprintf(os.Stderr, "benchsuite: unmount %s: %v\n", b.mounts[i].Path, err)
		}
	}
	if b.cfg.Keep || b.run == "" {
		return
	}
	for _, m := range b.mounts {
		if isMounted(m.Path) {
			return // never remove a tree under a mount that is still up
		}
	}
	// After an interrupt the run may still be writing there: try again.
	for i := 0; i < 5 && os.RemoveAll(b.run) != nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
}

// dir returns a fresh directory of this run.
func (b *Bench) dir(parts ...string) string {
	p := filepath.Join(append([]string{b.run}, parts...)...)
	if err := os.MkdirAll(p, 0o755); err != nil {
		panic(err)
	}
	return p
}
