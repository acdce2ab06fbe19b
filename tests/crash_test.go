package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"hash/crc32"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashWriter commits to the crash test's files in a loop until the stop
// file exists. Each write reads a file through the mount, then writes a new
// version carrying the revision it read and a unique sequence number, by
// one of three triggers: close(), fsync(), or os.replace() of a scratch
// temp file onto it. Before each write it records "T file seq base mode" in
// its record file (outside the mount), and after it "A seq" when the
// trigger returned 0 (acknowledged) or "F seq errno" when it failed. The
// records are written with one write(2) each, so they are complete once the
// writer is stopped.
const crashWriter = `import errno, os, random, re, sys, time, zlib
wid, rec, stop, seed = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
files = sys.argv[5:]
rnd = random.Random(seed)
recfd = os.open(rec, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
def note(s):
    os.write(recfd, (s + "\n").encode())
def content(fi, seq, r):
    n = zlib.crc32(seq.encode()) % 6000
    return ("# crash test file %d\nrevision: %d\nseq: %s\nfile: %d\npad: %s\n" % (fi, r, seq, fi, "x" * n)).encode()
i = 0
while not os.path.exists(stop):
    fi = rnd.randrange(len(files))
    path = files[fi]
    try:
        with open(path, "rb") as f:
            text = f.read()
    except OSError as e:
        time.sleep(0.01)
        continue
    m = re.search(rb"^revision: (\d+)$", text, re.M)
    if not m or not text.endswith(b"\n"):
        note("B %d %r" % (fi, text[:120]))
        continue
    r = int(m.group(1))
    i += 1
    seq = "w%d-%d" % (wid, i)
    mode = rnd.choice(["close", "close", "fsync", "rename"])
    data = content(fi, seq, r)
    note("T %d %s %d %s" % (fi, seq, r, mode))
    stage = "open"
    try:
        if mode == "rename":
            tmp = path + ".w%d.tmp" % wid
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, data)
            os.close(fd)
            stage = "rename"
            os.replace(tmp, path)
            note("A %s" % seq)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_TRUNC)
            stage = "write"
            os.write(fd, data)
            if mode == "fsync":
                stage = "fsync"
                os.fsync(fd)
                note("A %s" % seq)
                try:
                    os.close(fd)
                except OSError as e:
                    note("C %s %d" % (seq, e.errno))
            else:
                stage = "close"
                os.close(fd)
                note("A %s" % seq)
    except OSError as e:
        note("F %s %d %s" % (seq, e.errno, stage))
        if e.errno != errno.EBUSY:
            time.sleep(0.01)
`

// crashContent is crashWriter's content(): the version of file fi written
// with sequence number seq, as committed at revision rev.
func crashContent(fi int, seq string, rev int64) []byte {
	n := int(crc32.ChecksumIEEE([]byte(seq)) % 6000)
	return []byte(fmt.Sprintf("# crash test file %d\nrevision: %d\nseq: %s\nfile: %d\npad: %s\n", fi, rev, seq, fi, strings.Repeat("x", n)))
}

// crashTry is one write a crash writer attempted.
type crashTry struct {
	file   int
	base   int64
	mode   string
	acked  bool
	errno  int    // when it failed
	stage  string // where it failed
	closed int    // fsync mode: errno of the close after an acknowledged fsync
}

// crashRecords are the records of all writers.
type crashRecords struct {
	tries    map[string]*crashTry
	acked    int
	badReads []string
}

// readCrashRecords parses the writers' record files.
func readCrashRecords(t *testing.T, files []string) *crashRecords {
	t.Helper()
	r := &crashRecords{tries: map[string]*crashTry{}}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		// A writer may be in the middle of a line: read whole lines only.
		b = b[:bytes.LastIndexByte(b, '\n')+1]
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(make([]byte, 1<<16), 1<<20)
		for sc.Scan() {
			fl := strings.Fields(sc.Text())
			if len(fl) == 0 {
				continue
			}
			switch fl[0] {
			case "T":
				fi, _ := strconv.Atoi(fl[1])
				base, _ := strconv.ParseInt(fl[3], 10, 64)
				r.tries[fl[2]] = &crashTry{file: fi, base: base, mode: fl[4]}
			case "A":
				if tr := r.tries[fl[1]]; tr != nil {
					tr.acked = true
					r.acked++
				} else {
					t.Fatalf("%s: acknowledgement of %s without its attempt", f, fl[1])
				}
			case "F":
				if tr := r.tries[fl[1]]; tr != nil {
					tr.errno, _ = strconv.Atoi(fl[2])
					tr.stage = fl[3]
				}
			case "C":
				if tr := r.tries[fl[1]]; tr != nil {
					tr.closed, _ = strconv.Atoi(fl[2])
				}
			case "B":
				r.badReads = append(r.badReads, sc.Text())
			}
		}
	}
	return r
}

// connErrno tells the errnos a call gets when the daemon dies under it.
func connErrno(e int) bool {
	return e == int(syscall.ENOTCONN) || e == int(syscall.ECONNABORTED) || e == int(syscall.ENODEV) || e == int(syscall.EIO)
}

var crashSeqRe = regexp.MustCompile(`(?m)^seq: (\S+)$`)
var crashRevRe = regexp.MustCompile(`(?m)^revision: (\d+)$`)

// crashCheck is what one check after a remount found.
type crashCheck struct {
	inflightLanded int // files holding a version whose trigger failed because the daemon died
	unloggedLanded int // of those, versions that had no commit line (logged by the start-up)
}

// checkCrashState checks the files and the log against the writers'
// records: every file is its last acknowledged version or one in flight,
// valid, with xattr and field in agreement; every acknowledged commit has
// exactly one commit line; no commit line for a refused write; no temp file.
func checkCrashState(t *testing.T, p *project, rels []string, recs *crashRecords, when string) crashCheck {
	t.Helper()
	var cc crashCheck
	// The last acknowledged revision of each file.
	maxAcked := make([]int64, len(rels))
	lastAcked := make([]string, len(rels))
	for i := range rels {
		lastAcked[i] = "init"
	}
	for seq, tr := range recs.tries {
		if tr.acked && tr.base+1 > maxAcked[tr.file] {
			maxAcked[tr.file], lastAcked[tr.file] = tr.base+1, seq
		}
	}
	ours := map[string]bool{}
	for _, rel := range rels {
		ours[rel] = true
	}
	logged := map[string][]logEntry{}
	// recovered: the "recover" lines the start-up wrote for versions that
	// landed without their commit line, by file and revision.
	recovered := map[string]map[int64]int{}
	committedRev := map[string]map[int64]bool{}
	for _, e := range logLines(t, p.Dir) { // every line complete JSON: no torn line
		if !ours[e.Path] {
			if e.Op != "" && e.Op != "recover" {
				t.Errorf("%s: unexpected log line: %s", when, e)
			}
			continue
		}
		if e.Op == "recover" && e.Revision != nil {
			if recovered[e.Path] == nil {
				recovered[e.Path] = map[int64]int{}
			}
			recovered[e.Path][*e.Revision]++
			continue
		}
		if isCommitOp(e.Op) && e.Revision != nil {
			if committedRev[e.Path] == nil {
				committedRev[e.Path] = map[int64]bool{}
			}
			committedRev[e.Path][*e.Revision] = true
		}
		if !isCommitOp(e.Op) {
			if e.Op != "conflict" {
				t.Errorf("%s: unexpected log line: %s", when, e)
			}
			continue
		}
		seq := ""
		if d, ok := e.Keys["seq"]; ok {
			seq, _ = d.New.(string)
		}
		logged[seq] = append(logged[seq], e)
	}
	for fi, rel := range rels {
		got, err := os.ReadFile(p.path(rel))
		if err != nil {
			t.Errorf("%s: reading %s: %v", when, rel, err)
			continue
		}
		m := crashSeqRe.FindSubmatch(got)
		rm := crashRevRe.FindSubmatch(got)
		if m == nil || rm == nil {
			t.Errorf("%s: %s is not a version any writer wrote:\n%s", when, rel, short(string(got)))
			continue
		}
		seq := string(m[1])
		field, _ := strconv.ParseInt(string(rm[1]), 10, 64)
		xr := rev(t, p.path(rel))
		if xr != field {
			t.Errorf("%s: %s: xattr revision %d, revision field %d: they must agree", when, rel, xr, field)
		}
		if want := crashContent(fi, seq, field); !bytes.Equal(got, want) {
			t.Errorf("%s: %s holds seq %s at revision %d but not the bytes written (torn or mixed):\n%s", when, rel, seq, field, short(string(got)))
			continue
		}
		if seq == "init" {
			if maxAcked[fi] != 0 || field != 0 {
				t.Errorf("%s: %s is back at its initial version (revision %d) though commit %s was acknowledged at revision %d", when, rel, field, lastAcked[fi], maxAcked[fi])
			}
			continue
		}
		tr := recs.tries[seq]
		switch {
		case tr == nil || tr.file != fi:
			t.Errorf("%s: %s holds seq %s, which no writer wrote to it", when, rel, seq)
		case tr.acked:
			if seq != lastAcked[fi] || field != maxAcked[fi] {
				t.Errorf("%s: %s holds acknowledged commit %s (revision %d), but %s was acknowledged later at revision %d: an acknowledged commit is lost",
					when, rel, seq, field, lastAcked[fi], maxAcked[fi])
			}
		case tr.errno != 0 && !connErrno(tr.errno):
			t.Errorf("%s: %s holds seq %s, whose write was refused with errno %d (%s): a refused write was committed", when, rel, seq, tr.errno, syscall.Errno(tr.errno))
		default: // in flight when the daemon died (or its ack not yet recorded)
			if field <= maxAcked[fi] {
				t.Errorf("%s: %s holds unacknowledged seq %s at revision %d, but %s was acknowledged at revision %d: an acknowledged commit is lost",
					when, rel, seq, field, lastAcked[fi], maxAcked[fi])
			}
			if field != tr.base+1 {
				t.Errorf("%s: %s holds seq %s at revision %d, written from revision %d", when, rel, seq, field, tr.base)
			}
			cc.inflightLanded++
			if len(logged[seq]) == 0 {
				// Landed, but the daemon died before its commit line:
				// the start-up must have logged it.
				cc.unloggedLanded++
				if recovered[rel][field] != 1 {
					t.Errorf("%s: %s holds seq %s at revision %d, which landed without a commit line, and the start-up logged %d recover lines for it, want 1",
						when, rel, seq, field, recovered[rel][field])
				}
			}
		}
	}
	// Every acknowledged commit is in the log exactly once, with its
	// revision; no commit line for a write that was refused or never made.
	for seq, tr := range recs.tries {
		ls := logged[seq]
		if tr.acked {
			if len(ls) != 1 {
				t.Errorf("%s: acknowledged commit %s of %s has %d commit lines in the log, want 1: %v", when, seq, rels[tr.file], len(ls), ls)
				continue
			}
			if ls[0].Path != rels[tr.file] || ls[0].Revision == nil || *ls[0].Revision != tr.base+1 {
				t.Errorf("%s: acknowledged commit %s of %s at revision %d is logged as %s", when, seq, rels[tr.file], tr.base+1, ls[0])
			}
			continue
		}
		if len(ls) > 1 {
			t.Errorf("%s: commit %s is in the log %d times: %v", when, seq, len(ls), ls)
		}
		if len(ls) > 0 && tr.errno != 0 && !connErrno(tr.errno) {
			t.Errorf("%s: refused write %s (errno %d) has a commit line: %s", when, seq, tr.errno, ls[0])
		}
	}
	// A recover line only for a revision that has no commit line, once.
	for rel, revs := range recovered {
		for r, n := range revs {
			if n > 1 || committedRev[rel][r] {
				t.Errorf("%s: %s: %d recover lines for revision %d (commit line too: %v), want one and only for an unlogged version", when, rel, n, r, committedRev[rel][r])
			}
		}
	}
	for seq, ls := range logged {
		if _, ok := recs.tries[seq]; !ok {
			t.Errorf("%s: commit lines for seq %q, which no writer wrote: %v", when, seq, ls)
		}
	}
	if tmps := findTemps(t, p.backing("")); len(tmps) > 0 {
		t.Errorf("%s: temp files left in DIR: %v", when, tmps)
	}
	return cc
}

// A stream of commits over 10 files from 4 writers; kill -9 of the daemon
// at random moments, a remount after each; after each remount every file
// is its last acknowledged version or the one in flight, with xattr and
// field in agreement, every acknowledged commit is durable and logged
// exactly once, the log has no torn line, and no temp file is left.
// Every fifth kill also leaves a torn line at the end of the log (a
// paracle-style appender that died mid-line): the remount cuts it off and
// keeps it. PARACFS_KILLS and PARACFS_COMMITS set the length (default, as
// in CI: 50 kills, 1000 commits; scripts/soak: 200 and 5000).
func TestCrashKill9Stream(t *testing.T) {
	t.Parallel()
	kills := envInt(t, "PARACFS_KILLS", 50)
	commits := envInt(t, "PARACFS_COMMITS", 1000)
	const writers, nfiles = 4, 10
	seed := time.Now().UnixNano()
	if s := os.Getenv("PARACFS_SEED"); s != "" {
		seed, _ = strconv.ParseInt(s, 10, 64)
	}
	t.Logf("seed %d (PARACFS_SEED=%d reproduces the kill timing)", seed, seed)
	rnd := rand.New(rand.NewSource(seed))

	p := newProject(t)
	dirs := []string{"memory/context", "roadmap", "policies", "config", "memory", "agents", "integrations/mcp", "workflows", "", "memory/knowledge"}
	rels := make([]string, nfiles)
	for i := range rels {
		rels[i] = filepath.Join(dirs[i], fmt.Sprintf("crash%d.yaml", i))
		if err := os.WriteFile(p.path(rels[i]), crashContent(i, "init", 0), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mount(t, p)
	pid := p.daemonPid(t)

	work := filepath.Join(p.Root, "crash")
	if err := os.Mkdir(work, 0o755); err != nil {
		t.Fatal(err)
	}
	stop := filepath.Join(work, "stop")
	abs := make([]string, nfiles)
	for i, rel := range rels {
		abs[i] = p.path(rel)
	}
	recFiles := make([]string, writers)
	var procs []*exec.Cmd
	var wpids []int
	for w := 0; w < writers; w++ {
		recFiles[w] = filepath.Join(work, fmt.Sprintf("w%d.rec", w))
		args := append([]string{"-c", crashWriter, strconv.Itoa(w), recFiles[w], stop, strconv.FormatInt(seed+int64(w), 10)}, abs...)
		cmd := exec.Command("python3", args...)
		cmd.Dir = p.Root // never inside the mount: it dies with each daemon
		var stderr syncBuffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs = append(procs, cmd)
		wpids = append(wpids, cmd.Process.Pid)
		t.Cleanup(func() {
			cmd.Process.Kill()
			cmd.Wait()
			if t.Failed() && stderr.String() != "" {
				t.Logf("writer %d stderr: %s", cmd.Process.Pid, stderr.String())
			}
		})
	}

	start := time.Now()
	var downtime time.Duration
	interrupted, landed, unlogged := 0, 0, 0
	killsDone, tornRepaired := 0, 0
	for killsDone < kills {
		// Let the writers commit about commits/kills times, then kill the
		// daemon at a random moment.
		before := readCrashRecords(t, recFiles).acked
		want := before + max(1, int(float64(commits)/float64(kills)*(0.5+rnd.Float64())))
		deadline := time.Now().Add(60 * time.Second)
		for readCrashRecords(t, recFiles).acked < want {
			if time.Now().After(deadline) {
				t.Fatalf("kill %d: the writers acknowledged only %d commits in 60s (want %d)\ndaemon.log:\n%s",
					killsDone+1, readCrashRecords(t, recFiles).acked-before, want-before, p.daemonLog())
			}
			time.Sleep(5 * time.Millisecond)
		}
		time.Sleep(time.Duration(rnd.Intn(15000)) * time.Microsecond)
		killStart := time.Now()
		killDaemon(t, p, pid)
		killsDone++
		// Stop the writers while the mount is dead (none can be inside
		// the daemon now), so that their records are final for the check.
		signalAll(wpids, syscall.SIGSTOP)
		waitStopped(t, wpids)
		recs := readCrashRecords(t, recFiles)
		// Every fifth time, a paracle-style appender also died mid-line:
		// the log has a torn tail, to be cut off and kept at start.
		var torn []byte
		if killsDone%5 == 0 {
			torn = []byte(fmt.Sprintf(`{"timestamp": "2026-11-28T00:00:00+00:00", "change_type": "torn %d", "descr`, killsDone))
			f, err := os.OpenFile(p.backing(logRel), os.O_WRONLY|os.O_APPEND, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.Write(torn)
			f.Close()
		}
		pid = remount(t, p)
		downtime += time.Since(killStart)
		if torn != nil {
			checkTornKept(t, p, torn)
			tornRepaired++
		}
		cc := checkCrashState(t, p, rels, recs, fmt.Sprintf("after kill %d (%d commits acknowledged)", killsDone, recs.acked))
		landed += cc.inflightLanded
		unlogged += cc.unloggedLanded
		if t.Failed() {
			t.Fatalf("stopping after kill %d\ndaemon.log:\n%s", killsDone, p.daemonLog())
		}
		signalAll(wpids, syscall.SIGCONT)
	}
	// Let the stream reach its length, then stop the writers cleanly.
	deadline := time.Now().Add(2 * time.Minute)
	for readCrashRecords(t, recFiles).acked < commits && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := os.WriteFile(stop, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range procs {
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("writer %d: %v", cmd.Process.Pid, err)
			}
		case <-time.After(eventWait):
			t.Errorf("writer %d did not stop within %s", cmd.Process.Pid, eventWait)
		}
	}
	elapsed := time.Since(start)
	recs := readCrashRecords(t, recFiles)
	checkCrashState(t, p, rels, recs, "at the end")
	if len(recs.badReads) > 0 {
		t.Errorf("writers read %d versions without a revision or a final newline (readers must only see committed versions), e.g. %q", len(recs.badReads), recs.badReads[0])
	}
	if recs.acked < commits {
		t.Errorf("only %d commits acknowledged, want at least %d", recs.acked, commits)
	}
	for seq, tr := range recs.tries {
		if tr.closed != 0 && !connErrno(tr.closed) {
			t.Errorf("%s: close() after an acknowledged fsync failed with errno %d", seq, tr.closed)
		}
		if tr.errno != 0 {
			if connErrno(tr.errno) {
				if tr.stage == "close" || tr.stage == "fsync" || tr.stage == "rename" {
					interrupted++
				}
			} else if tr.errno != int(syscall.EBUSY) {
				t.Errorf("%s: %s failed with errno %d (%s), want only EBUSY or a connection error", seq, tr.stage, tr.errno, syscall.Errno(tr.errno))
			}
		}
	}
	byMode := map[string]int{}
	conflicts := 0
	for _, tr := range recs.tries {
		if tr.acked {
			byMode[tr.mode]++
		}
		if tr.errno == int(syscall.EBUSY) {
			conflicts++
		}
	}
	unmountCmd(t, p)
	if tmps := findTemps(t, p.Dir); len(tmps) > 0 {
		t.Errorf("temp files left in DIR after unmount: %v", tmps)
	}
	figure(t, "%d kill -9 over %d acknowledged commits (%s) to %d files from %d writers in %s; %d conflicts retried; %d triggers cut by a kill, %d of those versions landed (%d had no commit line: each got a recover line at restart); mean kill-to-serving %s; %d torn log tails repaired",
		killsDone, recs.acked, countsLine(byMode), nfiles, writers, elapsed.Round(time.Millisecond), conflicts, interrupted, landed, unlogged,
		(downtime / time.Duration(max(1, killsDone))).Round(time.Millisecond), tornRepaired)
}

// checkTornKept asserts that the torn tail appended to the log before a
// remount was cut off (the log ends with a complete line) and kept under
// .paracfs/rejected/, with a recover line saying so.
func checkTornKept(t *testing.T, p *project, torn []byte) {
	t.Helper()
	b, err := os.ReadFile(p.backing(logRel))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(b, torn) || (len(b) > 0 && b[len(b)-1] != '\n') {
		t.Errorf("the torn tail %q is still in the log after the remount (tail: %q)", torn, b[max(0, len(b)-200):])
	}
	found := ""
	filepath.WalkDir(p.backing(".paracfs/rejected"), func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if k, _ := os.ReadFile(path); bytes.Equal(k, torn) {
				found = path
			}
		}
		return nil
	})
	if found == "" {
		t.Errorf("the torn tail %q cut off the log is not kept under .paracfs/rejected/", torn)
	}
	recovered := false
	for _, e := range logLines(t, p.Dir) {
		recovered = recovered || (e.Op == "recover" && strings.Contains(e.Raw, "torn"))
	}
	if !recovered {
		t.Errorf("no recover line in the log about the torn tail")
	}
}
