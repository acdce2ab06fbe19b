package tests

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// rejectedRow is one entry of `paracfs rejected --json`.
type rejectedRow struct {
	ID      string `json:"id"`
	Path    string `json:"path"`
	Pid     int    `json:"pid"`
	Command string `json:"command"`
	Op      string `json:"op"`
	Reason  string `json:"reason"`
	Errno   string `json:"errno"`
	Kept    string `json:"kept"`
	Size    int64  `json:"size"`
}

func rejectedList(t *testing.T, p *project) []rejectedRow {
	t.Helper()
	r := paracfs(t, p.Root, "rejected", "--json")
	var out struct {
		Rejected []rejectedRow `json:"rejected"`
	}
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &out) != nil {
		t.Fatalf("paracfs rejected --json: %s", r)
	}
	return out.Rejected
}

func rejectedFor(t *testing.T, rows []rejectedRow, path, op string) rejectedRow {
	t.Helper()
	for _, r := range rows {
		if r.Path == path && r.Op == op {
			return r
		}
	}
	t.Fatalf("paracfs rejected lists no %s write of %s: %+v", op, path, rows)
	return rejectedRow{}
}

// countKept counts the files under .paracfs/rejected/ in the backing directory.
func countKept(t *testing.T, p *project) int {
	t.Helper()
	n := 0
	filepath.WalkDir(p.backing(".paracfs/rejected"), func(_ string, de os.DirEntry, err error) error {
		if err == nil && de.Type().IsRegular() {
			n++
		}
		return nil
	})
	return n
}

// readThenLoseRace reads rel through the mount, lets another process
// commit it, then writes data over it: a read-modify-write refused as a
// conflict whose bytes carry no revision field.
const readThenLoseRace = `
import json, os, subprocess, sys
path, other, data = sys.argv[1], sys.argv[2], sys.argv[3]
open(path).read()
subprocess.run([sys.executable, "-c", "open(%r, 'w').write(%r)" % (path, other)], check=True)
res = {"pid": os.getpid(), "errno": 0, "stage": "", "error": ""}
try:
    with open(path, "w") as f:
        f.write(data)
except OSError as e:
    res.update(errno=e.errno, stage="close", error=str(e))
print(json.dumps(res), flush=True)
`

// Refused writes are listed with what, when, who and why; show, diff,
// apply and drop work on them by a short ID, through the daemon when
// mounted.
func TestRejected(t *testing.T) {
	p := newProject(t)
	mount(t, p)
	nlog := len(logLines(t, p.Dir))

	invalid := []byte("name: [unclosed\n")
	inv := pyWrite(t, p.Root, ".parac/project.yaml", "trunc", invalid)
	stale := replace(t, fixture(t, stateRel), "revision: 11", "revision: 5")
	stale = replace(t, stale, "progress: 40%", "progress: 45%")
	con := pyWrite(t, p.Root, ".parac/"+stateRel, "trunc", stale)
	if inv.Errno != 74 || con.Errno != 16 { // EBADMSG, EBUSY
		t.Fatalf("refused writes: invalid %+v, stale %+v; want EBADMSG and EBUSY", inv, con)
	}
	mine := []byte("name: orbit-notes\nversion: 0.6.0\n")
	theirs := "name: orbit-notes\nversion: 0.5.0\n"
	race := parsePy(t, run(t, p.Root, "python3", "-c", readThenLoseRace, ".parac/project.yaml", theirs, string(mine)))
	if race.Errno != 16 {
		t.Fatalf("read-modify-write that lost the race: %+v, want EBUSY", race)
	}

	// The list, as JSON and as a table.
	rows := rejectedList(t, p)
	if len(rows) != 3 {
		t.Fatalf("paracfs rejected lists %d writes, want 3: %+v", len(rows), rows)
	}
	ri := rejectedFor(t, rows, "project.yaml", "invalid")
	rc := rejectedFor(t, rows, stateRel, "conflict")
	rr := rejectedFor(t, rows, "project.yaml", "conflict")
	for _, c := range []struct {
		row rejectedRow
		pid int
		raw []byte
	}{{ri, inv.Pid, invalid}, {rc, con.Pid, stale}, {rr, race.Pid, mine}} {
		if !regexp.MustCompile(`^[0-9a-f]{8}$`).MatchString(c.row.ID) || c.row.Pid != c.pid || c.row.Command != "python3" ||
			c.row.Reason == "" || c.row.Size != int64(len(c.raw)) {
			t.Errorf("listed %+v, want an 8-digit ID, pid %d, command python3, a reason, size %d", c.row, c.pid, len(c.raw))
		}
	}
	r := paracfs(t, p.Root, "rejected")
	for _, want := range []string{"ID", "REASON", ri.ID, rc.ID, "project.yaml", stateRel, "python3", "revision conflict", "invalid content"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("paracfs rejected does not show %q:\n%s", want, r)
		}
	}
	if strings.Contains(r.Stdout, "\x1b[") {
		t.Errorf("paracfs rejected coloured a pipe:\n%q", r.Stdout)
	}

	// show: the details and the bytes; --raw: the bytes exactly.
	r = paracfs(t, p.Root, "rejected", "show", rc.ID[:5])
	for _, want := range []string{stateRel, "python3", itoa(con.Pid), "EBUSY", rc.Kept, "progress: 45%"} {
		if r.Code != 0 || !strings.Contains(r.Stdout, want) {
			t.Errorf("paracfs rejected show %s does not show %q: %s", rc.ID[:5], want, r)
		}
	}
	if r := paracfs(t, p.Root, "rejected", "show", "--raw", rc.ID); r.Code != 0 || r.Stdout != string(stale) {
		t.Errorf("paracfs rejected show --raw: %s\nwant exactly the refused bytes", r)
	}
	// diff: what the refused write would change in the current file.
	r = paracfs(t, p.Root, "rejected", "diff", rc.ID)
	for _, want := range []string{"-revision: 11", "+revision: 5", "-  progress: 40%", "+  progress: 45%", "(refused " + rc.ID + ")"} {
		if r.Code != 0 || !strings.Contains(r.Stdout, want) {
			t.Errorf("paracfs rejected diff does not show %q: %s", want, r)
		}
	}
	// The diff is paracfs's own, as paracfs diff's is: no diff(1) needed,
	// the same -U and --color.
	if r2 := run(t, p.Root, "env", "PATH=/nonexistent", paracfsBin, "rejected", "diff", rc.ID); r2.Code != 0 || r2.Stdout != r.Stdout {
		t.Errorf("paracfs rejected diff without diff(1) on PATH: %s\nwant the same diff as with it", r2)
	}
	r = paracfs(t, p.Root, "rejected", "diff", "--color=always", "-U", "0", rc.ID)
	for _, want := range []string{"\x1b[1m--- " + stateRel + " (current)", "\x1b[31m-revision: 11\x1b[0m", "\x1b[32m+revision: 5\x1b[0m"} {
		if r.Code != 0 || !strings.Contains(r.Stdout, want) || strings.Contains(r.Stdout, "\n ") {
			t.Errorf("paracfs rejected diff --color=always -U 0: %q\nwant %q and no context lines", r.Stdout, want)
		}
	}

	// apply of the stale write: refused again as a conflict, said plainly,
	// and kept where it was (no second copy).
	kept := countKept(t, p)
	before := readFile(t, p.backing(stateRel))
	n := len(logLines(t, p.Dir))
	r = paracfs(t, p.Root, "rejected", "apply", rc.ID)
	if r.Code != 1 || !strings.Contains(r.Stderr, "conflict") || !strings.Contains(r.Stderr, "paracfs rejected diff "+rc.ID) {
		t.Errorf("paracfs rejected apply of a stale write: %s\nwant exit 1, a conflict, and how to go on", r)
	}
	if got := readFile(t, p.backing(stateRel)); !bytes.Equal(got, before) {
		t.Errorf("a refused apply changed %s:\n%s", stateRel, got)
	}
	if got := countKept(t, p); got != kept {
		t.Errorf("a refused apply left %d kept files, want still %d", got, kept)
	}
	if es := logSince(t, p.Dir, n); len(es) != 1 || es[0].Op != "conflict" || es[0].Kept != rc.Kept || es[0].Command != "paracfs" {
		t.Errorf("log after a refused apply: %v\nwant one conflict line naming the same kept file", es)
	}

	// apply of the write that lost a race (no revision field): committed,
	// logged as apply, and no longer kept.
	r = paracfs(t, p.Root, "rejected", "apply", rr.ID)
	if r.Code != 0 || !strings.Contains(r.Stdout, "applied "+rr.ID) {
		t.Errorf("paracfs rejected apply %s: %s", rr.ID, r)
	}
	assertContent(t, p, "project.yaml", mine)
	if got := readFile(t, p.path("project.yaml")); !bytes.Equal(got, mine) {
		t.Errorf("project.yaml through the mount after apply: %q, want %q", got, mine)
	}
	es := forPath(logSince(t, p.Dir, n), "project.yaml")
	if len(es) != 1 || es[0].Op != "apply" || es[0].Command != "paracfs" || es[0].SHA256 != sha256hex(mine) {
		t.Errorf("log of the apply: %v\nwant one apply line", es)
	}
	if _, err := os.Stat(p.backing(rr.Kept)); !os.IsNotExist(err) {
		t.Errorf("the applied write is still kept in %s (%v)", rr.Kept, err)
	}

	// drop: gone, and logged.
	n = len(logLines(t, p.Dir))
	if r := paracfs(t, p.Root, "rejected", "drop", ri.ID); r.Code != 0 || !strings.Contains(r.Stdout, "dropped "+ri.ID) {
		t.Errorf("paracfs rejected drop: %s", r)
	}
	if _, err := os.Stat(p.backing(ri.Kept)); !os.IsNotExist(err) {
		t.Errorf("the dropped write is still in %s (%v)", ri.Kept, err)
	}
	if es := logSince(t, p.Dir, n); len(es) != 1 || es[0].Op != "drop" || es[0].Kept != ri.Kept || es[0].Path != "project.yaml" {
		t.Errorf("log of the drop: %v", es)
	}
	if rows := rejectedList(t, p); len(rows) != 1 || rows[0].ID != rc.ID {
		t.Errorf("after apply and drop, paracfs rejected lists %+v, want only %s", rows, rc.ID)
	}

	// Bad IDs: a clear error, nothing changed.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"rejected", "show", "xyz!"}, 2, "hex digits"},
		{[]string{"rejected", "show", "ab"}, 2, "hex digits"},
		{[]string{"rejected", "apply", ri.ID}, 1, "no such refused write"},
		{[]string{"rejected", "drop"}, 2, "which refused write"},
		{[]string{"rejected", "show"}, 2, "which refused write"},
		{[]string{"rejected", "show", "drop"}, 2, "hex digits"},
		{[]string{"rejected", "shwo", rc.ID}, 2, "no such subcommand"},
		{[]string{"rejected", "show", rc.ID, p.Dir, "extra"}, 2, "too many arguments"},
		{[]string{"rejected", "list", p.path("no-such-dir")}, 1, "no-such-dir: no such directory"},
		{[]string{"rejected", "show", rc.ID, p.path("project.yaml")}, 1, "not a directory"},
	} {
		r := paracfs(t, p.Root, c.args...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("paracfs %s: %s\nwant exit %d and %q", strings.Join(c.args, " "), r, c.code, c.want)
		}
	}
	if r := paracfs(t, p.Root, "rejected", "list"); r.Code != 0 || !strings.Contains(r.Stdout, rc.ID) {
		t.Errorf("paracfs rejected list: %s\nwant exit 0 and %s listed", r, rc.ID)
	}
	if got := len(logLines(t, p.Dir)); got < nlog+6 {
		t.Errorf("the log has %d lines, want at least %d", got, nlog+6)
	}

	// Unmounted: listing and drop work on DIR directly; apply needs the daemon.
	unmountCmd(t, p)
	if rows := rejectedList(t, p); len(rows) != 1 || rows[0].ID != rc.ID {
		t.Errorf("unmounted, paracfs rejected lists %+v, want %s", rows, rc.ID)
	}
	if r := paracfs(t, p.Root, "rejected", "apply", rc.ID); r.Code != 1 || !strings.Contains(r.Stderr, "not mounted") {
		t.Errorf("unmounted, paracfs rejected apply: %s\nwant an error saying DIR is not mounted", r)
	}
	n = len(logLines(t, p.Dir))
	if r := paracfs(t, "/", "rejected", "drop", rc.ID, p.Dir); r.Code != 0 {
		t.Errorf("unmounted, paracfs rejected drop: %s", r)
	}
	if es := logSince(t, p.Dir, n); len(es) != 1 || es[0].Op != "drop" || es[0].Kept != rc.Kept {
		t.Errorf("log of the unmounted drop: %v", es)
	}
	if got := countKept(t, p); got != 0 {
		t.Errorf("%d kept files left, want none", got)
	}
	if r := paracfs(t, p.Root, "rejected"); r.Code != 0 || !strings.Contains(r.Stdout, "no refused writes") {
		t.Errorf("paracfs rejected with none kept: %s", r)
	}
}

// Every command and subcommand of this part has --help.
func TestRejectedLogStatusHelp(t *testing.T) {
	for _, args := range [][]string{
		{"rejected", "--help"}, {"rejected", "list", "--help"}, {"rejected", "show", "--help"}, {"rejected", "diff", "-h"},
		{"rejected", "apply", "--help"}, {"rejected", "drop", "--help"}, {"log", "--help"}, {"log", "prune", "--help"},
		{"status", "--help"},
	} {
		r := paracfs(t, "/", args...)
		want := "Usage: paracfs " + strings.Join(args[:len(args)-1], " ")
		if r.Code != 0 || !strings.Contains(r.Stderr, want) {
			t.Errorf("paracfs %s: %s\nwant exit 0 and %q", strings.Join(args, " "), r, want)
		}
	}
}

// bash completion offers the subcommands of rejected and log right after
// the command, and directories after them.
func TestRejectedCompletion(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "paracfs.bash")
	if err := os.WriteFile(script, []byte(paracfs(t, "/", "completion", "bash").Stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(dir, "proj"), 0o755)
	probe := `source "$1"
t() { COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); COMPREPLY=(); _paracfs; echo "${COMPREPLY[*]}"; }
t paracfs rejected ""
t paracfs rejected ap
t paracfs log pr
t paracfs rejected show pr
t paracfs rejected show --r
`
	r := mustRun(t, dir, "bash", "-c", probe, "probe", script)
	want := []string{"proj list show diff apply drop", "apply", "proj prune", "proj", "--raw"}
	got := strings.Split(strings.TrimSuffix(r.Stdout, "\n"), "\n")
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("bash completion probe printed %q, want %q", got, want)
	}
}

// With --allow-other, another user does not see root's refusals, may not
// apply or drop them, nor prune the log (docs/security.md).
func TestRejectedOwnerOnly(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root, to act as nobody")
	}
	p := newProject(t)
	nobody := &sysUser{Name: "nobody", Uid: 65534, Gid: 65534}
	for _, d := range []string{filepath.Dir(paracfsBin), testsBase, runDir, p.Root} {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o011 != 0o011 {
			os.Chmod(d, st.Mode().Perm()|0o011)
		}
	}
	mount(t, p, "--allow-other")
	if r := pyWrite(t, p.Root, ".parac/project.yaml", "trunc", []byte("x: [\n")); r.Errno != 74 {
		t.Fatalf("invalid write: %+v", r)
	}
	row := rejectedFor(t, rejectedList(t, p), "project.yaml", "invalid")
	logBefore := readFile(t, p.backing(logRel))

	if r := nobody.run(t, p.Root, paracfsBin, "rejected"); r.Code != 0 || strings.Contains(r.Stdout, row.ID) {
		t.Errorf("nobody's paracfs rejected: %s\nwant a list without root's refusal", r)
	}
	for _, args := range [][]string{{"rejected", "drop", row.ID}, {"rejected", "apply", row.ID}} {
		if r := nobody.run(t, p.Root, paracfsBin, args...); r.Code != 1 {
			t.Errorf("nobody's paracfs %s: %s\nwant a failure", strings.Join(args, " "), r)
		}
	}
	if r := nobody.run(t, p.Root, paracfsBin, "log", "prune", "--keep-days", "0"); r.Code != 1 || !strings.Contains(r.Stderr, "only root and the user running the daemon") {
		t.Errorf("nobody's paracfs log prune: %s\nwant a refusal naming who may", r)
	}
	if _, err := os.Stat(p.backing(row.Kept)); err != nil {
		t.Errorf("the kept write is gone after nobody's drop: %v", err)
	}
	if got := readFile(t, p.backing(logRel)); !bytes.Equal(got, logBefore) {
		t.Errorf("the log changed after nobody's refused prune and drop:\n%s", got[len(logBefore):])
	}
	// status is for everyone who can enter the mount.
	r := nobody.run(t, p.Root, paracfsBin, "status", "--json", "--wait", ownStatusWait, p.Dir)
	if r.Code != 0 || !strings.Contains(r.Stdout, `"invalid": 1`) {
		t.Errorf("nobody's paracfs status --json: %s\nwant the counters", r)
	}
}
