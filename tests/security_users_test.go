package tests

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Other users against a root daemon mounted with --allow-other: the
// history, the refused bytes, the log and the control file never leak or
// grant more than the files do (docs/security.md). The attacker is nobody.

// sharedDir makes DIR/<rel> through the mount, 0777, so that
// nobody may create files in it.
func sharedDir(t *testing.T, p *project, rel string) {
	t.Helper()
	if err := os.MkdirAll(p.path(rel), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p.path(rel), 0o777); err != nil {
		t.Fatal(err)
	}
}

// A P.lock that is not a regular file, planted by another user, is refused
// at once with its own reason (ENOLCK, op lock_not_file), the bytes kept,
// rather than hanging the commit on a FIFO's open or failing it with EISDIR
// and losing the bytes. A long --lock-timeout shows that nothing waits.
func TestSecurityLockNotAFile(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	openToOthers(t, p)
	mount(t, p, "--allow-other", "--lock-timeout", "10m")
	sharedDir(t, p, "shared")
	for _, c := range []struct{ name, plant string }{
		{"fifo.yaml", "import os; os.mkfifo('shared/fifo.yaml.lock')"},
		{"dir.yaml", "import os; os.mkdir('shared/dir.yaml.lock')"},
	} {
		toolNeedPython(t)
		if r := runAsNobody(t, p.Dir, toolPython, "-c", c.plant); r.Code != 0 {
			t.Fatalf("nobody plants %s.lock: %s", c.name, r)
		}
		rel := "shared/" + c.name
		n := len(logLines(t, p.Dir))
		data := []byte("a: 1 # " + c.name + "\n")
		res := pyWrite(t, p.Dir, rel, "trunc", data)
		if res.errno() != syscall.ENOLCK || res.Stage != "close" {
			t.Errorf("root's write of %s beside a planted %s.lock: %s at %s, want ENOLCK at close", rel, c.name, res.Error, res.Stage)
		}
		es := forPath(logSince(t, p.Dir, n), rel)
		if len(es) != 1 {
			t.Fatalf("log lines for %s: %v, want one refusal", rel, es)
		}
		checkRefusalLine(t, p, es[0], rel, "lock_not_file", "ENOLCK", res.Pid, data)
		if !strings.Contains(es[0].Reason, "not a regular file") {
			t.Errorf("the reason does not say the lock is not a regular file: %s", es[0].Reason)
		}
		// The same as nobody, the planter.
		res = pyWriteAsNobody(t, p, rel, data)
		if res.errno() != syscall.ENOLCK {
			t.Errorf("nobody's write of %s: %s, want ENOLCK", rel, res.Error)
		}
	}
}

// pyWriteAsNobody runs pyWriteScript as nobody: open("w"), write, close.
func pyWriteAsNobody(t *testing.T, p *project, rel string, data []byte) pyResult {
	t.Helper()
	toolNeedPython(t)
	arg := `{"path": "` + rel + `", "flags": "trunc", "data": ` + jsonString(string(data)) + `}`
	return parsePy(t, runAsNobody(t, p.Dir, toolPython, "-c", pyWriteScript, arg))
}

func jsonString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r < 0x20:
			b.WriteString(`\u00`)
			b.WriteByte("0123456789abcdef"[r>>4])
			b.WriteByte("0123456789abcdef"[r&15])
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// nobodyParacfs runs the paracfs command as nobody in dir, from a copy of
// the binary nobody may run.
func nobodyParacfs(t *testing.T, p *project, dir string, args ...string) result {
	t.Helper()
	bin := filepath.Join(p.Root, "paracfs-bin")
	if _, err := os.Stat(bin); err != nil {
		src, err := os.Open(paracfsBin)
		if err != nil {
			t.Fatal(err)
		}
		defer src.Close()
		dst, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(dst, src); err != nil {
			t.Fatal(err)
		}
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return runAsNobody(t, dir, bin, args...)
}

// noSecret fails when what nobody could read shows secret.
func noSecret(t *testing.T, what, got, secret string) {
	t.Helper()
	if strings.Contains(got, secret) {
		t.Errorf("%s shows %q to nobody:\n%s", what, secret, short(got))
	}
}

// nobodyReads reads path as nobody: its bytes, or "" and the errno.
func nobodyReads(t *testing.T, p *project, path string) (string, syscall.Errno) {
	t.Helper()
	toolNeedPython(t)
	r := runAsNobody(t, p.Root, toolPython, "-c", `import os, sys
try:
    sys.stdout.write(open(sys.argv[1], "rb").read().decode("utf-8", "replace"))
except OSError as e:
    sys.exit(100 + e.errno)`, path)
	if r.Code >= 100 {
		return "", syscall.Errno(r.Code - 100)
	}
	if r.Code != 0 {
		t.Fatalf("python3 as nobody reading %s: %s", path, r)
	}
	return r.Stdout, 0
}

// The history of a file is for those who can read the file through its
// path now: a 0644 file in a 0700 directory keeps its versions from
// nobody (lookup, open, listing of its history folder and of the folders
// above it, the objects), mounted and not, through the command line too
// (history, show, diff). A name deleted and made again by nobody gives it
// no access to the versions the name held before; its own versions it
// reads.
func TestSecurityHistoryFollowsThePath(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	openToOthers(t, p)
	mount(t, p, "--allow-other")
	if err := os.Mkdir(p.path("private"), 0o700); err != nil {
		t.Fatal(err)
	}
	const rel = "private/p.yaml"
	for _, pin := range []string{"PIN-1111", "PIN-2222"} {
		if res := pyWrite(t, p.Dir, rel, "trunc", []byte("pin: "+pin+"\n")); res.Errno != 0 {
			t.Fatal(res.Error)
		}
	}
	if err := os.Chmod(p.path(rel), 0o644); err != nil {
		t.Fatal(err)
	}
	v1, index := historyFile(p, rel, 1), p.path(".paracfs/history/"+rel+"/.index.jsonl")
	if got := readFile(t, v1); !strings.Contains(string(got), "PIN-") {
		t.Fatalf("root reads %s: %q", v1, got)
	}
	objects, err := os.ReadDir(p.backing(".paracfs/objects"))
	if err != nil || len(objects) == 0 {
		t.Fatalf("objects: %v %v", objects, err)
	}
	object := p.path(".paracfs/objects/" + objects[0].Name())
	got := asNobodyOps(t, p.Root, "read:"+p.path(rel), "read:"+v1, "stat:"+v1, "read:"+index,
		"list:"+p.path(".paracfs/history/private"), "list:"+p.path(".paracfs/history/"+rel), "read:"+object,
		"list:"+p.path(".paracfs/objects"), "list:"+p.path(".paracfs/history"))
	wantErrnos(t, "nobody, history of a file in a 0700 directory", got, map[string]syscall.Errno{
		"read:" + p.path(rel): syscall.EACCES, "read:" + v1: syscall.EACCES, "stat:" + v1: syscall.EACCES,
		"read:" + index: syscall.EACCES, "list:" + p.path(".paracfs/history/private"): syscall.EACCES,
		"list:" + p.path(".paracfs/history/"+rel): syscall.EACCES, "read:" + object: syscall.EACCES,
		"list:" + p.path(".paracfs/objects"): syscall.EACCES, "list:" + p.path(".paracfs/history"): 0,
	})
	r := runAsNobody(t, p.Root, toolPython, "-c", "import os, sys; print(os.listdir(sys.argv[1]))", p.path(".paracfs/history"))
	if strings.Contains(r.Stdout, "private") {
		t.Errorf("nobody lists .paracfs/history and sees the mirror of a directory it may not search: %s", r.Stdout)
	}
	for _, args := range [][]string{{"history", rel}, {"show", rel + "@1"}, {"diff", rel + "@1", rel + "@2"}, {"diff", rel + "@1"}} {
		r := nobodyParacfs(t, p, p.Dir, args...)
		if r.Code == 0 {
			t.Errorf("paracfs %s as nobody succeeded: %s", strings.Join(args, " "), r)
		}
		noSecret(t, "paracfs "+strings.Join(args, " "), r.Stdout+r.Stderr, "PIN-")
	}

	// A name deleted by root and made again by nobody.
	sharedDir(t, p, "shared")
	const srel = "shared/s.yaml"
	if res := pyWrite(t, p.Dir, srel, "trunc", []byte("pin: none\n")); res.Errno != 0 {
		t.Fatal(res.Error)
	}
	if err := os.Chmod(p.path(srel), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, pin := range []string{"PIN-3333", "PIN-4444"} {
		if res := pyWrite(t, p.Dir, srel, "trunc", []byte("pin: "+pin+"\n")); res.Errno != 0 {
			t.Fatal(res.Error)
		}
	}
	secretRev := rev(t, p.path(srel))
	n := len(logLines(t, p.Dir))
	if err := os.Remove(p.path(srel)); err != nil {
		t.Fatal(err)
	}
	waitLogOp(t, p, n, srel, "delete")
	if res := pyWriteAsNobody(t, p, srel, []byte("mine: 1\n")); res.Errno != 0 {
		t.Fatalf("nobody makes %s again: %s", srel, res.Error)
	}
	revNow := rev(t, p.path(srel))
	old := historyFile(p, srel, secretRev)
	mine := historyFile(p, srel, revNow)
	got = asNobodyOps(t, p.Root, "read:"+old, "read:"+mine, "list:"+p.path(".paracfs/history/"+srel))
	wantErrnos(t, "nobody, after making a deleted name again", got, map[string]syscall.Errno{
		"read:" + old: syscall.EACCES, "read:" + mine: 0, "list:" + p.path(".paracfs/history/"+srel): 0,
	})
	for r := int64(0); r < revNow; r++ {
		b, _ := nobodyReads(t, p, historyFile(p, srel, r))
		noSecret(t, "version "+itoa(int(r))+" of "+srel, b, "PIN-")
	}
	// The index lists root's versions, but not their sha256: the hash of a
	// short secret gives it back.
	idx, e := nobodyReads(t, p, p.path(".paracfs/history/"+srel+"/.index.jsonl"))
	if e != 0 || !strings.Contains(idx, sha256hex([]byte("mine: 1\n"))) {
		t.Errorf("nobody reads the index of the name it made again: %v\n%s", e, idx)
	}
	for _, pin := range []string{"PIN-3333", "PIN-4444"} {
		noSecret(t, "the index of "+srel, idx, sha256hex([]byte("pin: "+pin+"\n")))
	}
	r = nobodyParacfs(t, p, p.Dir, "show", srel+"@"+itoa(int(secretRev)))
	if r.Code == 0 {
		t.Errorf("nobody shows root's old version of the name it made again: %s", r)
	}
	noSecret(t, "paracfs show of root's version", r.Stdout+r.Stderr, "PIN-")
	r = nobodyParacfs(t, p, p.Dir, "history", srel)
	noSecret(t, "paracfs history "+srel, r.Stdout+r.Stderr, "PIN-")
	if r := nobodyParacfs(t, p, p.Dir, "show", srel+"@"+itoa(int(revNow))); r.Code != 0 || !strings.Contains(r.Stdout, "mine: 1") {
		t.Errorf("nobody shows its own version of %s: %s", srel, r)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(p.backing(".paracfs/history/"+srel), &st); err != nil || st.Uid != 0 || st.Mode&0o777 != 0o700 {
		t.Errorf("the history folder of %s in DIR: uid %d mode %o (%v), want root's, 0700", srel, st.Uid, st.Mode&0o777, err)
	}

	// Unmounted, the history is root's alone.
	unmountCmd(t, p)
	got = asNobodyOps(t, p.Root, "read:"+p.meta("history", rel, "1.yaml"), "list:"+p.meta("history"),
		"read:"+p.meta("history", srel, filepath.Base(mine)))
	wantErrnos(t, "nobody, unmounted", got, map[string]syscall.Errno{
		"read:" + p.meta("history", rel, "1.yaml"): syscall.EACCES, "list:" + p.meta("history"): syscall.EACCES,
		"read:" + p.meta("history", srel, filepath.Base(mine)): syscall.EACCES,
	})
	r = nobodyParacfs(t, p, p.Dir, "show", rel+"@1")
	noSecret(t, "paracfs show unmounted", r.Stdout+r.Stderr, "PIN-")
}

// waitLogOp waits for a line of op on rel after the log's first n lines
// (a removal is finished, and logged, after a grace period).
func waitLogOp(t *testing.T, p *project, n int, rel, op string) logEntry {
	t.Helper()
	for {
		for _, e := range forPath(logSince(t, p.Dir, n), rel) {
			if e.Op == op {
				return e
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The log and status, which everyone may read, carry no value and no
// reason quoting one of a file that not everyone may read through its
// path: a 0644 file in a 0700 directory, or a 0600 file. The values show
// as hidden, the reasons say hidden; root (who may read the file) sees
// the reason in status. Checked in the log through the mount and in DIR,
// in the daemon's own log, and with paracfs log and status run as nobody.
func TestSecurityLogAndStatusHideValues(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	openToOthers(t, p)
	mount(t, p, "--allow-other")
	if err := os.Mkdir(p.path("private"), 0o700); err != nil {
		t.Fatal(err)
	}
	sharedDir(t, p, "shared")
	const prel, srel = "private/p.yaml", "shared/s.yaml"
	n := len(logLines(t, p.Dir))
	for _, rel := range []string{prel, srel} {
		if res := pyWrite(t, p.Dir, rel, "trunc", []byte("pin: none\n")); res.Errno != 0 {
			t.Fatal(res.Error)
		}
	}
	if err := os.Chmod(p.path(srel), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{prel, srel} {
		if res := pyWrite(t, p.Dir, rel, "trunc", []byte("pin: PIN-1111\n")); res.Errno != 0 {
			t.Fatal(res.Error)
		}
		// A bad revision, quoted back in the reason.
		if res := pyWrite(t, p.Dir, rel, "trunc", []byte("revision: PIN-2222\npin: PIN-3333\n")); res.errno() != syscall.EBADMSG {
			t.Fatalf("bad revision in %s: %s", rel, res.Error)
		}
	}
	// Root, who may read the files, sees the reasons in status.
	r := paracfs(t, p.Dir, "status", "--json", "--wait", ownStatusWait, p.Dir)
	if !strings.Contains(r.Stdout, "PIN-2222") {
		t.Errorf("root's status does not show the reason quoting the bad revision (the test would prove nothing): %s", short(r.Stdout))
	}
	es := logSince(t, p.Dir, n)
	var hiddenKeys, hiddenReasons int
	for _, e := range es {
		if e.Op == "commit" && strings.Contains(e.Raw, `"pin":{"hidden":true}`) {
			hiddenKeys++
		}
		if e.Op == "invalid" && strings.HasPrefix(e.Reason, "hidden") {
			hiddenReasons++
		}
	}
	if hiddenKeys != 2 || hiddenReasons != 2 {
		t.Errorf("commit lines naming pin as hidden: %d, refusal lines with a hidden reason: %d; want 2 and 2:\n%v", hiddenKeys, hiddenReasons, es)
	}
	logText, e := nobodyReads(t, p, p.path(logRel))
	if e != 0 {
		t.Fatalf("nobody reads the log: %v", e)
	}
	noSecret(t, "the change log through the mount", logText, "PIN-")
	if b, e := nobodyReads(t, p, p.path(".paracfs/daemon.log")); e == 0 {
		noSecret(t, "the daemon's log", b, "PIN-")
	}
	for _, args := range [][]string{{"log"}, {"log", "--json"}, {"status"}, {"status", "--json"}} {
		r := nobodyParacfs(t, p, p.Dir, args...)
		if r.Code != 0 {
			t.Errorf("paracfs %s as nobody: %s", strings.Join(args, " "), r)
		}
		noSecret(t, "paracfs "+strings.Join(args, " "), r.Stdout+r.Stderr, "PIN-")
	}
	// Root's file deleted, its name made again by nobody, who may read
	// that new file: root's refusals of the name stay hidden from nobody.
	n = len(logLines(t, p.Dir))
	if err := os.Remove(p.path(srel)); err != nil {
		t.Fatal(err)
	}
	waitLogOp(t, p, n, srel, "delete")
	if res := pyWriteAsNobody(t, p, srel, []byte("mine: 1\n")); res.Errno != 0 {
		t.Fatalf("nobody makes %s again: %s", srel, res.Error)
	}
	for _, args := range [][]string{{"status"}, {"status", "--json"}} {
		r := nobodyParacfs(t, p, p.Dir, args...)
		if r.Code != 0 || !strings.Contains(r.Stdout, "hidden") {
			t.Errorf("paracfs %s as nobody, after it made %s again: %s", strings.Join(args, " "), srel, r)
		}
		noSecret(t, "paracfs "+strings.Join(args, " ")+" after nobody made "+srel+" again", r.Stdout+r.Stderr, "PIN-")
	}
	unmountCmd(t, p)
	logText, _ = nobodyReads(t, p, p.path(logRel))
	noSecret(t, "the change log in DIR", logText, "PIN-")
}

// nobodyControl sends one request to the control file as nobody and
// returns the reply.
func nobodyControl(t *testing.T, p *project, req string) string {
	t.Helper()
	toolNeedPython(t)
	r := runAsNobody(t, p.Root, toolPython, "-c", `import os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.write(fd, sys.argv[2].encode())
os.lseek(fd, 0, 0)
sys.stdout.write(os.read(fd, 1 << 20).decode())`, p.path(".paracfs/control"), req)
	if r.Code != 0 {
		t.Fatalf("nobody's control request %s: %s", req, r)
	}
	return r.Stdout
}

// keptOf returns the kept file named by the newest refusal of rel after
// the log's first n lines.
func keptOf(t *testing.T, p *project, n int, rel string) string {
	t.Helper()
	var kept string
	for _, e := range forPath(logSince(t, p.Dir, n), rel) {
		if e.Kept != "" {
			kept = e.Kept
		}
	}
	if kept == "" {
		t.Fatalf("no refusal of %s keeps its bytes: %v", rel, forPath(logSince(t, p.Dir, n), rel))
	}
	return kept
}

// Restore and rejected apply act as their caller. nobody cannot bring back
// root's deleted 0600 file by writing {"op":"restore"} to the control file
// or with paracfs restore; it cannot apply or drop root's refused bytes.
// Its own refused write it lists, shows, applies and drops with paracfs
// rejected, and what it applies is its own file.
func TestSecurityRestoreAndApplyAsCaller(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	openToOthers(t, p)
	mount(t, p, "--allow-other")
	sharedDir(t, p, "shared")
	const srel = "shared/s.yaml"
	if res := pyWrite(t, p.Dir, srel, "trunc", []byte("pin: none\n")); res.Errno != 0 {
		t.Fatal(res.Error)
	}
	if err := os.Chmod(p.path(srel), 0o600); err != nil {
		t.Fatal(err)
	}
	if res := pyWrite(t, p.Dir, srel, "trunc", []byte("pin: PIN-5555\n")); res.Errno != 0 {
		t.Fatal(res.Error)
	}
	secretRev := rev(t, p.path(srel))
	n := len(logLines(t, p.Dir))
	if err := os.Remove(p.path(srel)); err != nil {
		t.Fatal(err)
	}
	waitLogOp(t, p, n, srel, "delete")
	reply := nobodyControl(t, p, `{"op":"restore","path":"`+srel+`","rev":`+itoa(int(secretRev))+`,"base":-1}`)
	if !strings.Contains(reply, `"ok":false`) || !strings.Contains(reply, "permission denied") {
		t.Errorf("nobody's restore of root's deleted 0600 file through the control file: %s", reply)
	}
	noSecret(t, "the restore reply", reply, "PIN-")
	r := nobodyParacfs(t, p, p.Dir, "restore", srel+"@"+itoa(int(secretRev)))
	if r.Code == 0 {
		t.Errorf("paracfs restore as nobody: %s", r)
	}
	noSecret(t, "paracfs restore", r.Stdout+r.Stderr, "PIN-")
	if _, err := os.Lstat(p.backing(srel)); !os.IsNotExist(err) {
		t.Errorf("%s is back after nobody's restores: %v", srel, err)
	}
	// Root's own restore brings the file back with its version's mode.
	if r := paracfs(t, p.Dir, "restore", srel+"@"+itoa(int(secretRev))); r.Code != 0 {
		t.Fatalf("root's paracfs restore: %s", r)
	}
	var rst syscall.Stat_t
	if err := syscall.Lstat(p.backing(srel), &rst); err != nil || rst.Mode&0o777 != 0o600 {
		t.Errorf("%s restored by root: mode %o (%v), want its version's 0600", srel, rst.Mode&0o777, err)
	}
	if b, e := nobodyReads(t, p, p.path(srel)); e != syscall.EACCES {
		t.Errorf("nobody reads root's restored %s: %v %q, want EACCES", srel, e, b)
	}

	// Root's refused bytes are not nobody's.
	const rrel = "shared/r.yaml"
	n = len(logLines(t, p.Dir))
	if res := pyWrite(t, p.Dir, rrel, "trunc", []byte("pin: [PIN-6666\n")); res.errno() != syscall.EBADMSG {
		t.Fatalf("root's invalid write: %s", res.Error)
	}
	rootKept := keptOf(t, p, n, rrel)
	for _, op := range []string{"rejected.apply", "rejected.drop"} {
		reply := nobodyControl(t, p, `{"op":"`+op+`","kept":"`+rootKept+`"}`)
		if !strings.Contains(reply, `"ok":false`) || !strings.Contains(reply, "permission denied") {
			t.Errorf("nobody's %s of root's kept bytes: %s", op, reply)
		}
		noSecret(t, op+" reply", reply, "PIN-")
	}
	if _, err := os.Lstat(p.backing(rootKept)); err != nil {
		t.Errorf("root's kept bytes are gone after nobody's requests: %v", err)
	}
	if _, e := nobodyReads(t, p, p.path(rootKept)); e != syscall.EACCES {
		t.Errorf("nobody reads root's kept bytes through the mount: %v, want EACCES", e)
	}
	r = nobodyParacfs(t, p, p.Dir, "rejected")
	noSecret(t, "paracfs rejected", r.Stdout+r.Stderr, "r.yaml")

	// nobody's own: kept as its own, listed, shown, applied, dropped.
	const nrel = "shared/n.yaml"
	if r := runAsNobody(t, p.Dir, toolPython, "-c", "import os; os.mkfifo('"+nrel+".lock')"); r.Code != 0 {
		t.Fatalf("mkfifo: %s", r)
	}
	n = len(logLines(t, p.Dir))
	mine := []byte("mine: 1\n")
	if res := pyWriteAsNobody(t, p, nrel, mine); res.errno() != syscall.ENOLCK {
		t.Fatalf("nobody's write beside a FIFO lock: %s", res.Error)
	}
	kept := keptOf(t, p, n, nrel)
	var st syscall.Stat_t
	if err := syscall.Lstat(p.backing(kept), &st); err != nil || st.Uid != nobodyUID || st.Mode&0o777 != 0o600 {
		t.Errorf("nobody's kept bytes in DIR: uid %d mode %o (%v), want nobody's, 0600", st.Uid, st.Mode&0o777, err)
	}
	id := rejectedIDOf(kept)
	r = nobodyParacfs(t, p, p.Dir, "rejected")
	if r.Code != 0 || !strings.Contains(r.Stdout, id) {
		t.Errorf("nobody's paracfs rejected does not list its own refused write %s: %s", id, r)
	}
	if r := nobodyParacfs(t, p, p.Dir, "rejected", "show", "--raw", id); r.Code != 0 || r.Stdout != string(mine) {
		t.Errorf("nobody's paracfs rejected show %s: %s", id, r)
	}
	if err := os.Remove(p.path(nrel + ".lock")); err != nil {
		t.Fatal(err)
	}
	if r := nobodyParacfs(t, p, p.Dir, "rejected", "apply", id); r.Code != 0 {
		t.Errorf("nobody's paracfs rejected apply %s: %s", id, r)
	}
	if err := syscall.Lstat(p.backing(nrel), &st); err != nil || st.Uid != nobodyUID {
		t.Errorf("the applied file: uid %d (%v), want nobody's", st.Uid, err)
	}
	assertContent(t, p, nrel, mine)
	n = len(logLines(t, p.Dir))
	if res := pyWriteAsNobody(t, p, nrel, []byte("mine: [\n")); res.errno() != syscall.EBADMSG {
		t.Fatalf("nobody's invalid write: %s", res.Error)
	}
	kept = keptOf(t, p, n, nrel)
	if r := nobodyParacfs(t, p, p.Dir, "rejected", "drop", rejectedIDOf(kept)); r.Code != 0 {
		t.Errorf("nobody's paracfs rejected drop: %s", r)
	}
	if _, err := os.Lstat(p.backing(kept)); !os.IsNotExist(err) {
		t.Errorf("nobody's dropped bytes are still kept: %v", err)
	}
}

// rejectedIDOf is the ID paracfs rejected shows for a kept file.
func rejectedIDOf(kept string) string {
	sum := sha256.Sum256([]byte(kept))
	return hex.EncodeToString(sum[:])[:8]
}

// Kept bytes count against their writer, up to --rejected-max: past it a
// refusal keeps nothing and says why; another writer's bytes do not count.
func TestSecurityRejectedBound(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	openToOthers(t, p)
	mount(t, p, "--allow-other", "--rejected-max", "1KiB")
	sharedDir(t, p, "shared")
	bad := []byte("a: [" + strings.Repeat("x", 600) + "\n")
	n := len(logLines(t, p.Dir))
	if res := pyWrite(t, p.Dir, "shared/root.yaml", "trunc", bad); res.errno() != syscall.EBADMSG {
		t.Fatalf("root's invalid write: %s", res.Error)
	}
	for i, wantKept := range []bool{true, false} {
		rel := "shared/n" + itoa(i) + ".yaml"
		if res := pyWriteAsNobody(t, p, rel, bad); res.errno() != syscall.EBADMSG {
			t.Fatalf("nobody's invalid write %d: %s", i, res.Error)
		}
		es := forPath(logSince(t, p.Dir, n), rel)
		if len(es) != 1 {
			t.Fatalf("log lines of %s: %v", rel, es)
		}
		if got := es[0].Kept != ""; got != wantKept {
			t.Errorf("refusal %d of nobody kept its bytes: %v, want %v: %s", i, got, wantKept, es[0])
		}
		if !wantKept && !strings.Contains(es[0].Reason, "--rejected-max") {
			t.Errorf("the refusal past the bound does not say why nothing was kept: %s", es[0].Reason)
		}
	}
	if keptOf(t, p, n, "shared/root.yaml") == "" {
		t.Errorf("root's refused bytes were not kept")
	}
}

// nobodyWalk reads, as nobody, every file it can under root (following no
// symlink) and returns what it read, the paths it read and the paths it
// was refused.
const nobodyWalk = `import json, os, sys
out = {"text": "", "read": [], "denied": []}
def onerr(e):
    out["denied"].append(e.filename)
for d, dirs, files in os.walk(sys.argv[1], onerror=onerr):
    for f in files:
        p = os.path.join(d, f)
        if os.path.islink(p) or not os.path.isfile(p):
            continue
        if f == "control":
            continue
        try:
            with open(p, "rb") as fh:
                out["text"] += fh.read().decode("utf-8", "replace")
            out["read"].append(p)
        except OSError:
            out["denied"].append(p)
print(json.dumps(out))
`

type walkResult struct {
	Text   string   `json:"text"`
	Read   []string `json:"read"`
	Denied []string `json:"denied"`
}

// A secret written to files nobody may not read (a 0600 file, a 0644 file
// in a 0700 directory), committed, refused with reasons quoting it, and
// kept in the history, shows nowhere nobody can read: not in DIR through
// the mount, not in .paracfs/ (log, daemon log, history, objects,
// rejected, state), and not once unmounted. nobody cannot forge the
// revision xattr of its own file either.
func TestSecurityNothingLeaksToNobody(t *testing.T) {
	t.Parallel()
	needTool(t, "setpriv")
	p := newProject(t)
	openToOthers(t, p)
	mount(t, p, "--allow-other")
	if err := os.Mkdir(p.path("private"), 0o700); err != nil {
		t.Fatal(err)
	}
	sharedDir(t, p, "shared")
	// The sha256 of a short secret gives it back to whoever hashes the
	// guesses: none may show either.
	var sums []string
	for _, rel := range []string{"private/p.yaml", "shared/s.yaml"} {
		if res := pyWrite(t, p.Dir, rel, "trunc", []byte("pin: none\n")); res.Errno != 0 {
			t.Fatal(res.Error)
		}
		if err := os.Chmod(p.path(rel), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, data := range []string{"pin: PIN-7777\n", "pin: PIN-8888\nx: y\n"} {
			if res := pyWrite(t, p.Dir, rel, "trunc", []byte(data)); res.Errno != 0 {
				t.Fatal(res.Error)
			}
			sums = append(sums, sha256hex([]byte(data)))
		}
		for _, data := range []string{"pin: [PIN-9999\n", "revision: PIN-9998\n"} {
			if res := pyWrite(t, p.Dir, rel, "trunc", []byte(data)); res.errno() != syscall.EBADMSG {
				t.Fatalf("invalid write to %s: %s", rel, res.Error)
			}
			sums = append(sums, sha256hex([]byte(data)))
		}
		// A change behind the mount's back, noticed by root's read: its
		// stamp is kept among paracfs's data, and logged.
		outside := []byte("pin: PIN-7070\n")
		if err := os.WriteFile(p.backing(rel), outside, 0o600); err != nil {
			t.Fatal(err)
		}
		n := len(logLines(t, p.Dir))
		assertContent(t, p, rel, outside)
		waitLogOp(t, p, n, rel, "external")
		sums = append(sums, sha256hex(outside))
	}
	// nobody's own file, whose revision it tries to forge.
	if res := pyWriteAsNobody(t, p, "shared/mine.yaml", []byte("a: 1\n")); res.Errno != 0 {
		t.Fatal(res.Error)
	}
	revBefore := rev(t, p.path("shared/mine.yaml"))
	toolNeedPython(t)
	r := runAsNobody(t, p.Dir, toolPython, "-c", `import os, sys
for name in ("user.paracfs.revision", "user.paracfs.rev", "user.paracfs.x", "trusted.paracfs.rev"):
    try:
        os.setxattr("shared/mine.yaml", name, b"99")
        print("set", name)
    except OSError as e:
        print("errno", e.errno)
try:
    os.removexattr("shared/mine.yaml", "user.paracfs.revision")
    print("removed")
except OSError as e:
    print("errno", e.errno)`)
	if r.Code != 0 || strings.Count(r.Stdout, "errno 1\n") != 5 {
		t.Errorf("nobody forging user.paracfs.* and trusted.* xattrs on its own file: %s, want EPERM five times", r)
	}
	if got := rev(t, p.path("shared/mine.yaml")); got != revBefore {
		t.Errorf("revision of nobody's file after its forging attempts: %d, want %d", got, revBefore)
	}

	walk := func(where string) walkResult {
		t.Helper()
		var all walkResult
		// .paracfs is not listed in DIR: walked by name too, and
		// paracfs's data folder beside DIR.
		for _, top := range []string{where, filepath.Join(where, ".paracfs"), p.meta()} {
			r := runAsNobody(t, p.Root, toolPython, "-c", nobodyWalk, top)
			var w walkResult
			decodeLastLine(t, r, &w)
			all.Text += w.Text
			all.Read = append(all.Read, w.Read...)
			all.Denied = append(all.Denied, w.Denied...)
		}
		return all
	}
	w := walk(p.Dir)
	noSecret(t, "the mount, walked and read as nobody", w.Text, "PIN-")
	for _, sum := range sums {
		noSecret(t, "the mount, walked and read as nobody (the sha256 of a secret)", w.Text, sum)
	}
	var sawLog, sawMine bool
	for _, f := range w.Read {
		sawLog = sawLog || strings.HasSuffix(f, logRel)
		sawMine = sawMine || strings.HasSuffix(f, "/shared/mine.yaml/"+itoa(int(revBefore))+".yaml")
	}
	if !sawLog || !sawMine {
		t.Errorf("nobody's walk of the mount did not read the log (%v) or its own file's version (%v): it proves nothing\nread: %v", sawLog, sawMine, w.Read)
	}
	if got := runAsNobody(t, p.Root, toolPython, "-c", "import os, sys; print(sorted(os.listdir(sys.argv[1])))", p.path(".paracfs/rejected/shared")); strings.Contains(got.Stdout, "s.yaml") {
		t.Errorf("nobody lists root's refused writes: %s", got.Stdout)
	}
	unmountCmd(t, p)
	w = walk(p.Dir)
	noSecret(t, "DIR unmounted, walked and read as nobody", w.Text, "PIN-")
	for _, sum := range sums {
		noSecret(t, "DIR unmounted, walked and read as nobody (the sha256 of a secret)", w.Text, sum)
	}
	// Unmounted, a stamp can be set only by who may write the file.
	r = runAsNobody(t, p.Dir, toolPython, "-c", `import os
for f in ("shared/s.yaml", "private/p.yaml"):
    try:
        os.setxattr(f, "user.paracfs.rev", b"99")
        print("set", f)
    except OSError as e:
        print("errno", e.errno)`)
	if r.Code != 0 || strings.Count(r.Stdout, "errno 13\n") != 2 {
		t.Errorf("nobody forging the stamp of root's files in DIR unmounted: %s, want EACCES twice", r)
	}
	if len(w.Read) == 0 {
		t.Errorf("nobody read nothing in DIR unmounted: the walk proves nothing")
	}
}

// A user who removes another user's file and makes the name again at once
// (rm x; write x, as git or install do) makes a file of its own, with its
// own mode, as on any filesystem: not the other user's file with the old
// owner and mode, who could then read what was written.
func TestSecurityRecreatedNameIsTheCreators(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	openToOthers(t, p)
	mount(t, p, "--allow-other")
	sharedDir(t, p, "shared")
	const rel = "shared/v.yaml"
	if res := pyWriteAsNobody(t, p, rel, []byte("n: 1\n")); res.Errno != 0 {
		t.Fatal(res.Error)
	}
	if r := run(t, p.Dir, "sh", "-c", "umask 077; rm "+rel+" && printf 'pin: PIN-4545\\n' > "+rel); r.Code != 0 {
		t.Fatalf("root removes nobody's %s and writes it again: %s", rel, r)
	}
	var st syscall.Stat_t
	if err := syscall.Lstat(p.path(rel), &st); err != nil || st.Uid != 0 || st.Mode&0o777 != 0o600 {
		t.Errorf("%s made again by root: uid %d mode %o (%v), want root's, 0600", rel, st.Uid, st.Mode&0o777, err)
	}
	b, e := nobodyReads(t, p, p.path(rel))
	if e != syscall.EACCES {
		t.Errorf("nobody reads root's new %s: %v, want EACCES", rel, e)
	}
	noSecret(t, "root's new "+rel, b, "PIN-")
}
