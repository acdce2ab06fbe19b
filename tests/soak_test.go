package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The soak's writers each own one counter key (w00, w01, ...) in every
// file, and know how many of their increments were acknowledged. A lost
// update shows as a counter below its owner's count. Each prints one JSON
// report: {"tool", "key", "ok": {file: n}, "refused": {file: n},
// "errors": [...], "lat": [seconds of each acknowledged commit call]}.

// soakPython: python read-modify-write, open("w") and close; retries on
// EBUSY. Latency: the close() that commits.
const soakPython = `import errno, json, os, random, re, sys, time
key, end, seed = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
files = sys.argv[4:]
rnd = random.Random(seed)
ok = {f: 0 for f in files}; refused = {f: 0 for f in files}
errors, lat, timeouts = [], [], 0
pat = re.compile(r"^%s: (\d+)$" % key, re.M)
while time.time() < end:
    f = rnd.choice(files)
    try:
        with open(f) as fh:
            text = fh.read()
    except OSError as e:
        errors.append("read %s: %s" % (f, e)); continue
    m = pat.search(text)
    if not m:
        errors.append("read %s without %s: %r" % (f, key, text[:80])); continue
    if int(m.group(1)) != ok[f]:
        errors.append("%s: %s is %s, want %d: an acknowledged increment was lost" % (f, key, m.group(1), ok[f]))
        ok[f] = int(m.group(1))
    new = text[:m.start(1)] + str(ok[f] + 1) + text[m.end(1):]
    try:
        fd = os.open(f, os.O_WRONLY | os.O_TRUNC)
        os.write(fd, new.encode())
    except OSError as e:
        errors.append("open/write %s: %s" % (f, e)); continue
    t0 = time.monotonic()
    try:
        os.close(fd)
    except OSError as e:
        if e.errno == errno.EBUSY:
            refused[f] += 1
        elif e.errno == errno.ETIMEDOUT:
            timeouts += 1
        else:
            errors.append("close %s: %s" % (f, e))
        continue
    lat.append(time.monotonic() - t0)
    ok[f] += 1
print(json.dumps({"tool": "python", "key": key, "ok": ok, "refused": refused, "timeouts": timeouts, "errors": errors[:20], "lat": lat}))
`

// soakParacle: paracle's own pattern: filelock on f.lock, read, bump the
// revision, write f.tmp, fsync, os.replace onto f, append its own line to
// the change log. Latency: the os.replace that commits.
const soakParacle = `import datetime, errno, filelock, json, os, random, sys, time, yaml
key, end, seed, log = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
files = sys.argv[5:]
rnd = random.Random(seed)
ok = {f: 0 for f in files}; refused = {f: 0 for f in files}
errors, lat, timeouts = [], [], 0
while time.time() < end:
    f = rnd.choice(files)
    try:
        with filelock.FileLock(f + ".lock", timeout=60):
            with open(f) as fh:
                state = yaml.safe_load(fh)
            if state[key] != ok[f]:
                errors.append("%s: %s is %s, want %d: an acknowledged increment was lost" % (f, key, state[key], ok[f]))
                ok[f] = state[key]
            state[key] = ok[f] + 1
            state["revision"] += 1
            tmp = f + ".tmp"
            with open(tmp, "w") as fh:
                yaml.safe_dump(state, fh, sort_keys=False)
                fh.flush()
                os.fsync(fh.fileno())
            t0 = time.monotonic()
            try:
                os.replace(tmp, f)
            except OSError as e:
                if e.errno == errno.EBUSY:
                    refused[f] += 1
                elif e.errno == errno.ETIMEDOUT:
                    timeouts += 1
                else:
                    errors.append("replace %s: %s" % (f, e))
                continue
            lat.append(time.monotonic() - t0)
            ok[f] += 1
            line = json.dumps({"timestamp": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                               "process_id": os.getpid(), "change_type": "soak_update",
                               "description": "%s %s -> %d" % (f, key, ok[f]), "old_value": ok[f] - 1,
                               "new_value": ok[f], "revision": state["revision"]})
            with open(log, "a") as fh:
                fh.write(line + "\n")
    except Exception as e:
        errors.append("%s: %r" % (f, e))
print(json.dumps({"tool": "paracle", "key": key, "ok": ok, "refused": refused, "timeouts": timeouts, "errors": errors[:20], "lat": lat}))
`

// soakShell: the shell tools. "sed": sed -i; "echo": the file read by sed
// into a variable, written back with /bin/echo > f (another process than
// the reader: only the revision field protects it); "rsync": the same
// edit in a copy outside the mount, rsync'ed back (temp + rename). A
// refusal is recognised by the tool's message. Latency: the tool's run.
const soakShell = `tool=$1 key=$2 end=$3 seed=$4 src=$5; shift 5
files=("$@")
RANDOM=$seed
declare -A ok refused
for f in "${files[@]}"; do ok[$f]=0; refused[$f]=0; done
errs=() lats=() timeouts=0
now() { local t=$EPOCHREALTIME; echo "${t/./}"; }
endus=$(( ${end%.*} * 1000000 ))
while (( $(now) < endus )); do
  f=${files[RANDOM % ${#files[@]}]}
  n=$(( ${ok[$f]} + 1 ))
  t0=$(now)
  case $tool in
  sed)
    out=$(sed -i "s/^$key: [0-9]*\$/$key: $n/" "$f" 2>&1); rc=$? ;;
  echo)
    new=$(sed "s/^$key: [0-9]*\$/$key: $n/" "$f") || { errs+=("read $f"); continue; }
    out=$( { /bin/echo "$new" > "$f"; } 2>&1 ); rc=$? ;;
  rsync)
    s="$src/$(basename "$f")"
    sed "s/^$key: [0-9]*\$/$key: $n/" "$f" > "$s" || { errs+=("read $f"); continue; }
    out=$(rsync -I "$s" "$f" 2>&1); rc=$? ;;
  esac
  t1=$(now)
  if (( rc == 0 )); then
    ok[$f]=$n; lats+=($(( t1 - t0 )))
  elif [[ $out == *"Device or resource busy"* ]]; then
    refused[$f]=$(( ${refused[$f]} + 1 ))
  elif [[ $out == *"Connection timed out"* ]]; then
    timeouts=$(( timeouts + 1 ))
  else
    errs+=("$tool $f: exit $rc: $out")
  fi
done
okj= rj=
for f in "${files[@]}"; do okj+="\"$f\": ${ok[$f]},"; rj+="\"$f\": ${refused[$f]},"; done
lj=$(IFS=,; echo "${lats[*]}")
ej=
for e in "${errs[@]:0:20}"; do e=${e//\\/\\\\}; e=${e//\"/\\\"}; e=${e//$'\n'/ }; ej+="\"$e\","; done
echo "{\"tool\": \"$tool\", \"key\": \"$key\", \"ok\": {${okj%,}}, \"refused\": {${rj%,}}, \"timeouts\": $timeouts, \"errors\": [${ej%,}], \"lat_us\": [$lj]}"
`

// soakReader reads every file in a loop until the deadline and checks each
// read is a YAML mapping with an integer revision that never goes back and
// every writer's counter. It reports how many revisions of each file it
// saw: reads that ran between commits, which is what makes them prove
// anything.
const soakReader = `import json, sys, time, yaml
end, nkeys = float(sys.argv[1]), int(sys.argv[2])
files = sys.argv[3:]
keys = ["w%02d" % i for i in range(nkeys)]
reads, bad, last, seen = 0, [], {}, {}
while time.time() < end:
    for f in files:
        try:
            with open(f) as fh:
                text = fh.read()
            doc = yaml.safe_load(text)
            if not isinstance(doc, dict) or not isinstance(doc.get("revision"), int) or any(not isinstance(doc.get(k), int) for k in keys):
                bad.append("%s: not a soak file: %r" % (f, text[:80]))
            elif doc["revision"] < last.get(f, 0):
                bad.append("%s: revision went back from %d to %d" % (f, last[f], doc["revision"]))
            else:
                last[f] = doc["revision"]
                seen.setdefault(f, set()).add(doc["revision"])
        except Exception as e:
            bad.append("%s: %r" % (f, e))
        reads += 1
print(json.dumps({"reads": reads, "bad": len(bad), "sample": bad[:5], "revs": {f: len(seen.get(f, ())) for f in files}}))
`

type soakReport struct {
	Tool    string         `json:"tool"`
	Key     string         `json:"key"`
	Ok      map[string]int `json:"ok"`
	Refused map[string]int `json:"refused"`
	// Timeouts are commits refused with ETIMEDOUT: P.lock held past
	// --lock-timeout.
	Timeouts int       `json:"timeouts"`
	Errors   []string  `json:"errors"`
	Lat      []float64 `json:"lat"`
	LatUs    []int64   `json:"lat_us"`
}

// soakCommands are the log's command names of each writer tool.
var soakCommands = map[string]string{"python": "python3", "paracle": "python3", "sed": "sed", "echo": "echo", "rsync": "rsync"}

// At least 16 writers for PARACFS_SOAK (default 10s; scripts/soak: 60s)
// against 5 files, mixing python read-modify-write, sed -i, rsync, shell
// > with /bin/echo and paracle-style clients, while 2 readers loop over the
// files. No acknowledged increment is lost, every refusal was seen by its
// writer and kept under .paracfs/rejected/, the log has exactly one commit
// line per acknowledged commit, and readers only ever saw valid files.
func TestSoakConcurrentWriters(t *testing.T) {
	t.Parallel()
	needTool(t, "rsync", "sed")
	toolNeedPython(t, "yaml", "filelock")
	dur := envDuration(t, "PARACFS_SOAK", 10*time.Second)
	nw := envInt(t, "PARACFS_SOAK_WRITERS", 16)
	p := newProject(t)
	rels := []string{"memory/context/soak0.yaml", "roadmap/soak1.yaml", "policies/soak2.yaml", "config/soak3.yaml", "soak4.yaml"}
	for i, rel := range rels {
		var b strings.Builder
		fmt.Fprintf(&b, "revision: 0\nname: soak file %d\n", i)
		for k := 0; k < nw; k++ {
			fmt.Fprintf(&b, "w%02d: 0\n", k)
		}
		if err := os.WriteFile(p.path(rel), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mount(t, p)
	pid := p.daemonPid(t)
	n0 := len(logLines(t, p.Dir))
	abs := make([]string, len(rels))
	for i, rel := range rels {
		abs[i] = p.path(rel)
	}
	// The writers' tools, in turn: 16 writers are 5 python, 3 sed, 3
	// echo, 3 rsync, 2 paracle.
	order := []string{"python", "sed", "echo", "rsync", "paracle", "python", "sed", "echo", "rsync", "python", "paracle", "sed", "echo", "rsync", "python", "python"}
	if s := os.Getenv("PARACFS_SOAK_TOOLS"); s != "" {
		order = strings.Split(s, ",")
		for _, tool := range order {
			if _, ok := soakCommands[tool]; !ok {
				t.Fatalf("PARACFS_SOAK_TOOLS=%s: unknown tool %q (python, paracle, sed, echo, rsync)", s, tool)
			}
		}
	}
	t.Logf("writers' tools, in turn: %v", order)
	start := time.Now()
	end := float64(start.Add(dur).UnixNano()) / 1e9
	endArg := strconv.FormatFloat(end, 'f', 3, 64)
	ctx, cancel := context.WithTimeout(context.Background(), dur+3*time.Minute)
	defer cancel()

	type proc struct {
		cmd    *exec.Cmd
		out    bytes.Buffer
		stderr bytes.Buffer
		tool   string
	}
	var procs []*proc
	for k := 0; k < nw; k++ {
		tool := order[k%len(order)]
		key := fmt.Sprintf("w%02d", k)
		seed := strconv.Itoa(int(start.UnixNano()%1000000) + k)
		var cmd *exec.Cmd
		switch tool {
		case "python":
			cmd = exec.CommandContext(ctx, toolPython, append([]string{"-c", soakPython, key, endArg, seed}, abs...)...)
		case "paracle":
			cmd = exec.CommandContext(ctx, toolPython, append([]string{"-c", soakParacle, key, endArg, seed, p.path(logRel)}, abs...)...)
		default:
			src := filepath.Join(p.Root, "rsync-src-"+key)
			os.Mkdir(src, 0o755)
			cmd = exec.CommandContext(ctx, "bash", append([]string{"-c", soakShell, "soak-" + tool, tool, key, endArg, seed, src}, abs...)...)
		}
		cmd.Dir = p.Root
		pr := &proc{cmd: cmd, tool: tool}
		cmd.Stdout, cmd.Stderr = &pr.out, &pr.stderr
		procs = append(procs, pr)
	}
	var readers []*proc
	for i := 0; i < 2; i++ {
		cmd := exec.CommandContext(ctx, toolPython, append([]string{"-c", soakReader, endArg, strconv.Itoa(nw)}, abs...)...)
		cmd.Dir = p.Root
		pr := &proc{cmd: cmd, tool: "reader"}
		cmd.Stdout, cmd.Stderr = &pr.out, &pr.stderr
		readers = append(readers, pr)
	}
	var wg sync.WaitGroup
	for _, pr := range append(append([]*proc{}, procs...), readers...) {
		if err := pr.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(pr *proc) { defer wg.Done(); pr.cmd.Wait() }(pr)
	}
	wg.Wait()
	elapsed := time.Since(start)

	acked, refused, timeouts := 0, 0, 0
	refusedBy, ackedBy := map[string]int{}, map[string]int{}
	var lat, toolLat []float64
	final := map[string][]byte{}
	for i, rel := range rels {
		final[abs[i]] = readFile(t, p.path(rel))
	}
	for _, pr := range procs {
		var rep soakReport
		line := strings.TrimSpace(pr.out.String())
		if err := json.Unmarshal([]byte(line), &rep); err != nil {
			t.Errorf("%s writer: no report (%v): %s\nstderr: %s", pr.tool, err, short(line), short(pr.stderr.String()))
			continue
		}
		for _, e := range rep.Errors {
			t.Errorf("%s writer %s: %s", rep.Tool, rep.Key, e)
		}
		timeouts += rep.Timeouts
		for f, n := range rep.Ok {
			acked += n
			ackedBy[rep.Tool] += n
			// Its counter in the final file is its count of acknowledged
			// increments: none was lost.
			m := regexp.MustCompile(`(?m)^` + rep.Key + `: (\d+)$`).FindSubmatch(final[f])
			if m == nil || string(m[1]) != strconv.Itoa(n) {
				t.Errorf("%s: %s's counter is %q, but %d increments by %s were acknowledged: lost updates", f, rep.Key, m, n, rep.Tool)
			}
		}
		for _, n := range rep.Refused {
			refused += n
			refusedBy[soakCommands[rep.Tool]] += n
		}
		lat = append(lat, rep.Lat...)
		for _, us := range rep.LatUs {
			toolLat = append(toolLat, float64(us)/1e6)
		}
	}
	for _, pr := range readers {
		var rep struct {
			Reads, Bad int
			Sample     []string
			Revs       map[string]int
		}
		if err := json.Unmarshal(bytes.TrimSpace(pr.out.Bytes()), &rep); err != nil {
			t.Errorf("reader: no report (%v): %s\nstderr: %s", err, short(pr.out.String()), short(pr.stderr.String()))
			continue
		}
		if rep.Bad > 0 || rep.Reads == 0 {
			t.Errorf("reader: %d of %d reads saw an invalid or older file: %v", rep.Bad, rep.Reads, rep.Sample)
		}
		// The overlap: each file read at several of its revisions, so the
		// reads ran while the writers committed.
		var seen []string
		for i, f := range abs {
			if rep.Revs[f] < 2 {
				t.Errorf("reader: its %d reads saw %d revision(s) of %s: they never ran between two of its commits", rep.Reads, rep.Revs[f], rels[i])
			}
			seen = append(seen, fmt.Sprintf("%s %d", filepath.Base(rels[i]), rep.Revs[f]))
		}
		t.Logf("reader: %d reads; revisions seen: %s", rep.Reads, strings.Join(seen, ", "))
	}

	// The log: one commit line per acknowledged commit, one refusal line
	// per refusal a writer saw (by the same command), each refused
	// version kept.
	ours := map[string]bool{}
	for _, rel := range rels {
		ours[rel] = true
	}
	commits, conflicts, lockTimeouts, lockBusy := 0, map[string]int{}, 0, 0
	ops := map[string]int{}
	for _, e := range logSince(t, p.Dir, n0) {
		if !ours[e.Path] {
			if e.Op != "" {
				t.Errorf("unexpected log line: %s", e)
			}
			continue
		}
		ops[e.Op]++
		switch {
		case isCommitOp(e.Op):
			commits++
		case e.Op == "conflict" || e.Op == "lock_busy":
			// EBUSY: stale, or (lock_busy) a rename or removal that
			// found P.lock held by a paracle-style client through the
			// mount (docs/commit.md).
			conflicts[e.Command]++
			if e.Op == "lock_busy" {
				lockBusy++
			}
			if e.Kept == "" {
				t.Errorf("refusal line without kept bytes: %s", e)
			} else if _, err := os.Stat(p.backing(e.Kept)); err != nil {
				t.Errorf("the refused bytes are not where the log says: %v\n%s", err, e)
			}
		case e.Op == "lock_timeout":
			lockTimeouts++
		default:
			t.Errorf("unexpected log line (only commits, conflicts and lock_busy expected): %s", e)
		}
	}
	if timeouts > 0 || lockTimeouts > 0 {
		t.Errorf("%d commits were refused with ETIMEDOUT (%d lock_timeout lines): P.lock stayed locked for --lock-timeout (10s) though "+
			"no writer holds it for more than a few milliseconds. (A paracle-style client holding P.lock waits in os.replace for a "+
			"commit that itself waits for P.lock; see TestSoakParacleClientBehindWaitingCommit.)", timeouts, lockTimeouts)
	}
	if commits != acked {
		t.Errorf("the log has %d commit lines for the soak files, the writers acknowledged %d commits (ops %v)", commits, acked, ops)
	}
	for cmd, n := range refusedBy {
		if conflicts[cmd] != n {
			t.Errorf("the log has %d conflict and lock_busy lines by %s, its writers saw %d refusals", conflicts[cmd], cmd, n)
		}
	}
	for cmd, n := range conflicts {
		if _, ok := refusedBy[cmd]; !ok {
			t.Errorf("the log has %d conflict and lock_busy lines by %s, which no writer saw", n, cmd)
		}
	}
	revSum := int64(0)
	for _, rel := range rels {
		revSum += rev(t, p.path(rel))
	}
	if revSum != int64(acked) {
		t.Errorf("the revisions of the soak files add up to %d, want %d (one per acknowledged commit)", revSum, acked)
	}
	if !alive(pid) {
		t.Errorf("the daemon %d died during the soak", pid)
	}
	figure(t, "%d writers (%s), 2 readers, 5 files, %s: %d commits (%s) = %.1f commits/s; %d refusals (EBUSY; %d of them lock_busy) seen and kept, %d lock timeouts; commit call (close/os.replace) latency p50 %s p99 %s max %s; whole tool run (sed/echo/rsync) p50 %s p99 %s; daemon peak RSS %d MiB",
		nw, strings.Join(order, ","), elapsed.Round(100*time.Millisecond), acked, countsLine(ackedBy), float64(acked)/elapsed.Seconds(), refused, lockBusy, timeouts,
		ms(percentile(lat, 50)), ms(percentile(lat, 99)), ms(percentile(lat, 100)),
		ms(percentile(toolLat, 50)), ms(percentile(toolLat, 99)), vmHWM(pid)/1024)
	// Scratch files the tools leave behind on a refusal are theirs; the
	// daemon's own temp files must all be gone.
	if tmps := findTemps(t, p.backing("")); len(tmps) > 0 {
		t.Errorf("daemon temp files left: %v", tmps)
	}
	left := scratchLeft(p, rels)
	if len(left) > 0 {
		t.Logf("scratch files left by the tools after refusals: %v", left)
	}
}

// scratchLeft lists the files beside the soak files that the tools left
// behind (temp files of refused renames), not counting lock files.
func scratchLeft(p *project, rels []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, rel := range rels {
		dir := filepath.Dir(rel)
		if seen[dir] {
			continue
		}
		seen[dir] = true
		ents, _ := os.ReadDir(p.backing(dir))
		for _, e := range ents {
			n := e.Name()
			if strings.HasPrefix(n, "sed") || strings.HasPrefix(n, ".soak") || strings.HasSuffix(n, ".tmp") {
				out = append(out, filepath.Join(dir, n))
			}
		}
	}
	return out
}

// A paracle-style client holds P.lock through the mount while another
// writer's commit of P waits for that lock; the client then saves P with
// os.replace. Its commit must run inside its own critical section at once
// (docs/commit.md, "Locks are shared"), not queue behind the waiting
// commit until that one times out; the other writer then commits or gets
// a conflict, never ETIMEDOUT.
func TestSoakParacleClientBehindWaitingCommit(t *testing.T) {
	t.Parallel()
	toolNeedPython(t, "filelock")
	p := newProject(t)
	const rel = "memory/context/shared.yaml"
	if err := os.WriteFile(p.path(rel), []byte("revision: 0\nclient: 0\nother: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mount(t, p, "--lock-timeout", "4s")
	n := len(logLines(t, p.Dir))
	const client = `import filelock, os, sys, time
f = sys.argv[1]
with filelock.FileLock(f + ".lock", timeout=30):
    print("locked", flush=True)
    sys.stdin.readline()
    text = open(f).read()
    with open(f + ".tmp", "w") as fh:
        fh.write(text.replace("revision: 0", "revision: 1").replace("client: 0", "client: 1"))
    t0 = time.monotonic()
    try:
        os.replace(f + ".tmp", f)
        err = ""
    except OSError as e:
        err = str(e)
    print("%.3f %s" % (time.monotonic() - t0, err), flush=True)
`
	h, stderr := startHeld(t, p.Dir, "locked", toolPython, "-c", client, rel)
	// The other writer's commit now waits for P.lock: seen as the
	// descriptor the daemon opens on it to wait.
	before := daemonFds(t, p, rel+".lock")
	other := pyOpenHeld(t, p.Dir, rel, "trunc", []byte("revision: 0\nclient: 0\nother: 1\n"))
	other.start()
	waitDaemonOpens(t, p, rel+".lock", before)
	if _, err := h.stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	line, err := readLineTimeout(h.out, eventWait)
	if err != nil {
		t.Fatalf("client: %v\nstderr: %s", err, stderr.String())
	}
	took, errText, _ := strings.Cut(line, " ")
	if errText != "" {
		t.Errorf("the client's os.replace inside its own lock failed after %ss: %s", took, errText)
	}
	// Had the client's commit queued behind the waiting one, that one
	// would have waited out --lock-timeout for the client's lock and
	// ended in ETIMEDOUT (and only then let the client's commit through):
	// the other writer's outcome says it, with no clock.
	line, err = readLineTimeout(other.out, eventWait)
	var res pyResult
	if err != nil || json.Unmarshal([]byte(line), &res) != nil {
		t.Fatalf("other writer: %q %v", line, err)
	}
	if res.Errno != 0 && res.errno() != syscall.EBUSY {
		t.Errorf("the other writer's commit, queued behind the client's lock, failed with %s (%s); want success or EBUSY (it is stale once the client committed): the client's commit waited for it (client's os.replace took %ss)", res.errno(), res.Error, took)
	}
	for _, e := range forPath(logSince(t, p.Dir, n), rel) {
		if e.Op == "lock_timeout" {
			t.Errorf("a lock_timeout for %s: a commit waited for a lock its own writer held\n%s", rel, e)
		}
	}
}

// A multi-threaded writer (an API server's worker threads) is logged under
// its process id, like paracle's own lines (os.getpid()), not under the
// id of the thread that happened to close the file.
func TestSoakThreadedWriterLogsItsProcess(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	n := len(logLines(t, p.Dir))
	const script = `import os, threading
def save():
    with open("memory/context/threaded.yaml", "w") as f:
        f.write("by: worker\n")
t = threading.Thread(target=save)
t.start()
t.join()
print(os.getpid(), threading.get_native_id())
`
	r := mustRun(t, p.Dir, "python3", "-c", script)
	pid := parsePid(t, strings.Fields(r.Stdout + " ")[0])
	lines := forPath(logSince(t, p.Dir, n), "memory/context/threaded.yaml")
	if len(lines) != 1 {
		t.Fatalf("want 1 log line, got %v", lines)
	}
	if lines[0].ProcessID != pid {
		t.Errorf("log line process_id = %d, want the writer's process id %d (not a thread id)\n%s", lines[0].ProcessID, pid, lines[0])
	}
}

// forkWriterSrc is a Go program: two goroutines write a managed file in a
// loop (open, write, close), two others run /bin/true in a loop. A child
// forked while a written descriptor is open inherits it, and execve closes
// it (close-on-exec), flushing the parent's uncommitted bytes to the daemon
// from inside the child's exec. After its duration it stops the loops,
// waits for each to finish the step it is in, and prints how many writes
// and execs each loop did. A deadlocked daemon keeps a step from ever
// finishing: the program then never prints, which the test sees.
const forkWriterSrc = `package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	dir := os.Args[1]
	secs, _ := strconv.Atoi(os.Args[2])
	var stop atomic.Bool
	var wg sync.WaitGroup
	var writes, execs [2]int64
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				p := fmt.Sprintf("%s/forked%d.yaml", dir, w)
				fd, err := syscall.Open(p, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_TRUNC|syscall.O_CLOEXEC, 0o644)
				if err != nil {
					continue
				}
				syscall.Write(fd, []byte(fmt.Sprintf("i: %d\n", i)))
				syscall.Close(fd)
				writes[w]++
			}
		}(w)
	}
	for e := 0; e < 2; e++ {
		wg.Add(1)
		go func(e int) {
			defer wg.Done()
			for !stop.Load() {
				exec.Command("/bin/true").Run()
				execs[e]++
			}
		}(e)
	}
	time.Sleep(time.Duration(secs) * time.Second)
	stop.Store(true)
	wg.Wait()
	fmt.Printf("done %d %d writes, %d %d execs\n", writes[0], writes[1], execs[0], execs[1])
}
`

// A multi-threaded writer that also runs other programs (a Go or Java
// service, an agent runtime spawning git) keeps committing: a FLUSH that a
// child's execve sends for a descriptor it inherited must not deadlock the
// daemon. The writer runs 8s (PARACFS_FORK_SECS), then waits for each of
// its loops to finish its step; if one never does (eventWait after its
// duration: a deadlock, not a slow machine), the daemon is killed to free
// it, and the test fails. Each loop must have done some work: writes and
// execs overlapped.
func TestSoakForkExecWhileWriting(t *testing.T) {
	t.Parallel()
	secs := envInt(t, "PARACFS_FORK_SECS", 8)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(forkWriterSrc), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "go.mod"), []byte("module forkwriter\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(src, "forkwriter")
	build := exec.Command(findGo(), "build", "-o", bin, ".")
	build.Dir = src
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the fork writer: %v\n%s", err, out)
	}
	p := newProject(t)
	mount(t, p)
	pid := p.daemonPid(t)
	cmd := exec.Command(bin, p.path("memory/context"), strconv.Itoa(secs))
	cmd.Dir = p.Root
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Duration(secs)*time.Second + eventWait):
		err = fmt.Errorf("a write or an exec did not finish %s after the end of its %ds", eventWait, secs)
	}
	if err != nil {
		stacks := daemonStacks(pid)
		killDaemon(t, p, pid) // frees the writer and its children
		select {
		case <-done:
		case <-time.After(eventWait):
			cmd.Process.Kill()
		}
		t.Fatalf("a writer that forks and execs while writing managed files: %v (the daemon was killed to free it):\n%s\ndaemon threads in D state:\n%s",
			err, out.String(), stacks)
	}
	var w0, w1, e0, e1 int
	if _, err := fmt.Sscanf(out.String(), "done %d %d writes, %d %d execs", &w0, &w1, &e0, &e1); err != nil {
		t.Fatalf("fork writer printed %q: %v", out.String(), err)
	}
	if w0 == 0 || w1 == 0 || e0 == 0 || e1 == 0 {
		t.Errorf("fork writer: %s: each loop must have done some work while the others ran", strings.TrimSpace(out.String()))
	}
	t.Logf("fork writer: %s", strings.TrimSpace(out.String()))
}

// daemonStacks describes the daemon's threads blocked in the kernel and
// the /proc files it has open, for a deadlock report.
func daemonStacks(pid int) string {
	var b strings.Builder
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	for _, task := range tasks {
		st, _ := os.ReadFile(task + "/stat")
		s := string(st)
		if i := strings.LastIndexByte(s, ')'); i < 0 || i+2 >= len(s) || s[i+2] != 'D' {
			continue
		}
		wchan, _ := os.ReadFile(task + "/wchan")
		fmt.Fprintf(&b, "  thread %s: D in %s\n", filepath.Base(task), wchan)
	}
	fds, _ := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	for _, fd := range fds {
		if l, _ := os.Readlink(fd); strings.HasPrefix(l, "/proc/") {
			fmt.Fprintf(&b, "  open: %s\n", l)
		}
	}
	return b.String()
}
