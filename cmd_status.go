package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/paracfs/paracfs/backing"
	"github.com/paracfs/paracfs/changelog"
	pfs "github.com/paracfs/paracfs/fs"
	"github.com/spf13/pflag"
)

type statusRow struct {
	Dir        string         `json:"dir"`
	Mountpoint string         `json:"mountpoint"`
	Pid        int            `json:"pid,omitempty"`
	Started    string         `json:"started,omitempty"`
	Uptime     string         `json:"uptime,omitempty"`
	Stale      bool           `json:"stale,omitempty"`
	Config     map[string]any `json:"config,omitempty"`
	// Counters and LastRefusals come from the daemon (control op
	// "status"); CountersError says why they are missing.
	// (Counters.Last is moved to LastRefusals.)
	Counters      *backing.Stats        `json:"counters,omitempty"`
	LastRefusals  []backing.RefusalNote `json:"last_refusals,omitempty"`
	CountersError string                `json:"counters_error,omitempty"`
}

// lastShown is how many of the last refusals status prints per mount.
const lastShown = 5

func statusFlagSet(o *statusOpts) *pflag.FlagSet {
	flags := flagSet("status", "[--json] [--color WHEN] [--wait D] [MOUNTPOINT...]",
		"Lists the active paracfs mounts (or those of the MOUNTPOINTs given: a mountpoint or the\n"+
			"DIR it serves): backing directory, mountpoint, daemon pid, uptime and configuration,\n"+
			"and, since the daemon started, its counters (commits, conflicts, invalid writes, lock\n"+
			"timeouts) and its last refusals with their reasons: a refused write is seen here even\n"+
			"when the tool that made it ignored the error of close().")
	flags.BoolVar(&o.asJSON, "json", false, "print JSON (every mount, with its last 20 refusals)")
	flags.DurationVar(&o.wait, "wait", statusWait, "how long to wait for the mounts' answers: one that has not answered by then is shown as not answering")
	flags.StringVar(&o.color, "color", "auto", "colour the output: auto (on a terminal, unless NO_COLOR is set), always, never")
	flags.SetAnnotation("color", annotValues, []string{"auto", "always", "never"})
	return flags
}

type statusOpts struct {
	asJSON bool
	color  string
	wait   time.Duration
}

func runStatus(args []string) error {
	if spec := os.Getenv(statusProbeEnv); spec != "" {
		return runProbe(spec)
	}
	var o statusOpts
	flags := statusFlagSet(&o)
	if err := parse(flags, args, len(args)); err != nil {
		return err
	}
	if o.wait <= 0 {
		return usageError{fmt.Sprintf("--wait %s: want a positive duration, such as 3s or 1m", o.wait)}
	}
	color, err := useColor(o.color)
	if err != nil {
		return err
	}
	ms, err := paracfsMounts()
	if err != nil {
		return err
	}
	if ms, err = selectMounts(ms, flags.Args()); err != nil {
		return err
	}
	rows := statusAll(ms, o.wait)
	if o.asJSON {
		return printJSON(map[string]any{"mounts": rows})
	}
	if len(rows) == 0 {
		fmt.Println("no paracfs mounts")
		return nil
	}
	for i, r := range rows {
		if i > 0 {
			fmt.Println()
		}
		printStatus(r, color)
	}
	return nil
}

// selectMounts keeps the mounts that the operands name (a mountpoint, or
// the DIR it serves, through any symlink), in the order of ms; no operand
// keeps them all. An operand that names no paracfs mount is an error.
func selectMounts(ms []mountEntry, operands []string) ([]mountEntry, error) {
	if len(operands) == 0 {
		return ms, nil
	}
	want := map[int]bool{}
	for _, op := range operands {
		p, err := absDir(op)
		if err != nil {
			p = op
		}
		found := false
		for i, m := range ms {
			if m.Mountpoint == p || m.Dir == p || m.Mountpoint == op || m.Dir == op {
				want[i], found = true, true
			}
		}
		if !found {
			return nil, fmt.Errorf("%s: %w", op, errNotMounted)
		}
	}
	var out []mountEntry
	for i, m := range ms {
		if want[i] {
			out = append(out, m)
		}
	}
	return out, nil
}

// statusWait is how long status waits for a mount to answer: a hung
// mount (its daemon stopped in a debugger, or blocked) must not hang the
// report on the others.
const statusWait = 3 * time.Second

// statusAll asks every mount at once, each for at most wait. Each mount is
// asked by a child process (this binary, with statusProbeEnv set): a call
// into a hung mount can leave its caller unkillable (a request the daemon
// read but never answered, a close's flush), and only that child is then
// left behind, never status itself.
func statusAll(ms []mountEntry, wait time.Duration) []statusRow {
	rows := make([]statusRow, len(ms))
	done := make([]chan statusRow, len(ms))
	for i, m := range ms {
		done[i] = make(chan statusRow, 1)
		go func() { done[i] <- probeMount(m) }()
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	expired := false
	for i, m := range ms {
		if !expired {
			select {
			case rows[i] = <-done[i]:
				continue
			case <-timer.C:
				expired = true
			}
		}
		select {
		case rows[i] = <-done[i]:
		default:
			rows[i] = statusRow{Dir: m.Dir, Mountpoint: m.Mountpoint,
				CountersError: fmt.Sprintf("not answering after %s: the daemon is hung or stopped", wait)}
		}
	}
	for _, p := range probes.take() {
		p.Kill() // those still asking a hung mount
	}
	return rows
}

// statusProbeEnv makes `paracfs status` ask one mount, named by the
// variable's value (a mountEntry in JSON), and print its row as JSON.
const statusProbeEnv = "PARACFS_STATUS_PROBE"

// probeMount asks one mount in a child process.
func probeMount(m mountEntry) statusRow {
	failed := func(err error) statusRow {
		return statusRow{Dir: m.Dir, Mountpoint: m.Mountpoint, CountersError: err.Error()}
	}
	// /proc/self/exe, not os.Executable(): it runs even when the binary
	// was replaced or removed since this process started (an upgrade).
	cmd := exec.Command("/proc/self/exe", "status")
	spec, _ := json.Marshal(m)
	cmd.Env = append(os.Environ(), statusProbeEnv+"="+string(spec))
	cmd.Dir = "/"
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Start(); err != nil {
		return failed(err)
	}
	probes.add(cmd.Process)
	err := cmd.Wait()
	probes.remove(cmd.Process)
	var row statusRow
	if err != nil || json.Unmarshal(out.Bytes(), &row) != nil {
		return failed(fmt.Errorf("asking the mount failed: %v", err))
	}
	return row
}

// runProbe is the child's side of probeMount.
func runProbe(spec string) error {
	var m mountEntry
	if err := json.Unmarshal([]byte(spec), &m); err != nil {
		return fmt.Errorf("%s=%q: %v", statusProbeEnv, spec, err)
	}
	return json.NewEncoder(os.Stdout).Encode(statusOf(m))
}

// probes are the child processes still asking a mount.
var probes processSet

type processSet struct {
	mu sync.Mutex
	m  map[*os.Process]bool
}

func (s *processSet) add(p *os.Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[*os.Process]bool{}
	}
	s.m[p] = true
}

func (s *processSet) remove(p *os.Process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, p)
}

func (s *processSet) take() []*os.Process {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*os.Process
	for p := range s.m {
		out = append(out, p)
	}
	s.m = nil
	return out
}

// statusOf asks about one mount: its state file, then its daemon.
func statusOf(m mountEntry) statusRow {
	row := statusRow{Dir: m.Dir, Mountpoint: m.Mountpoint}
	if isStale(m.Mountpoint) {
		row.Stale = true
		return row
	}
	st, err := readState(m.Mountpoint)
	if errors.Is(err, syscall.ENOTCONN) {
		row.Stale = true // the root's attributes were still cached
		return row
	}
	if err == nil {
		row.Pid, row.Config, row.Started = st.Pid, st.Config, st.Started
		if t, err := time.Parse(time.RFC3339, st.Started); err == nil {
			row.Uptime = time.Since(t).Round(time.Second).String()
		}
		if syscall.Kill(st.Pid, 0) == syscall.ESRCH {
			row.Stale = true
			return row
		}
	}
	res, err := controlCall(m.Mountpoint, pfs.StatusRequest{})
	if err != nil {
		switch {
		case errors.Is(err, syscall.ENOTCONN):
			row.Stale = true
			return row
		case errors.Is(err, fs.ErrNotExist): // no control file: older than any protocol
			row.CountersError = "this daemon is older than the command: remount for counters"
		case errors.Is(err, fs.ErrPermission):
			row.CountersError = "not allowed to enter this mount"
		default:
			row.CountersError = err.Error()
		}
		return row
	}
	row.LastRefusals = res.Last
	res.Last = nil // shown beside the counters, not in them
	row.Counters = &res.Stats
	if row.Pid == 0 {
		row.Pid = res.Pid
	}
	if row.Config == nil {
		row.Config = res.Config
	}
	for k, v := range res.Config { // the daemon's own view wins
		row.Config[k] = v
	}
	return row
}

func printStatus(r statusRow, color bool) {
	name := r.Mountpoint
	if r.Dir != r.Mountpoint {
		name = r.Dir + " on " + r.Mountpoint
	} else {
		name += " (in place)"
	}
	fmt.Println(paint(color, sgrBold, changelog.Sanitize(name)))
	if r.Stale {
		fmt.Println("  " + paint(color, sgrRed, "stale: daemon gone (run paracfs mount to clean up)"))
		return
	}
	line := func(k, v string) { fmt.Printf("  %-10s %s\n", k, v) }
	if r.Pid > 0 {
		line("pid", fmt.Sprint(r.Pid))
	}
	if r.Uptime != "" {
		line("uptime", r.Uptime)
	}
	if len(r.Config) > 0 {
		keys := make([]string, 0, len(r.Config))
		for k := range r.Config {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			v := r.Config[k]
			if l, ok := v.([]any); ok {
				var s []string
				for _, x := range l {
					s = append(s, fmt.Sprint(x))
				}
				v = strings.Join(s, " ")
			}
			if f, ok := v.(float64); ok && f == float64(int64(f)) {
				v = int64(f) // JSON numbers decode as float64
			}
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		}
		line("config", changelog.Sanitize(strings.Join(parts, "  ")))
	}
	if r.Counters == nil {
		line("counters", "unavailable: "+changelog.Sanitize(r.CountersError))
		return
	}
	c := r.Counters
	refusals := fmt.Sprintf("conflicts %d  invalid %d  lock timeouts %d", c.Conflicts, c.Invalid, c.LockTimeouts)
	if other := c.Refused - c.Conflicts - c.Invalid - c.LockTimeouts; other > 0 {
		refusals += fmt.Sprintf("  other refusals %d", other)
	}
	if c.Refused > 0 {
		refusals = paint(color, sgrRed, refusals)
	}
	line("counters", fmt.Sprintf("commits %d  %s", c.Commits, refusals))
	if len(r.LastRefusals) == 0 {
		return
	}
	last := r.LastRefusals[max(len(r.LastRefusals)-lastShown, 0):]
	line("refused", fmt.Sprintf("the last %d (newest last; paracfs rejected lists the kept bytes):", len(last)))
	var t table
	for _, n := range last {
		when := n.Time
		if tm, err := time.Parse(time.RFC3339Nano, n.Time); err == nil {
			when = changelog.LocalTime(tm)
		}
		who := fmt.Sprintf("%s[%d]", n.Command, n.Pid)
		why := n.Reason
		if n.Errno != "" {
			why += " (" + n.Errno + ")"
		}
		id := ""
		if n.Kept != "" {
			id = "id " + rejectedID(n.Kept)
		}
		t.add([]string{"   ", when, n.Op, changelog.Sanitize(n.Path), changelog.Sanitize(who), id, changelog.Sanitize(why)},
			[]string{"", sgrDim, opColor(n.Op), "", sgrDim, sgrYellow, ""})
	}
	t.write(os.Stdout, color, nil)
}
