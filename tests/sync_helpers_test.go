package tests

// Waiting for events, not durations. A test that needs "the commit now
// waits for the lock" or "the grace period has ended" waits for something
// it can see: a descriptor the daemon opened, a log line, a line the
// daemon printed. Each wait gives up only after eventWait, which is there
// to end a deadlocked run, not to measure anything.

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// eventWait is how long a wait for an event lasts before the test calls it
// a deadlock. It is long on purpose: a loaded machine is slow, not stuck.
const eventWait = 60 * time.Second

// eventPoll is how often a wait looks again.
const eventPoll = 10 * time.Millisecond

// unknownPid is passed to checkCommitLine and checkRefusalLine by a test
// that cannot know the writer's pid, and says so. Any other pid at or
// below 0 fails the check: a pid the test failed to learn must not switch
// the check off.
const unknownPid = -1

// parsePid reads a pid a helper printed (`echo $$`), failing the test if
// it is not one.
func parsePid(t *testing.T, s string) int {
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || pid <= 0 {
		t.Fatalf("want a pid, got %q (%v)", s, err)
	}
	return pid
}

// checkPid asserts a log line's process_id; see unknownPid.
func checkPid(t *testing.T, e logEntry, pid int) {
	t.Helper()
	switch {
	case pid == unknownPid:
	case pid <= 0:
		t.Errorf("the test has no writer's pid (%d) to check the log line against: it failed to learn it\n%s", pid, e)
	case e.ProcessID != pid:
		t.Errorf("log line process_id = %d, want the writer's pid %d\n%s", e.ProcessID, pid, e)
	}
}

// waitUntil polls cond until it holds, failing the test after eventWait.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting, after %s, for %s", eventWait, what)
		}
		time.Sleep(eventPoll)
	}
}

// waitLogLine waits until a log line after the first n matches pred, and
// returns it.
func waitLogLine(t *testing.T, p *project, n int, what string, pred func(logEntry) bool) logEntry {
	t.Helper()
	var found logEntry
	waitUntil(t, "a log line: "+what, func() bool {
		for _, e := range logSince(t, p.Dir, n) {
			if pred(e) {
				found = e
				return true
			}
		}
		return false
	})
	return found
}

// daemonFds counts the daemon's descriptors on the backing file rel.
func daemonFds(t *testing.T, p *project, rel string) int {
	t.Helper()
	pid := p.daemonPid(t)
	if pid <= 0 {
		t.Fatalf("no daemon pid to watch")
	}
	return fdsTo(pid, p.path(rel))
}

// fdsTo counts the descriptors process pid has open on path.
func fdsTo(pid int, path string) int {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, _ := os.ReadDir(dir)
	n := 0
	for _, e := range ents {
		if l, err := os.Readlink(dir + "/" + e.Name()); err == nil && l == path {
			n++
		}
	}
	return n
}

// waitDaemonOpens waits until the daemon has more than before descriptors
// open on the backing file rel: a commit waiting for P.lock holds one on
// P.lock while it waits (backing.Dir.lock).
func waitDaemonOpens(t *testing.T, p *project, rel string, before int) {
	t.Helper()
	pid := p.daemonPid(t)
	if pid <= 0 {
		t.Fatalf("no daemon pid to watch")
	}
	path := p.path(rel) // the name /proc shows for the daemon's backing descriptor
	waitUntil(t, fmt.Sprintf("the daemon (pid %d) to open %s (it had %d descriptors on it)", pid, path, before), func() bool {
		return fdsTo(pid, path) > before
	})
}

// waitOutput waits until a syncBuffer holds want.
func waitOutput(t *testing.T, b *syncBuffer, want string) {
	t.Helper()
	waitUntil(t, fmt.Sprintf("%q in the output", want), func() bool { return strings.Contains(b.String(), want) })
}

// markerLine is a change-log entry in paracle's shape that a test appends
// to learn where a reader of the log has got to.
func markerLine(tag string) string {
	ts := time.Now().UTC().Format("2006-01-02T15:04:05.000000+00:00")
	return fmt.Sprintf(`{"timestamp":%q,"process_id":%d,"change_type":"note","description":"marker %s"}`, ts, os.Getpid(), tag)
}

// appendLog appends a line to the change log (through the mount when the
// project is mounted, as paracle does).
func appendLog(t *testing.T, p *project, line string) {
	t.Helper()
	f, err := os.OpenFile(p.path(logRel), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line + "\n"); err != nil {
		t.Fatalf("appending to the change log: %v", err)
	}
}

// mark appends a marker entry and waits until the follower printed it.
// The follower prints in log order, so once it printed the marker it has
// looked at the log after everything appended before: whatever it would
// print twice or wrongly, it has printed by then.
func (f *logFollower) mark(t *testing.T, p *project, tag string) {
	t.Helper()
	appendLog(t, p, markerLine(tag))
	f.waitFor(t, "marker "+tag)
}

// ready waits until a follower started with -n 0 is at the end of the log:
// it appends markers until one is printed (those appended before the
// follower opened the log are, rightly, not).
func (f *logFollower) ready(t *testing.T, p *project) {
	t.Helper()
	for i := 0; ; i++ {
		appendLog(t, p, markerLine(fmt.Sprintf("ready %d", i)))
		for j := 0; j < 20; j++ {
			if f.count(`"marker ready `) > 0 {
				return
			}
			time.Sleep(eventPoll)
		}
		if i*20*int(eventPoll) > int(eventWait) {
			t.Fatalf("paracfs log -f printed none of %d markers", i+1)
		}
	}
}

// testsStart is when this test binary started, to the second (log
// timestamps carry microseconds, history times may carry seconds): every
// log line a test checks was written after it.
var testsStart = time.Now().Truncate(time.Second)

// mountDaemonPid is the pid of the daemon serving p.Dir on mp, a mount
// elsewhere (DIR itself is not mounted over, so its daemon.json is read
// directly).
func mountDaemonPid(t *testing.T, p *project, mp string) int {
	t.Helper()
	var d struct {
		Pid int `json:"pid"`
	}
	b, err := os.ReadFile(p.meta("daemon.json")) // DIR is mounted elsewhere: its data is beside it
	if err != nil || json.Unmarshal(b, &d) != nil || d.Pid <= 0 {
		t.Fatalf("no daemon pid for the mount on %s: %q %v", mp, b, err)
	}
	return d.Pid
}
