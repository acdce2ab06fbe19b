package tests

// Editors through the mount: vim (each way it saves), nano and emacs, run
// unmodified. Every save must be committed (revision +1, stamped), logged
// exactly once under the real name, and an invalid save refused with the
// editor keeping its buffer and the refused bytes kept.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// vimModes are the ways vim saves, as its options choose:
//   - writebackup with backupcopy=auto or no: rename x.yaml to x.yaml~
//     (auto first probes the directory with a file named 4913), create a
//     new x.yaml, write, fsync, close, delete x.yaml~;
//   - backupcopy=yes: copy x.yaml to x.yaml~, then overwrite x.yaml in place
//     (open without O_TRUNC, ftruncate, write, fsync, close);
//   - nowritebackup: overwrite x.yaml in place without any backup;
//   - backup: as writebackup, but x.yaml~ stays;
//   - nofsync: no fsync, so the commit (and a refusal) comes at close().
var vimModes = []struct {
	name   string
	set    string
	backup bool   // x.yaml~ stays after the save
	errmsg string // what vim reports when the commit is refused
}{
	{"backupcopy=auto", "set backupcopy=auto writebackup nobackup", false, "E667: Fsync failed"},
	{"backupcopy=yes", "set backupcopy=yes writebackup nobackup", false, "E667: Fsync failed"},
	{"backupcopy=no", "set backupcopy=no writebackup nobackup", false, "E667: Fsync failed"},
	{"backupcopy=auto nowritebackup", "set backupcopy=auto nowritebackup nobackup", false, "E667: Fsync failed"},
	{"backupcopy=yes nowritebackup", "set backupcopy=yes nowritebackup nobackup", false, "E667: Fsync failed"},
	{"backupcopy=no nowritebackup", "set backupcopy=no nowritebackup nobackup", false, "E667: Fsync failed"},
	{"backup backupcopy=auto", "set backup backupcopy=auto", true, "E667: Fsync failed"},
	{"backup backupcopy=yes", "set backup backupcopy=yes", true, "E667: Fsync failed"},
	{"nofsync", "set nofsync", false, "E512: Close failed"},
}

// vim -es saves current_state.yaml with each backup/writebackup option: the
// save is committed with revision 12 stamped, logged once under the real
// name (never x.yaml~, 4913 or .x.yaml.swp), and leaves nothing behind; an
// invalid edit is refused: vim reports the error, keeps its buffer
// modified, the file and its revision are unchanged, one log line says
// why, and the refused bytes are kept.
func TestVimSave(t *testing.T) {
	t.Parallel()
	needTool(t, "vim")
	for _, m := range vimModes {
		t.Run(m.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			mount(t, p)
			dirs := []string{p.path("memory/context"), p.backing("memory/context")}
			names := []string{"current_state.yaml"}
			if m.backup {
				names = append(names, "current_state.yaml~")
			}
			n := len(logLines(t, p.Dir))

			r, st := vimEx(t, p, stateRel, m.set, `%s/test_count: 412/test_count: 413/`, "let v:errmsg = ''", "w")
			if r.Code != 0 || st.Errmsg != "" || st.Modified {
				t.Fatalf("vim :w: %s\nv:errmsg %q, modified %v\nlog:%s", r, st.Errmsg, st.Modified, edDescribe(logSince(t, p.Dir, n)))
			}
			if !st.SwapSeen || filepath.Base(st.Swap) != ".current_state.yaml.swp" {
				t.Errorf("while editing, vim's swap file %q existed: %v; want .current_state.yaml.swp beside the file", st.Swap, st.SwapSeen)
			}
			want := replace(t, replace(t, fixture(t, stateRel), "test_count: 412", "test_count: 413"), "revision: 11", "revision: 12")
			edAssertContent(t, p, stateRel, want)
			if got := rev(t, p.path(stateRel)); got != 12 {
				t.Errorf("revision after vim's save = %d, want 12", got)
			}
			lines := logSince(t, p.Dir, n)
			edCheckNoTempNames(t, lines)
			if len(lines) != 1 {
				t.Errorf("want exactly 1 new log line for one save, got %d:%s", len(lines), edDescribe(lines))
			}
			if c := forPath(lines, stateRel); len(c) > 0 {
				e := c[len(c)-1]
				checkCommitLine(t, e, stateRel, st.Pid, "vim", 11, 12, want)
				edCheckKeys(t, e, "metrics")
			}
			edCheckDirNames(t, dirs, names...)
			if m.backup {
				// The backup of the last save holds the version before it.
				if got, err := os.ReadFile(p.path(stateRel + "~")); err != nil || !bytes.Equal(got, fixture(t, stateRel)) {
					t.Errorf("vim's backup %s~: %v\n%s\nwant the version before the save", stateRel, err, short(string(got)))
				}
			}

			// An invalid edit.
			before := readFile(t, p.path(stateRel))
			n = len(logLines(t, p.Dir))
			r, st = vimEx(t, p, stateRel, m.set, `call append('$', 'broken: [')`, "let v:errmsg = ''", "w")
			t.Logf("vim on a refused save: exit %d, v:errmsg %q", r.Code, st.Errmsg)
			if r.Code == 0 {
				t.Errorf("vim -es exited 0 after a refused :w")
			}
			if !strings.Contains(st.Errmsg, m.errmsg) {
				t.Errorf("vim reported %q, want %q", st.Errmsg, m.errmsg)
			}
			if !st.Modified {
				t.Errorf("after the refused :w, vim's buffer is not modified: vim believes it was saved")
			}
			refused := append(append([]byte{}, before...), "broken: [\n"...)
			if got := st.bytes(); !bytes.Equal(got, refused) {
				t.Errorf("vim's buffer after the refused :w:\n%s\nwant the edited text\n%s", short(string(got)), short(string(refused)))
			}
			edCheckRefusedSave(t, p, n, before, st.Pid, refused)
			// After a failed write vim may keep its backup x.yaml~ (scratch),
			// or have renamed it back.
			edCheckDirNamesOpt(t, dirs, []string{"current_state.yaml"}, []string{"current_state.yaml~"})
		})
	}
}

// 200 saves by vim with its default options (backupcopy=auto: the file is
// renamed to x.yaml~ before the new one is written) while a reader loops
// through the mount: the reader never gets ENOENT nor an invalid file, and
// each save is one commit.
func TestVimSaveLoopWhileReading(t *testing.T) {
	t.Parallel()
	needTool(t, "vim")
	p := newProject(t)
	mount(t, p)
	const saves = 200
	n := len(logLines(t, p.Dir))
	reader := startReader(t, p, stateRel, "revision")
	script := `for i in $(seq 1 ` + strconv.Itoa(saves) + `); do
	vim -N -u NONE -i NONE -es -c "%s/test_count: [0-9]*/test_count: $i/" -c wq "$1" || { echo "save $i: vim exited $?"; exit 1; }
done`
	r := run(t, p.Dir, "bash", "-c", script, "vim-loop", stateRel)
	reader.finish(t, p, n, stateRel, strconv.Itoa(saves)+" vim saves")
	if r.Code != 0 {
		t.Fatalf("vim loop: %s\nlast log lines:%s", r, edDescribe(edLastN(logSince(t, p.Dir, n), 5)))
	}
	got := readFile(t, p.path(stateRel))
	if !bytes.Contains(got, []byte("test_count: "+strconv.Itoa(saves)+"\n")) {
		t.Errorf("final file lacks the last save:\n%s", got)
	}
	if rv := rev(t, p.path(stateRel)); rv != 11+saves {
		t.Errorf("revision = %d, want %d (one per save)", rv, 11+saves)
	}
	lines := logSince(t, p.Dir, n)
	edCheckNoTempNames(t, lines)
	ops := map[string]int{}
	for _, e := range lines {
		ops[e.Op]++
	}
	if len(lines) != saves || ops["commit"] != saves {
		t.Errorf("the log has %d new lines (%v), want %d commit lines, one per save", len(lines), ops, saves)
	}
	edCheckDirNames(t, []string{p.path("memory/context"), p.backing("memory/context")}, "current_state.yaml")
}

func edLastN(es []logEntry, n int) []logEntry {
	if len(es) > n {
		return es[len(es)-n:]
	}
	return es
}

// vim in a terminal: its swap file is a plain scratch file through the
// mount (created when the file is opened, written by :preserve, never
// logged), a :w commits, and after vim is killed its swap recovers the
// unsaved text with vim -r.
func TestVimSwapFile(t *testing.T) {
	t.Parallel()
	needTool(t, "vim")
	p := newProject(t)
	mount(t, p)
	n := len(logLines(t, p.Dir))
	const swp = "memory/context/.current_state.yaml.swp"
	s := startTmux(t, p.Dir, append(append([]string{"vim"}, vimBase...), stateRel)...)
	s.waitScreen("Current project state", eventWait)

	b, err := os.ReadFile(p.path(swp))
	if err != nil || !bytes.HasPrefix(b, []byte("b0VIM")) {
		t.Fatalf("vim's swap file %s through the mount: %v, starts %q; want a vim swap file", swp, err, b[:min(len(b), 8)])
	}
	if _, err := os.Stat(p.backing(swp)); err != nil {
		t.Errorf("vim's swap file is not in the backing directory: %v", err)
	}
	s.send("G", "o")
	s.typeText("swap_note: unsaved")
	s.send("Escape")
	s.typeText(":preserve")
	s.send("Enter")
	s.waitScreen("File preserved", eventWait)
	if b := readFile(t, p.path(swp)); !bytes.Contains(b, []byte("swap_note: unsaved")) {
		t.Errorf("after :preserve the swap file through the mount lacks the unsaved line (%d bytes)", len(b))
	}
	edAssertContent(t, p, stateRel, fixture(t, stateRel))
	if lines := logSince(t, p.Dir, n); len(lines) != 0 {
		t.Errorf("editing without saving logged%s", edDescribe(lines))
	}

	s.typeText(":w")
	s.send("Enter")
	s.waitScreen("written", eventWait)
	want := append(replace(t, fixture(t, stateRel), "revision: 11", "revision: 12"), "swap_note: unsaved\n"...)
	edAssertContent(t, p, stateRel, want)
	lines := logSince(t, p.Dir, n)
	edCheckNoTempNames(t, lines)
	if len(lines) != 1 {
		t.Errorf("want 1 log line for one :w, got %d:%s", len(lines), edDescribe(lines))
	} else {
		checkCommitLine(t, lines[0], stateRel, s.pid, "vim", 11, 12, want)
	}

	// Unsaved text, then vim dies: the swap file keeps it.
	s.send("o")
	s.typeText("swap_lost: recovered")
	s.send("Escape")
	s.typeText(":preserve")
	s.send("Enter")
	s.waitScreen("File preserved", eventWait)
	edKillPid(t, s.pid)
	if _, err := os.Stat(p.path(swp)); err != nil {
		t.Fatalf("after vim was killed its swap file is gone: %v", err)
	}
	out := filepath.Join(p.Root, "recovered.txt")
	r := runInput(t, p.Dir, "call writefile(getline(1, '$'), '"+out+"')\nqa!\n", "vim", append(append([]string{}, vimBase...), "-es", "-r", stateRel)...)
	rec, err := os.ReadFile(out)
	if err != nil || !bytes.Contains(rec, []byte("swap_lost: recovered")) || !bytes.Contains(rec, []byte("swap_note: unsaved")) {
		t.Errorf("vim -r %s: %s\nrecovered: %v\n%s\nwant the unsaved line back", stateRel, r, err, short(string(rec)))
	}
	if err := os.Remove(p.path(swp)); err != nil {
		t.Errorf("removing the swap file through the mount: %v", err)
	}
	edAssertContent(t, p, stateRel, want)
	lines = logSince(t, p.Dir, n)
	edCheckNoTempNames(t, lines)
	if len(lines) != 1 {
		t.Errorf("want only the one commit in the log, got %d:%s", len(lines), edDescribe(lines))
	}
	edCheckDirNames(t, []string{p.path("memory/context"), p.backing("memory/context")}, "current_state.yaml")
}

func edKillPid(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatal("no pid to kill")
	}
	if p, err := os.FindProcess(pid); err == nil {
		p.Kill()
	}
	if !waitGone(pid, eventWait) {
		t.Fatalf("pid %d survived SIGKILL", pid)
	}
}

// vimErrRe finds a vim error message (E667: Fsync failed).
var vimErrRe = regexp.MustCompile(`\bE[0-9]+: `)

// Stale read-modify-write by an editor that knows nothing of revisions: vim
// opens the file, another process commits a change, vim's :w (answered
// "y" when vim asks whether to overwrite the changed file) must fail with a
// conflict. vim keeps its buffer modified, the other process's commit
// stays, one conflict line is logged (vim putting its backup back is no
// change) and vim's bytes are kept. With and without a revision field.
func TestVimStaleReadModifyWrite(t *testing.T) {
	t.Parallel()
	needTool(t, "vim")
	cases := []struct {
		name, rel string
		other     func(b []byte) []byte // the other process's change
		rev0      int64
	}{
		{"no revision field", "config/logging.yaml", func(b []byte) []byte { return bytes.Replace(b, []byte("level: info"), []byte("level: warn"), 1) }, 0},
		{"revision field", stateRel, func(b []byte) []byte { return bytes.Replace(b, []byte("progress: 40%"), []byte("progress: 45%"), 1) }, 11},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			mount(t, p)
			orig := fixture(t, c.rel)
			first := strings.SplitN(string(orig), "\n", 2)[0]
			s := startTmux(t, p.Dir, append(append([]string{"vim"}, vimBase...), c.rel)...)
			s.waitScreen(first, eventWait)

			// Another process commits a change.
			other := c.other(orig)
			if res := pyWrite(t, p.Dir, c.rel, "trunc", other); res.Errno != 0 {
				t.Fatalf("the other writer: %s: %s", res.Stage, res.Error)
			}
			committed := readFile(t, p.path(c.rel))
			if got := rev(t, p.path(c.rel)); got != c.rev0+1 {
				t.Fatalf("revision after the other commit = %d, want %d", got, c.rev0+1)
			}
			n := len(logLines(t, p.Dir))

			// vim, still holding the old text, adds a line and saves.
			s.send("G", "o")
			s.typeText("extra: 1")
			s.send("Escape")
			s.typeText(":let v:errmsg = ''")
			s.send("Enter")
			s.typeText(":w")
			s.send("Enter")
			// vim notices the file changed since it read it and asks first
			// (even with :w!): the user answers yes.
			// Events, not durations: the question, or else the end of the
			// :w (its message: an error, "written", a hit-enter prompt).
			asked := false
			wDone := func(sc string) bool {
				return strings.Contains(sc, "Press ENTER") || strings.Contains(sc, "written") || vimErrRe.MatchString(edStatusLine(sc))
			}
			waitUntil(t, "vim's question whether to overwrite, or the end of its :w", func() bool {
				sc := s.screen()
				asked = strings.Contains(sc, "Do you really want to write to it (y/n)?")
				return asked || wDone(sc)
			})
			if asked {
				s.send("y")
				waitUntil(t, "the end of vim's :w", func() bool { return wDone(s.screen()) })
			} else {
				t.Logf("vim did not ask whether to overwrite the changed file")
			}
			screen := s.screen()
			t.Logf("vim shows after :w of a stale buffer: %q", lastLines(screen, 4))
			out := filepath.Join(p.Root, "vim-state")
			s.typeText(":" + vimDump(out))
			s.send("Enter")
			st := waitVimState(t, s, out)
			t.Logf("vim's v:errmsg: %q", st.Errmsg)
			vimBytes := append(append([]byte{}, orig...), "extra: 1\n"...)
			if !bytes.Equal(st.bytes(), vimBytes) {
				t.Errorf("vim's buffer:\n%s\nwant its stale text plus the new line", short(string(st.bytes())))
			}
			if !st.Modified || st.Errmsg == "" {
				t.Errorf("vim's :w! of a stale buffer succeeded (modified %v, v:errmsg %q); want it to fail with a conflict\nscreen:\n%s",
					st.Modified, st.Errmsg, screen)
			}
			edAssertContent(t, p, c.rel, committed)
			if got := rev(t, p.path(c.rel)); got != c.rev0+1 {
				t.Errorf("revision after vim's stale save = %d, want %d (unchanged)", got, c.rev0+1)
			}
			lines := logSince(t, p.Dir, n)
			edCheckNoTempNames(t, lines)
			if len(lines) == 0 && strings.Contains(st.Errmsg, "E949") {
				// vim saw the file change between its own checks and gave up
				// before writing ("File changed while writing"): the stale
				// bytes never reached paracfs, and the file and buffer are
				// as asserted above. (Seen on a loaded machine.)
				return
			}
			if len(lines) == 0 || lines[0].Op != "conflict" {
				t.Fatalf("want a conflict line for vim's save, got %d:%s", len(lines), edDescribe(lines))
			}
			checkRefusalLine(t, p, lines[0], c.rel, "conflict", "EBUSY", st.Pid, vimBytes)
			if len(lines) != 1 {
				t.Errorf("want exactly 1 new log line (vim's refused save), got %d:%s", len(lines), edDescribe(lines))
			}
		})
	}
}

// nano in a terminal (nano 7: ^O writes with open(O_TRUNC), write, fsync,
// close; --locking adds a .x.yaml.swp lock file): the save is committed and
// logged once; an invalid edit is refused, nano says "Error writing ...:
// Bad message" and still asks to save its modified buffer.
func TestNano(t *testing.T) {
	t.Parallel()
	needTool(t, "nano")
	p := newProject(t)
	mount(t, p)
	dirs := []string{p.path("memory/context"), p.backing("memory/context")}
	n := len(logLines(t, p.Dir))
	nano := []string{"nano", "--ignorercfiles", "--locking", stateRel}

	s := startTmux(t, p.Dir, nano...)
	s.waitScreen("Current project state", eventWait)
	waitUntil(t, "nano --locking's lock file .current_state.yaml.swp through the mount", func() bool {
		_, err := os.Stat(p.path("memory/context/.current_state.yaml.swp"))
		return err == nil
	})
	s.typeText("nano_edit: 1")
	s.send("Enter", "C-o")
	s.waitScreen("File Name to Write", eventWait)
	s.send("Enter")
	screen := s.waitScreen("Wrote", eventWait)
	t.Logf("nano after ^O: %q", nanoStatus(screen))
	s.send("C-x")
	s.waitExit(eventWait)

	want := append([]byte("nano_edit: 1\n"), replace(t, fixture(t, stateRel), "revision: 11", "revision: 12")...)
	edAssertContent(t, p, stateRel, want)
	if got := rev(t, p.path(stateRel)); got != 12 {
		t.Errorf("revision after nano's save = %d, want 12", got)
	}
	lines := logSince(t, p.Dir, n)
	edCheckNoTempNames(t, lines)
	if len(lines) != 1 {
		t.Errorf("want exactly 1 new log line, got %d:%s", len(lines), edDescribe(lines))
	} else {
		checkCommitLine(t, lines[0], stateRel, s.pid, "nano", 11, 12, want)
		edCheckKeys(t, lines[0], "nano_edit")
	}
	edCheckDirNames(t, dirs, "current_state.yaml")

	// An invalid edit.
	n = len(logLines(t, p.Dir))
	s = startTmux(t, p.Dir, nano...)
	s.waitScreen("nano_edit: 1", eventWait)
	s.typeText("broken: [")
	s.send("Enter", "C-o")
	s.waitScreen("File Name to Write", eventWait)
	s.send("Enter")
	screen = s.waitScreenAny(eventWait, "Error writing", "Wrote")
	msg := nanoStatus(screen)
	t.Logf("nano after a refused ^O: %q", msg)
	if !strings.Contains(msg, "Error writing") || !strings.Contains(msg, "Bad message") {
		t.Errorf("nano shows %q after a refused save, want \"Error writing ...: Bad message\"", msg)
	}
	s.send("C-x")
	s.waitScreen("Save modified buffer?", eventWait) // nano still holds the edit
	s.send("n")
	s.waitExit(eventWait)
	edCheckRefusedSave(t, p, n, want, s.pid, append([]byte("broken: [\n"), want...))
	edCheckDirNames(t, dirs, "current_state.yaml")
}

// nanoStatus is nano's message line: the bracketed one near the bottom.
func nanoStatus(screen string) string {
	lines := strings.Split(screen, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "[") {
			return l
		}
	}
	return edStatusLine(screen)
}

// emacsScript edits the visited file (appends or prepends a line), checks
// its lock symlink .#f and its auto-save file #f# through the mount, saves
// with backups on, and writes what it saw as JSON to the file out.
const emacsScript = `(require 'json)
(setq make-backup-files t backup-by-copying %s)
(let* ((f buffer-file-name)
       (lock (concat (file-name-directory f) ".#" (file-name-nondirectory f)))
       (res (list (cons 'pid (emacs-pid)))))
  (goto-char (point-%s))
  (insert %q)
  (push (cons 'lock (or (file-symlink-p lock) :json-false)) res)
  (auto-save-mode 1)
  (do-auto-save t)
  (let ((asf buffer-auto-save-file-name))
    (push (cons 'autosave_name asf) res)
    (push (cons 'autosave (if (and asf (file-exists-p asf))
                              (with-temp-buffer (insert-file-contents asf) (buffer-string))
                            :json-false)) res))
  (condition-case err
      (progn (save-buffer) (push (cons 'error "") res))
    (error (push (cons 'error (error-message-string err)) res)))
  (push (cons 'modified (if (buffer-modified-p) t :json-false)) res)
  (push (cons 'buffer (buffer-string)) res)
  (push (cons 'lock_after (or (file-symlink-p lock) :json-false)) res)
  (with-temp-file %q (insert (json-encode res))))
`

type emacsReport struct {
	Pid          int    `json:"pid"`
	Lock         any    `json:"lock"`
	AutosaveName string `json:"autosave_name"`
	Autosave     any    `json:"autosave"`
	Error        string `json:"error"`
	Modified     bool   `json:"modified"`
	Buffer       string `json:"buffer"`
	LockAfter    any    `json:"lock_after"`
}

// runEmacs runs emacs --batch on rel with emacsScript.
func runEmacs(t *testing.T, p *project, rel string, copying bool, where, text string) (result, emacsReport) {
	t.Helper()
	out := filepath.Join(p.Root, fmt.Sprintf("emacs-%d.json", time.Now().UnixNano()))
	bc := "nil"
	if copying {
		bc = "t"
	}
	script := fmt.Sprintf(emacsScript, bc, where, text, out)
	r := run(t, p.Dir, "emacs", "-Q", "--batch", rel, "--eval", "(progn "+script+")")
	var rep emacsReport
	b, err := os.ReadFile(out)
	if err != nil || json.Unmarshal(b, &rep) != nil {
		t.Fatalf("emacs --batch did not report (%v): %s\n%s", err, r, b)
	}
	return r, rep
}

// emacs --batch: its lock symlink .#f, auto-save file #f# and backup f~
// all work through the mount and are never logged; the save is committed
// and logged once under the real name; an invalid edit is refused with
// "Write error: Bad message", emacs keeps its buffer modified.
func TestEmacs(t *testing.T) {
	t.Parallel()
	needTool(t, "emacs")
	for _, copying := range []bool{false, true} {
		name := "backup by rename"
		if copying {
			name = "backup-by-copying"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := newProject(t)
			mount(t, p)
			dirs := []string{p.path("memory/context"), p.backing("memory/context")}
			n := len(logLines(t, p.Dir))

			r, rep := runEmacs(t, p, stateRel, copying, "max", "emacs_edit: 1\n")
			if r.Code != 0 || rep.Error != "" {
				t.Fatalf("emacs save: %s\nerror %q\nlog:%s", r, rep.Error, edDescribe(logSince(t, p.Dir, n)))
			}
			if s, _ := rep.Lock.(string); s == "" {
				t.Errorf("emacs's lock symlink .#current_state.yaml did not exist through the mount while editing: %v", rep.Lock)
			}
			if s, _ := rep.Autosave.(string); !strings.Contains(s, "emacs_edit: 1") || filepath.Base(rep.AutosaveName) != "#current_state.yaml#" {
				t.Errorf("emacs's auto-save file %s through the mount: %s, want the edited text", rep.AutosaveName, short(fmt.Sprint(rep.Autosave)))
			}
			if rep.LockAfter != false {
				t.Errorf("emacs's lock symlink is still there after the save: %v", rep.LockAfter)
			}
			want := append(replace(t, fixture(t, stateRel), "revision: 11", "revision: 12"), "emacs_edit: 1\n"...)
			edAssertContent(t, p, stateRel, want)
			if got := rev(t, p.path(stateRel)); got != 12 {
				t.Errorf("revision after emacs's save = %d, want 12", got)
			}
			if got, err := os.ReadFile(p.path(stateRel + "~")); err != nil || !bytes.Equal(got, fixture(t, stateRel)) {
				t.Errorf("emacs's backup %s~ through the mount: %v\n%s\nwant the version before the save", stateRel, err, short(string(got)))
			}
			lines := logSince(t, p.Dir, n)
			edCheckNoTempNames(t, lines)
			if len(lines) != 1 {
				t.Errorf("want exactly 1 new log line, got %d:%s", len(lines), edDescribe(lines))
			}
			if c := forPath(lines, stateRel); len(c) > 0 {
				e := c[len(c)-1]
				checkCommitLine(t, e, stateRel, rep.Pid, "", 11, 12, want)
				if !strings.HasPrefix(e.Command, "emacs") {
					t.Errorf("log line command = %q, want emacs", e.Command)
				}
				edCheckKeys(t, e, "emacs_edit")
			}
			// Backup stays (scratch); the lock and the auto-save file are gone.
			names := []string{"current_state.yaml", "current_state.yaml~"}
			edCheckDirNames(t, dirs, names...)

			// An invalid edit.
			n = len(logLines(t, p.Dir))
			r, rep = runEmacs(t, p, stateRel, copying, "min", "broken: [\n")
			t.Logf("emacs on a refused save: %q (exit %d)", rep.Error, r.Code)
			if !strings.Contains(rep.Error, "Write error") || !strings.Contains(rep.Error, "Bad message") {
				t.Errorf("emacs reported %q for a refused save, want \"Write error: Bad message\"", rep.Error)
			}
			if !rep.Modified {
				t.Errorf("after the refused save, emacs's buffer is not modified")
			}
			refused := append([]byte("broken: [\n"), want...)
			if rep.Buffer != string(refused) {
				t.Errorf("emacs's buffer after the refused save:\n%s\nwant\n%s", short(rep.Buffer), short(string(refused)))
			}
			edCheckRefusedSave(t, p, n, want, rep.Pid, refused)
		})
	}
}
