package tests

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// The binary under test is built with the race detector unless
// PARACFS_RACE=0. A race-built process that sees a data race keeps running,
// writes the report and exits 66 instead of 0 at the end. GORACE's log_path,
// set for the whole run, sends each process's reports to a file of its own,
// raceDir/report.<pid>, so that a report is never mixed into what a test
// reads from a daemon or a command, and no report is lost whatever the
// process's stderr was. Each report is then claimed by the test that owns
// the process, which fails with it:
//
//   - a command run by runCmd (run, mustRun, paracfs...): at once, by its pid;
//   - a daemon: at its project's teardown, by the pids the harness saw
//     (mount, mountForeground, the daemons still alive) and those the
//     daemons wrote in their daemon.log ("msg=mounted ... pid=N");
//   - a process run with a plain environment (without GORACE, as another
//     user): its report goes to its stderr, which runCmd, the foreground
//     cleanup and the teardown (every daemon.log under the project) search.
//
// A report that no test claimed fails the whole run at its end.

// raceMarker starts every report of the race detector.
const raceMarker = "WARNING: DATA RACE"

// raceDir is where this run's processes write their race reports; empty
// when the binary is built without the race detector.
var raceDir string

// raceClaimed lists the report files a test has claimed.
var raceClaimed = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

// raceEnabled: the binary under test is built with -race.
func raceEnabled() bool { return os.Getenv("PARACFS_RACE") != "0" }

// coverPkgs are the packages a coverage build measures.
var coverPkgs = []string{"github.com/paracfs/paracfs", "github.com/paracfs/paracfs/fs", "github.com/paracfs/paracfs/backing",
	"github.com/paracfs/paracfs/revision", "github.com/paracfs/paracfs/changelog", "github.com/paracfs/paracfs/textdiff"}

// buildFlags are the go build flags of the binary under test: -race unless
// PARACFS_RACE=0, and -cover when PARACFS_COVERDIR names a directory (where
// each process writes its coverage data at its exit: GOCOVERDIR; a process
// killed by a signal writes none). scripts/test's PARACFS_COVER=1 sets it
// and prints the figures with go tool covdata.
func buildFlags() []string {
	var f []string
	if raceEnabled() {
		f = append(f, "-race")
	}
	if os.Getenv("PARACFS_COVERDIR") != "" {
		f = append(f, "-cover", "-coverpkg="+strings.Join(coverPkgs, ","))
	}
	return f
}

// coverEnv is what a process run with a plain environment needs of the
// run's (GOCOVERDIR in a coverage build, else a -cover binary warns on
// its stderr).
func coverEnv() []string {
	if d := os.Getenv("GOCOVERDIR"); d != "" {
		return []string{"GOCOVERDIR=" + d}
	}
	return nil
}

// setupCover gives the processes of the run GOCOVERDIR when the binary is
// built with -cover.
func setupCover() error {
	dir := os.Getenv("PARACFS_COVERDIR")
	if dir == "" {
		return nil
	}
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("PARACFS_COVERDIR=%s: want an absolute path", dir)
	}
	// Processes run as another user write there too, and replace the
	// covmeta file a root process wrote (no sticky bit, which forbids it).
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	os.Chmod(dir, 0o777)
	return os.Setenv("GOCOVERDIR", dir)
}

// setupRaceReports makes the processes of this run write their race
// reports under runDir/race (GORACE is read by each process at its start:
// every process the tests start inherits it).
func setupRaceReports() error {
	if !raceEnabled() {
		return nil
	}
	raceDir = filepath.Join(runDir, "race")
	if err := os.Mkdir(raceDir, 0o755); err != nil {
		return err
	}
	// The last log_path wins over one the caller's GORACE may have.
	return os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" log_path="+filepath.Join(raceDir, "report")))
}

// claimRaces fails t with the race report of each of pids, if any, saying
// what the process was.
func claimRaces(t *testing.T, what string, pids ...int) {
	t.Helper()
	if raceDir == "" {
		return
	}
	for _, pid := range pids {
		name := filepath.Join(raceDir, "report."+strconv.Itoa(pid))
		b, err := os.ReadFile(name)
		if err != nil {
			continue
		}
		raceClaimed.Lock()
		seen := raceClaimed.m[name]
		raceClaimed.m[name] = true
		raceClaimed.Unlock()
		if !seen {
			t.Errorf("DATA RACE in %s (pid %d), reported in %s:\n%s", what, pid, name, b)
		}
	}
}

// checkRaceOutput fails t when what a process printed holds a race report
// (a process that ran without GORACE's log_path).
func checkRaceOutput(t *testing.T, what, out string) {
	t.Helper()
	if i := strings.Index(out, raceMarker); i >= 0 {
		t.Errorf("DATA RACE in %s, in its output:\n%s", what, out[max(0, i-200):])
	}
}

// mountedPidRe finds a daemon's pid in its daemon.log.
var mountedPidRe = regexp.MustCompile(`msg=mounted .*\bpid=(\d+)`)

// checkProjectRaces claims the race reports of the daemons of a project
// whose mounts are gone: pids are those the harness saw; the others are
// read from every daemon.log under the project, which are also searched
// for reports written there.
func checkProjectRaces(t *testing.T, root string, pids []int) {
	t.Helper()
	filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() || !strings.HasPrefix(d.Name(), "daemon.log") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return nil
		}
		for _, m := range mountedPidRe.FindAllStringSubmatch(string(b), -1) {
			if pid, err := strconv.Atoi(m[1]); err == nil {
				pids = append(pids, pid)
			}
		}
		checkRaceOutput(t, "a daemon logging to "+path, string(b))
		return nil
	})
	claimRaces(t, "a daemon of "+root, pids...)
}

// unclaimedRaceReports prints the race reports no test claimed (a process
// the harness could not tie to a test) and reports whether there were any.
func unclaimedRaceReports() bool {
	if raceDir == "" {
		return false
	}
	names, _ := filepath.Glob(filepath.Join(raceDir, "report.*"))
	sort.Strings(names)
	found := false
	for _, name := range names {
		raceClaimed.Lock()
		seen := raceClaimed.m[name]
		raceClaimed.Unlock()
		if seen {
			continue
		}
		b, _ := os.ReadFile(name)
		fmt.Fprintf(os.Stderr, "FAIL: tests: DATA RACE in a paracfs process no test claimed (%s):\n%s\n", name, b)
		found = true
	}
	return found
}
