package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// histVersion is one line of `paracfs history --json`.
type histVersion struct {
	Rev     int64     `json:"revision"`
	Time    time.Time `json:"time"`
	Op      string    `json:"op"`
	Pid     int       `json:"pid"`
	Uid     uint32    `json:"uid"`
	Command string    `json:"command"`
	Size    int64     `json:"size"`
	SHA256  string    `json:"sha256"`
}

// history runs `paracfs history --json FILE` from p.Root, with FILE as a
// user types it (.parac/...).
func history(t *testing.T, p *project, rel string) []histVersion {
	t.Helper()
	r := paracfs(t, p.Root, "history", "--json", ".parac/"+rel)
	if r.Code != 0 {
		t.Fatalf("paracfs history --json .parac/%s: %s", rel, r)
	}
	var out []histVersion
	for _, line := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		var v histVersion
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("paracfs history --json: line %q: %v", line, err)
		}
		out = append(out, v)
	}
	return out
}

func revs(vs []histVersion) string {
	var s []string
	for _, v := range vs {
		s = append(s, strconv.FormatInt(v.Rev, 10))
	}
	return strings.Join(s, " ")
}

// historyFile is where the mount shows revision rev of rel.
func historyFile(p *project, rel string, rev int64) string {
	return p.path(".paracfs/history/" + rel + "/" + strconv.FormatInt(rev, 10) + filepath.Ext(rel))
}

// Several commits through the mount: each is listed with its writer and
// size, readable with show and as a read-only file through the mount, the
// version from before the mount included, and diff compares them.
func TestHistoryListShowDiff(t *testing.T) {
	p := newProject(t)
	before := fixture(t, stateRel) // revision: 11
	mount(t, p)

	committed := map[int64][]byte{11: before}
	var pids []int
	start := time.Now().Truncate(time.Second) // history shows times to the second at least
	for i, progress := range []string{"41%", "42%", "43%"} {
		cur := readFile(t, p.path(stateRel))
		next := bytes.Replace(cur, []byte("progress: 4"), []byte("progress: "+progress+" #"), 1)
		if i == 2 {
			next = append(next, "extra_key: added\n"...)
		}
		res := pyWrite(t, p.Root, ".parac/"+stateRel, "trunc", next)
		if res.Errno != 0 {
			t.Fatalf("commit %d: %+v", i, res)
		}
		pids = append(pids, res.Pid)
		committed[rev(t, p.path(stateRel))] = readFile(t, p.path(stateRel))
	}

	vs := history(t, p, stateRel)
	if revs(vs) != "11 12 13 14" {
		t.Fatalf("history lists revisions %q, want 11 (before the mount) and 12 13 14", revs(vs))
	}
	if vs[0].Op != "before" || vs[0].Pid != 0 {
		t.Errorf("revision 11: op %q pid %d, want the version from before the mount (op before, no pid)", vs[0].Op, vs[0].Pid)
	}
	for i, v := range vs[1:] {
		if v.Op != "commit" || v.Pid != pids[i] || v.Command != "python3" || v.Size != int64(len(committed[v.Rev])) || v.SHA256 != sha256hex(committed[v.Rev]) {
			t.Errorf("revision %d: %+v, want a commit by python3[%d] of %d bytes", v.Rev, v, pids[i], len(committed[v.Rev]))
		}
		// Event order, not a duration: the commit's time lies between the
		// test's start and now.
		if v.Time.Before(start) || v.Time.After(time.Now()) {
			t.Errorf("revision %d: time %s, want between the commits' start %s and now", v.Rev, v.Time, start)
		}
	}

	// The table a person reads.
	r := paracfs(t, p.Root, "history", ".parac/"+stateRel)
	if r.Code != 0 {
		t.Fatalf("paracfs history: %s", r)
	}
	lines := strings.Split(strings.TrimSpace(r.Stdout), "\n")
	if len(lines) != 6 || !regexp.MustCompile(`^REV\s+TIME\s+OP\s+PID\s+COMMAND\s+SIZE`).MatchString(lines[0]) {
		t.Fatalf("paracfs history printed:\n%s\nwant a header, 4 versions and where they are kept", r.Stdout)
	}
	last := fmt.Sprintf(`^14\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+commit\s+%d\s+python3\s+%d\s+\(current\)$`, pids[2], len(committed[14]))
	if !regexp.MustCompile(last).MatchString(lines[4]) {
		t.Errorf("history line %q does not match %s", lines[4], last)
	}
	if want := "versions kept in .parac/.paracfs/history/" + stateRel + "/"; lines[5] != want {
		t.Errorf("history's last line %q, want %q", lines[5], want)
	}
	// The same table as log's and rejected's: no trailing blanks, colour
	// only on a terminal or when asked.
	if strings.Contains(r.Stdout, " \n") || strings.Contains(r.Stdout, "\x1b[") {
		t.Errorf("paracfs history to a pipe: %q\nwant no trailing blanks and no colour", r.Stdout)
	}
	if r := paracfs(t, p.Root, "history", "--color=always", ".parac/"+stateRel); !strings.Contains(r.Stdout, "\x1b[1m(current)\x1b[0m") {
		t.Errorf("paracfs history --color=always: %q\nwant the current version marked in bold", r.Stdout)
	}

	// show, and the same bytes as a file through the mount.
	for rv, want := range committed {
		r := paracfs(t, p.Root, "show", fmt.Sprintf(".parac/%s@%d", stateRel, rv))
		if r.Code != 0 || r.Stdout != string(want) {
			t.Errorf("paracfs show @%d: exit %d, %d bytes, want the %d bytes committed (stderr %s)", rv, r.Code, len(r.Stdout), len(want), r.Stderr)
		}
		if got := readFile(t, historyFile(p, stateRel, rv)); !bytes.Equal(got, want) {
			t.Errorf("%s through the mount: %q, want %q", historyFile(p, stateRel, rv), got, want)
		}
	}
	// Old versions are read-only through the mount.
	old := historyFile(p, stateRel, 12)
	if _, err := os.OpenFile(old, os.O_WRONLY, 0); errnoOf(err) != syscall.EPERM && errnoOf(err) != syscall.EROFS && errnoOf(err) != syscall.EACCES {
		t.Errorf("open %s for writing: %v, want EPERM", old, err)
	}
	if err := os.Remove(old); errnoOf(err) != syscall.EPERM {
		t.Errorf("unlink %s: %v, want EPERM", old, err)
	}
	if res := pyWrite(t, p.Root, old, "trunc", []byte("x: 1\n")); res.errno() != syscall.EPERM {
		t.Errorf("open(\"w\") of %s: %+v, want EPERM", old, res)
	}
	if got := readFile(t, old); !bytes.Equal(got, committed[12]) {
		t.Errorf("%s changed to %q", old, got)
	}

	// diff: the same hunks as diff -u of the two versions.
	r = paracfs(t, p.Root, "diff", ".parac/"+stateRel+"@12", ".parac/"+stateRel+"@14")
	want := run(t, "/", "diff", "-u", historyFile(p, stateRel, 12), historyFile(p, stateRel, 14))
	wantHunks := want.Stdout[strings.Index(want.Stdout, "\n@@")+1:]
	if r.Code != 0 || r.Stdout != "--- "+stateRel+"@12\n+++ "+stateRel+"@14\n"+wantHunks {
		t.Errorf("paracfs diff @12 @14: %s\nwant the hunks of diff -u:\n%s", r, wantHunks)
	}
	// @B is short for FILE@B; no second argument compares with the current file.
	if r2 := paracfs(t, p.Root, "diff", ".parac/"+stateRel+"@12", "@14"); r2.Stdout != r.Stdout {
		t.Errorf("paracfs diff FILE@12 @14 = %q, want what FILE@12 FILE@14 gives", r2.Stdout)
	}
	if r2 := paracfs(t, p.Root, "diff", ".parac/"+stateRel+"@12"); !strings.HasPrefix(r2.Stdout, "--- "+stateRel+"@12\n+++ "+stateRel+"\n") || !strings.HasSuffix(r2.Stdout, r.Stdout[strings.Index(r.Stdout, "\n@@")+1:]) {
		t.Errorf("paracfs diff FILE@12 (against the current file): %s", r2)
	}
	if r2 := paracfs(t, p.Root, "diff", ".parac/"+stateRel+"@14"); r2.Code != 0 || r2.Stdout != "" || r2.Stderr != stateRel+"@14 and "+stateRel+" have the same content\n" {
		t.Errorf("paracfs diff of the current revision against the file: %s, want no diff and a note saying so, as rejected diff does", r2)
	}
	// --keys: the keys that changed, down inside the mappings that changed.
	r = paracfs(t, p.Root, "diff", "--keys", ".parac/"+stateRel+"@12", "@14")
	if wantKeys := "~ current_phase.progress: \"41%\" → \"43%\"\n+ extra_key: \"added\"\n"; r.Code != 0 || r.Stdout != wantKeys {
		t.Errorf("paracfs diff --keys @12 @14: %s\nwant:\n%s", r, wantKeys)
	}
	// Coloured on demand, as paracfs rejected diff is.
	r = paracfs(t, p.Root, "diff", "--color=always", ".parac/"+stateRel+"@12", "@14")
	if !strings.Contains(r.Stdout, "\x1b[31m-  progress: 41%") || !strings.Contains(r.Stdout, "\x1b[32m+  progress: 43%") {
		t.Errorf("paracfs diff --color=always: %q\nwant removed lines red and added lines green", r.Stdout)
	}

	// Not mounted: history and show read DIR directly; restore says it needs the mount.
	unmountAll(t, p.Root)
	if got := history(t, p, stateRel); revs(got) != "11 12 13 14" {
		t.Errorf("history while unmounted: %q", revs(got))
	}
	if r := paracfs(t, p.Root, "show", ".parac/"+stateRel+"@13"); r.Code != 0 || r.Stdout != string(committed[13]) {
		t.Errorf("paracfs show while unmounted: %s", r)
	}
	if r := paracfs(t, p.Root, "restore", ".parac/"+stateRel+"@13"); r.Code != 1 || !strings.Contains(r.Stderr, "restore needs the mount") {
		t.Errorf("paracfs restore while unmounted: %s, want exit 1 saying it needs the mount", r)
	}
	if !bytes.Equal(readFile(t, p.path(stateRel)), committed[14]) {
		t.Errorf("a refused restore changed the file")
	}
}

// restore is an ordinary commit: revision-checked, logged as a restore,
// and refused as a conflict when someone committed since the base it was
// asked with.
func TestHistoryRestore(t *testing.T) {
	p := newProject(t)
	const rel = "roadmap/roadmap.yaml" // no revision field
	mount(t, p)
	orig := readFile(t, p.path(rel))
	for i := 1; i <= 3; i++ {
		if res := pyWrite(t, p.Root, ".parac/"+rel, "trunc", append(append([]byte(nil), orig...), fmt.Sprintf("# edit %d\n", i)...)); res.Errno != 0 {
			t.Fatal(res)
		}
	}
	if rev(t, p.path(rel)) != 3 {
		t.Fatalf("revision %d after 3 commits", rev(t, p.path(rel)))
	}
	n := len(logLines(t, p.Dir))

	r := paracfs(t, p.Root, "restore", ".parac/"+rel+"@0")
	if r.Code != 0 || r.Stdout != "restored "+rel+"@0 as revision 4\n" {
		t.Fatalf("paracfs restore @0: %s", r)
	}
	if got := readFile(t, p.path(rel)); !bytes.Equal(got, orig) {
		t.Errorf("after restoring the version from before the mount: %q, want %q", got, orig)
	}
	if rev(t, p.path(rel)) != 4 {
		t.Errorf("revision %d after the restore, want 4", rev(t, p.path(rel)))
	}
	es := logSince(t, p.Dir, n)
	if len(es) != 1 || es[0].Op != "restore" || es[0].From != rel+"@0" || *es[0].Revision != 4 || *es[0].OldRevision != 3 || es[0].SHA256 != sha256hex(orig) {
		t.Errorf("log after the restore: %v, want one restore line from %s@0, revision 3 → 4", es, rel)
	}
	vs := history(t, p, rel)
	if revs(vs) != "0 1 2 3 4" || vs[4].Op != "restore" || vs[4].Command != "paracfs" {
		t.Errorf("history after the restore: %+v", vs)
	}
	// Restoring what the file already holds commits nothing.
	n = len(logLines(t, p.Dir))
	if r := paracfs(t, p.Root, "restore", ".parac/"+rel+"@4"); r.Code != 0 || !strings.Contains(r.Stdout, "nothing committed") || rev(t, p.path(rel)) != 4 || len(logLines(t, p.Dir)) != n {
		t.Errorf("restore of the current content: %s", r)
	}

	// A restore asked with an older base (what the command read before
	// someone else committed): refused as a conflict, the file untouched,
	// the bytes kept, one conflict line.
	v2 := readFile(t, historyFile(p, rel, 2))
	ok, _, e := controlAsk(t, p, `{"op":"restore","path":"`+rel+`","rev":2,"base":3}`)
	if ok || !strings.Contains(e, "conflict refused") {
		t.Errorf("restore with base 3 at revision 4: ok=%v error=%q, want a conflict", ok, e)
	}
	if got := readFile(t, p.path(rel)); !bytes.Equal(got, orig) || rev(t, p.path(rel)) != 4 {
		t.Errorf("a refused restore changed the file: revision %d, %q", rev(t, p.path(rel)), got)
	}
	es = logSince(t, p.Dir, n)
	if len(es) != 1 || es[0].Op != "conflict" || es[0].Kept == "" {
		t.Fatalf("log after the refused restore: %v, want one conflict line with the bytes kept", es)
	}
	if kept := readFile(t, p.backing(es[0].Kept)); !bytes.Equal(kept, v2) {
		t.Errorf("kept bytes %q, want revision 2's", kept)
	}

	// Deleted (the name keeps its revision, 4), then restored.
	if err := os.Remove(p.path(rel)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(eventWait)
	for {
		if _, err := os.Stat(p.backing(rel)); os.IsNotExist(err) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if r := paracfs(t, p.Root, "restore", ".parac/"+rel+"@2"); r.Code != 0 || r.Stdout != "restored "+rel+"@2 as revision 5\n" {
		t.Errorf("restore of a deleted file: %s", r)
	}
	if got := readFile(t, p.path(rel)); !bytes.Equal(got, v2) {
		t.Errorf("restored deleted file: %q, want %q", got, v2)
	}

	// Mistakes: a clear message, nothing changed.
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"restore", ".parac/" + rel + "@99"}, 1, "revision 99 is not kept"},
		{[]string{"restore", ".parac/" + rel}, 2, "name a revision, as FILE@REV"},
		{[]string{"show", ".parac/" + rel}, 2, "name a revision"},
		{[]string{"show", ".parac/" + rel + "@-1"}, 2, "a revision number after the @"},
		{[]string{"show", ".parac/" + rel + "@abc"}, 2, `a revision number after the @, not "abc" (see paracfs history .parac/` + rel + ")"},
		{[]string{"diff", ".parac/" + rel + "@1x"}, 2, "a revision number after the @"},
		{[]string{"restore", ".parac/" + rel + "@v2"}, 2, "a revision number after the @"},
		{[]string{"history", ".parac/nothing-here.yaml"}, 1, "nothing-here.yaml: no such file, and no history kept"},
		{[]string{"history", ".parac/.gitignore"}, 1, ".gitignore: not a managed file"},
		{[]string{"show", ".parac/" + rel + "@1@2"}, 1, "no such file"},
		{[]string{"history", "/etc/passwd"}, 1, "not inside a directory paracfs serves"},
		{[]string{"history"}, 2, "name a FILE"},
		{[]string{"diff", "--keys", ".parac/agents/specs/coder.md@0"}, 2, "--keys compares YAML or JSON"},
	} {
		r := paracfs(t, p.Root, c.args...)
		if r.Code != c.code || !strings.Contains(r.Stderr, c.want) {
			t.Errorf("paracfs %s: %s\nwant exit %d and %q", strings.Join(c.args, " "), r, c.code, c.want)
		}
	}
	if rev(t, p.path(rel)) != 5 {
		t.Errorf("revision %d after the mistakes, want 5", rev(t, p.path(rel)))
	}
}

// A file with a revision field: the restored bytes carry the next
// revision, like any commit, and a stale revision in them cannot slip
// through.
func TestHistoryRestoreRevisionField(t *testing.T) {
	p := newProject(t)
	mount(t, p)
	for _, s := range []string{"a", "b"} {
		cur := readFile(t, p.path(stateRel))
		if res := pyWrite(t, p.Root, ".parac/"+stateRel, "trunc", append(cur, "note_"+s+": x\n"...)); res.Errno != 0 {
			t.Fatal(res)
		}
	}
	if r := paracfs(t, p.Root, "restore", ".parac/"+stateRel+"@11"); r.Code != 0 || r.Stdout != "restored "+stateRel+"@11 as revision 14\n" {
		t.Fatalf("restore @11: %s", r)
	}
	want := bytes.Replace(fixture(t, stateRel), []byte("revision: 11"), []byte("revision: 14"), 1)
	if got := readFile(t, p.path(stateRel)); !bytes.Equal(got, want) {
		t.Errorf("after restore @11:\n%s\nwant the version from before the mount with revision: 14", got)
	}
}

// The bounds: at most --history-versions versions per file, none older
// than --history-days (the newest always kept); pruned names take their
// objects with them once no other name holds them.
func TestHistoryBounds(t *testing.T) {
	p := newProject(t)
	const rel = "agents/specs/coder.md"
	mount(t, p, "--history-versions", "3")
	write := func(s string) {
		t.Helper()
		if res := pyWrite(t, p.Root, ".parac/"+rel, "trunc", []byte(s)); res.Errno != 0 {
			t.Fatal(res)
		}
	}
	for i := 1; i <= 6; i++ {
		write(fmt.Sprintf("# version %d\n", i))
	}
	if got := revs(history(t, p, rel)); got != "4 5 6" {
		t.Errorf("with --history-versions 3, history lists %q, want 4 5 6", got)
	}
	names := func() []string {
		ents, err := os.ReadDir(p.backing(".paracfs/history/" + rel))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range ents {
			out = append(out, e.Name())
		}
		return out
	}
	if got := strings.Join(names(), " "); got != ".index.jsonl 4.md 5.md 6.md" {
		t.Errorf("history folder holds %q, want the index and 4.md 5.md 6.md", got)
	}
	objects := func() int {
		ents, err := os.ReadDir(p.backing(".paracfs/objects"))
		if err != nil {
			t.Fatal(err)
		}
		return len(ents)
	}
	if n := objects(); n != 3 {
		t.Errorf(".paracfs/objects holds %d objects, want 3 (the pruned ones removed)", n)
	}
	// The age bound counts from a version's replacement. Versions 5 and 6
	// are made two days old in the index (the daemon reads it again at the
	// next mount), so 4 and 5 were replaced two days ago, and 6 is
	// replaced by 7 now: no clock in the test.
	unmountCmd(t, p)
	index := p.backing(".paracfs/history/" + rel + "/.index.jsonl")
	lines := strings.SplitAfter(string(readFile(t, index)), "\n")
	old := time.Now().Add(-48 * time.Hour).UTC().Format(time.RFC3339Nano)
	aged := 0
	for i, l := range lines {
		if strings.HasPrefix(l, `{"revision":5,`) || strings.HasPrefix(l, `{"revision":6,`) {
			lines[i] = regexp.MustCompile(`"time":"[^"]*"`).ReplaceAllString(l, `"time":"`+old+`"`)
			aged++
		}
	}
	if aged != 2 {
		t.Fatalf("the index has %d lines of revisions 5 and 6, want 2:\n%s", aged, strings.Join(lines, ""))
	}
	if err := os.WriteFile(index, []byte(strings.Join(lines, "")), 0o600); err != nil {
		t.Fatal(err)
	}
	mount(t, p, "--history-versions", "3", "--history-days", "1")
	write("# version 7\n")
	// 4 and 5 were replaced more than the bound ago; 6 only now.
	if got := revs(history(t, p, rel)); got != "6 7" {
		t.Errorf("with --history-days 1, 4 and 5 replaced two days ago, history lists %q, want 6 (replaced just now) and 7", got)
	}
	if n := objects(); n != 2 {
		t.Errorf(".paracfs/objects holds %d objects, want 2", n)
	}
	// Bad bounds are refused on the command line.
	for _, f := range [][]string{{"--history-versions", "-1"}, {"--history-days", "-1"}} {
		r := paracfs(t, p.Root, append([]string{"mount"}, append(f, p.Root+"/nowhere")...)...)
		if r.Code != 2 || !strings.Contains(r.Stderr, f[0]) {
			t.Errorf("paracfs mount %s: %s, want exit 2 naming the flag", strings.Join(f, " "), r)
		}
	}
}

// The same content committed twice is stored once: both versions are
// names of one file.
func TestHistoryDedup(t *testing.T) {
	p := newProject(t)
	const rel = "agents/specs/reviewer.md"
	mount(t, p)
	for _, s := range []string{"A\n", "B\n", "A\n"} {
		if res := pyWrite(t, p.Root, ".parac/"+rel, "trunc", []byte(s)); res.Errno != 0 {
			t.Fatal(res)
		}
	}
	if got := revs(history(t, p, rel)); got != "0 1 2 3" {
		t.Fatalf("history %q, want 0 (before the mount) 1 2 3", got)
	}
	var st1, st2, st3 unix.Stat_t
	for _, c := range []struct {
		rev int64
		st  *unix.Stat_t
	}{{1, &st1}, {2, &st2}, {3, &st3}} {
		if err := unix.Stat(p.backing(".paracfs/history/"+rel+"/"+strconv.FormatInt(c.rev, 10)+".md"), c.st); err != nil {
			t.Fatal(err)
		}
	}
	if st1.Ino != st3.Ino || st1.Nlink != 3 {
		t.Errorf("revisions 1 and 3 (same bytes): inodes %d and %d, %d links; want one file with 3 links (2 versions and its object)", st1.Ino, st3.Ino, st1.Nlink)
	}
	if st2.Ino == st1.Ino {
		t.Errorf("revision 2 (other bytes) shares revision 1's inode")
	}
	// Through the mount the two names show as one file too, read-only.
	var m1, m3 unix.Stat_t
	unix.Stat(historyFile(p, rel, 1), &m1)
	unix.Stat(historyFile(p, rel, 3), &m3)
	if m1.Ino != m3.Ino || m1.Mode&0o222 != 0 {
		t.Errorf("through the mount: inodes %d, %d, mode %o; want one read-only file", m1.Ino, m3.Ino, m1.Mode)
	}
}

// Every history command has --help, and the top-level usage lists them.
func TestHistoryHelp(t *testing.T) {
	t.Parallel()
	for _, c := range []string{"history", "show", "diff", "restore"} {
		r := paracfs(t, "/", c, "--help")
		if r.Code != 0 || !strings.Contains(r.Stderr+r.Stdout, "Usage: paracfs "+c+" ") {
			t.Errorf("paracfs %s --help: %s", c, r)
		}
	}
	r := paracfs(t, "/", "--help")
	for _, c := range []string{"history", "show", "diff", "restore"} {
		if !regexp.MustCompile(`(?m)^  ` + c + ` `).MatchString(r.Stderr + r.Stdout) {
			t.Errorf("paracfs --help does not list %s:\n%s", c, r.Stderr)
		}
	}
}

// A change made behind the mount's back is kept as a version of its own
// when paracfs notices it, so the bytes of every revision can be found.
func TestHistoryExternalChange(t *testing.T) {
	p := newProject(t)
	const rel = "agents/specs/coder.md"
	mount(t, p)
	if res := pyWrite(t, p.Root, ".parac/"+rel, "trunc", []byte("# through the mount\n")); res.Errno != 0 {
		t.Fatal(res)
	}
	outside := []byte("# written directly into the backing directory\n")
	if err := os.WriteFile(p.backing(rel), outside, 0o644); err != nil {
		t.Fatal(err)
	}
	readFile(t, p.path(rel)) // paracfs notices the change here
	vs := history(t, p, rel)
	if revs(vs) != "0 1 2" || vs[2].Op != "external" || vs[2].SHA256 != sha256hex(outside) {
		t.Fatalf("history after a change behind the mount's back: %+v, want revision 2 kept as op external", vs)
	}
	if got := readFile(t, historyFile(p, rel, 2)); !bytes.Equal(got, outside) {
		t.Errorf("revision 2 through the mount: %q, want %q", got, outside)
	}
}

// --history-versions 0 keeps no history at all.
func TestHistoryOff(t *testing.T) {
	p := newProject(t)
	mount(t, p, "--history-versions", "0")
	if res := pyWrite(t, p.Root, ".parac/project.yaml", "trunc", []byte("name: x\n")); res.Errno != 0 {
		t.Fatal(res)
	}
	if ents, err := os.ReadDir(p.backing(".paracfs/history")); err != nil || len(ents) != 0 {
		t.Errorf(".paracfs/history with --history-versions 0: %v %v, want it empty", ents, err)
	}
	if r := paracfs(t, p.Root, "history", ".parac/project.yaml"); r.Code != 1 || !strings.Contains(r.Stderr, "no history kept") {
		t.Errorf("paracfs history with history off: %s", r)
	}
}

// A renamed directory takes the histories of its files along, as it takes
// their revisions: the history of a moved file goes on under its new name.
func TestHistoryDirectoryMove(t *testing.T) {
	p := newProject(t)
	mount(t, p)
	if res := pyWrite(t, p.Root, ".parac/agents/specs/coder.md", "trunc", []byte("# v1\n")); res.Errno != 0 {
		t.Fatal(res)
	}
	if err := os.Rename(p.path("agents"), p.path("crew")); err != nil {
		t.Fatal(err)
	}
	if res := pyWrite(t, p.Root, ".parac/crew/specs/coder.md", "trunc", []byte("# v2\n")); res.Errno != 0 {
		t.Fatal(res)
	}
	vs := history(t, p, "crew/specs/coder.md")
	if revs(vs) != "0 1 2" || vs[0].Op != "before" || vs[2].Op != "commit" {
		t.Fatalf("history of the moved file: %+v, want 0 (before the mount), 1, 2", vs)
	}
	if got := readFile(t, historyFile(p, "crew/specs/coder.md", 1)); string(got) != "# v1\n" {
		t.Errorf("revision 1 under the new name: %q", got)
	}
	if _, err := os.Stat(p.path(".paracfs/history/agents")); !os.IsNotExist(err) {
		t.Errorf("history under the old name after the move: %v, want none", err)
	}
}

// What `paracfs restore` says when someone commits between its reading of
// the revision and its commit: a conflict, refused, with what to do next.
// Here the other writer changes the file behind the mount's back while
// holding P.lock, which the restore's commit waits for.
func TestHistoryRestoreConflictCLI(t *testing.T) {
	p := newProject(t)
	const rel = "roadmap/roadmap.yaml"
	mount(t, p)
	if res := pyWrite(t, p.Root, ".parac/"+rel, "trunc", []byte("phase: one\n")); res.Errno != 0 {
		t.Fatal(res)
	}
	lk, err := os.OpenFile(p.backing(rel+".lock"), os.O_RDONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer lk.Close()
	if err := unix.Flock(int(lk.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(paracfsBin, "restore", ".parac/"+rel+"@0")
	cmd.Dir = p.Root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Once the command has the control file open, it has read the revision.
	deadline := time.Now().Add(eventWait)
	for !hasOpen(cmd.Process.Pid, ".paracfs/control") {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatal("paracfs restore never opened .paracfs/control")
		}
		time.Sleep(10 * time.Millisecond)
	}
	behind := []byte("phase: changed behind the mount's back\n")
	if err := os.WriteFile(p.backing(rel), behind, 0o644); err != nil {
		t.Fatal(err)
	}
	unix.Flock(int(lk.Fd()), unix.LOCK_UN)
	err = cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 1 || !strings.Contains(stderr.String(), "conflict refused") ||
		!strings.Contains(stderr.String(), "someone committed "+rel+" after revision 1: see paracfs history "+rel+", then restore again") {
		t.Errorf("paracfs restore racing a commit: exit %d (%v)\nstdout: %s\nstderr: %s\nwant exit 1, a conflict and what to do", code, err, &stdout, &stderr)
	}
	if got := readFile(t, p.path(rel)); !bytes.Equal(got, behind) {
		t.Errorf("after the refused restore: %q, want the other writer's %q", got, behind)
	}
}

// hasOpen reports whether process pid has a file whose path ends in suffix open.
func hasOpen(pid int, suffix string) bool {
	dir := "/proc/" + strconv.Itoa(pid) + "/fd"
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && strings.HasSuffix(l, suffix) {
			return true
		}
	}
	return false
}
