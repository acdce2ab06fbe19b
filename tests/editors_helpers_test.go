package tests

// Helpers for the editor, lock and external-change tests: interactive tools
// driven through tmux, vim in Ex mode, mounts on a separate mountpoint, and
// checks shared by those tests.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ---------------------------------------------------------------------------
// tmux

// tmuxSession is one interactive program running in a detached tmux
// session of a private tmux server.
type tmuxSession struct {
	t    *testing.T
	sock string
	pid  int // the pane's process: the program itself
}

// startTmux runs argv in a fresh tmux server (its own socket) with cwd
// dir, on a 160×48 screen. Its cleanup kills the server and makes sure the
// program is gone before the mounts are taken down.
func startTmux(t *testing.T, dir string, argv ...string) *tmuxSession {
	t.Helper()
	needTool(t, "tmux")
	sockDir, err := os.MkdirTemp("", "paracfs-tmux-")
	if err != nil {
		t.Fatal(err)
	}
	s := &tmuxSession{t: t, sock: filepath.Join(sockDir, "s")}
	t.Cleanup(func() {
		exec.Command("tmux", "-S", s.sock, "kill-server").Run()
		if s.pid > 0 && !waitGone(s.pid, 5*time.Second) { // cleanup, not a check
			syscall.Kill(s.pid, syscall.SIGKILL)
			waitGone(s.pid, 2*time.Second)
		}
		os.RemoveAll(sockDir)
	})
	args := append([]string{"-S", s.sock, "-f", "/dev/null", "new-session", "-d", "-s", "main",
		"-x", "160", "-y", "48", "-c", dir, "--"}, argv...)
	cmd := exec.Command("tmux", args...)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tmux %s: %v: %s", strings.Join(args, " "), err, out)
	}
	out, err := exec.Command("tmux", "-S", s.sock, "display-message", "-p", "-t", "main", "#{pane_pid}").Output()
	if err != nil {
		t.Fatalf("tmux display-message: %v", err)
	}
	s.pid = parsePid(t, string(out))
	return s
}

// send sends tmux key names ("Enter", "Escape", "C-o") or text.
func (s *tmuxSession) send(keys ...string) {
	s.t.Helper()
	args := append([]string{"-S", s.sock, "send-keys", "-t", "main"}, keys...)
	if out, err := exec.Command("tmux", args...).CombinedOutput(); err != nil {
		s.t.Fatalf("tmux send-keys %q: %v: %s", keys, err, out)
	}
}

// typeText types text literally (no key-name lookup).
func (s *tmuxSession) typeText(text string) {
	s.t.Helper()
	if out, err := exec.Command("tmux", "-S", s.sock, "send-keys", "-t", "main", "-l", text).CombinedOutput(); err != nil {
		s.t.Fatalf("tmux send-keys -l %q: %v: %s", text, err, out)
	}
}

// screen is what the pane shows now ("" once the program has exited).
func (s *tmuxSession) screen() string {
	out, _ := exec.Command("tmux", "-S", s.sock, "capture-pane", "-p", "-t", "main").Output()
	return string(out)
}

// waitScreen waits until the pane shows text and returns the screen.
func (s *tmuxSession) waitScreen(text string, d time.Duration) string {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		sc := s.screen()
		if strings.Contains(sc, text) {
			return sc
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after %s the screen does not show %q:\n%s", d, text, sc)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// waitScreenAny waits until the pane shows one of texts and returns the
// screen.
func (s *tmuxSession) waitScreenAny(d time.Duration, texts ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		sc := s.screen()
		for _, text := range texts {
			if strings.Contains(sc, text) {
				return sc
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("after %s the screen shows none of %q:\n%s", d, texts, sc)
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// waitExit waits until the program in the pane has exited.
func (s *tmuxSession) waitExit(d time.Duration) {
	s.t.Helper()
	if !waitGone(s.pid, d) {
		s.t.Fatalf("the program in tmux (pid %d) did not exit within %s; screen:\n%s", s.pid, d, s.screen())
	}
}

// edStatusLine is the last non-empty line of a screen (vim's and less's
// message line; for nano, see nanoStatus).
func edStatusLine(screen string) string {
	lines := strings.Split(strings.TrimRight(screen, "\n "), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return ""
}

// lastLines is the last n non-empty lines of a screen.
func lastLines(screen string, n int) []string {
	var out []string
	lines := strings.Split(screen, "\n")
	for i := len(lines) - 1; i >= 0 && len(out) < n; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			out = append([]string{l}, out...)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// vim

// vimBase is how the tests start vim: no vimrc, no viminfo, not vi-compatible.
var vimBase = []string{"-N", "-u", "NONE", "-i", "NONE"}

// vimState is what vim reported about itself (see vimDump).
type vimState struct {
	Pid      int
	Modified bool
	Errmsg   string
	Swap     string   // swapname('%')
	SwapSeen bool     // the swap file existed
	Lines    []string // the buffer
}

// bytes is what vim writes for its buffer (with 'fixeol').
func (v vimState) bytes() []byte { return []byte(strings.Join(v.Lines, "\n") + "\n") }

// vimDump is an Ex command that makes vim write its state to out.
func vimDump(out string) string {
	return "call writefile([getpid(), &modified, v:errmsg, swapname('%'), filereadable(swapname('%'))] + getline(1, '$'), '" + out + "')"
}

// readVimState reads a state file written by vimDump.
func readVimState(t *testing.T, path string) vimState {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("vim did not write its state to %s: %v", path, err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) < 5 {
		t.Fatalf("vim's state file %s is short: %q", path, b)
	}
	var v vimState
	v.Pid = parsePid(t, lines[0])
	v.Modified = lines[1] == "1"
	v.Errmsg = lines[2]
	v.Swap = lines[3]
	v.SwapSeen = lines[4] == "1"
	v.Lines = lines[5:]
	return v
}

// waitVimState waits for a state file that vim in tmux writes.
func waitVimState(t *testing.T, s *tmuxSession, path string) vimState {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for {
		if b, err := os.ReadFile(path); err == nil && bytes.Count(b, []byte("\n")) >= 5 {
			return readVimState(t, path)
		}
		if time.Now().After(deadline) {
			t.Fatalf("vim did not write %s; screen:\n%s", path, s.screen())
		}
		time.Sleep(30 * time.Millisecond)
	}
}

// vimEx runs vim in Ex mode (-es) on rel in p.Dir, feeding it the Ex
// commands on stdin, then makes it write its state (vimDump) and quit
// without saving again. It returns vim's exit and its state.
func vimEx(t *testing.T, p *project, rel string, cmds ...string) (result, vimState) {
	t.Helper()
	needTool(t, "vim")
	out, err := os.CreateTemp(p.Root, "vim-state-")
	if err != nil {
		t.Fatal(err)
	}
	out.Close()
	os.Remove(out.Name())
	script := strings.Join(cmds, "\n") + "\n" + vimDump(out.Name()) + "\nqa!\n"
	args := append(append([]string{}, vimBase...), "-es", rel)
	r := runInput(t, p.Dir, script, "vim", args...)
	return r, readVimState(t, out.Name())
}

// ---------------------------------------------------------------------------
// Mounts elsewhere

// edMountElsewhere runs `paracfs mount [flags] DIR MP` with MP a fresh empty
// directory beside DIR, so that DIR stays reachable directly, the way
// paracle's library works on it while the mount is used by others. It
// returns MP; its cleanup unmounts it.
func edMountElsewhere(t *testing.T, p *project, flags ...string) string {
	t.Helper()
	mp := filepath.Join(p.Root, "mnt")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unmountAll(t, p.Root) })
	args := append(append([]string{"mount"}, flags...), p.Dir, mp)
	r := run(t, p.Root, paracfsBin, args...)
	if r.Code != 0 {
		t.Fatalf("paracfs %s: %s\ndaemon.log:\n%s", strings.Join(args, " "), r, p.daemonLogPlain())
	}
	if !isMounted(mp) {
		t.Fatalf("paracfs %s returned 0 but nothing is mounted on %s", strings.Join(args, " "), mp)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(mp, &st); err != nil || st.Type != fuseSuperMagic {
		t.Fatalf("%s does not answer as a FUSE filesystem: %v, type %#x", mp, err, st.Type)
	}
	if isMounted(p.Dir) {
		t.Fatalf("paracfs %s mounted over DIR too", strings.Join(args, " "))
	}
	var d struct {
		Pid int `json:"pid"`
	}
	if b, err := os.ReadFile(p.meta("daemon.json")); err == nil && json.Unmarshal(b, &d) == nil && d.Pid > 0 {
		p.addPid(d.Pid)
	}
	return mp
}

// ---------------------------------------------------------------------------
// Processes

// edLineChan delivers the lines a reader prints, until EOF.
func edLineChan(r *bufio.Reader) <-chan string {
	ch := make(chan string, 64)
	go func() {
		defer close(ch)
		for {
			s, err := r.ReadString('\n')
			if s != "" {
				ch <- strings.TrimSpace(s)
			}
			if err != nil {
				return
			}
		}
	}()
	return ch
}

// edNextLine waits up to d for the next line; ok is false on timeout or EOF.
func edNextLine(ch <-chan string, d time.Duration) (string, bool) {
	select {
	case s, ok := <-ch:
		return s, ok
	case <-time.After(d):
		return "", false
	}
}

// edBg is a command running in the background in its own process group.
type edBg struct {
	cmd   *exec.Cmd
	lines <-chan string
	out   *syncBuffer // stderr
	done  chan struct{}
	err   error
}

// edStartBg starts name args in dir, in a process group of its own (killed
// whole by the cleanup), with its stdout as lines.
func edStartBg(t *testing.T, dir, name string, args ...string) *edBg {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	b := &edBg{cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	cmd.Stderr = b.out
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	b.lines = edLineChan(bufio.NewReader(stdout))
	go func() { b.err = cmd.Wait(); close(b.done) }()
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-b.done
	})
	return b
}

// ---------------------------------------------------------------------------
// Checks

// edCheckDirNames asserts that dir (listed through the mount and in the
// backing directory) holds exactly the names want: no editor leftovers.
func edCheckDirNames(t *testing.T, dirs []string, want ...string) {
	t.Helper()
	edCheckDirNamesOpt(t, dirs, want, nil)
}

// edCheckDirNamesOpt is edCheckDirNames with names that may be there or not.
func edCheckDirNamesOpt(t *testing.T, dirs []string, want, optional []string) {
	t.Helper()
	want = append([]string(nil), want...)
	sort.Strings(want)
	for _, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Errorf("listing %s: %v", dir, err)
			continue
		}
		var got []string
		for _, e := range ents {
			if !edContains(optional, e.Name()) {
				got = append(got, e.Name())
			}
		}
		sort.Strings(got)
		if strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("%s holds %q, want %q (and maybe %q)", dir, got, want, optional)
		}
	}
}

// edAssertContent is assertContent with a short diff instead of both files.
// edCheckRefusedSave asserts what an editor's refused save of the state
// file left: the committed bytes kept (revision 12, unchanged), and one new
// log line since the n-th, the invalid refusal of the editor's pid with
// the refused bytes kept.
func edCheckRefusedSave(t *testing.T, p *project, n int, kept []byte, pid int, refused []byte) {
	t.Helper()
	edAssertContent(t, p, stateRel, kept)
	if got := rev(t, p.path(stateRel)); got != 12 {
		t.Errorf("revision after a refused save = %d, want 12 (unchanged)", got)
	}
	lines := logSince(t, p.Dir, n)
	edCheckNoTempNames(t, lines)
	if len(lines) != 1 {
		t.Errorf("want exactly 1 new log line for the refused save (invalid), got %d:%s", len(lines), edDescribe(lines))
		return
	}
	checkRefusalLine(t, p, lines[0], stateRel, "invalid", "EBADMSG", pid, refused)
}

func edAssertContent(t *testing.T, p *project, rel string, want []byte) {
	t.Helper()
	for _, where := range []struct{ name, path string }{{"through the mount", p.path(rel)}, {"in the backing directory", p.backing(rel)}} {
		got, err := os.ReadFile(where.path)
		if err != nil {
			t.Errorf("%s %s: %v", rel, where.name, err)
		} else if !bytes.Equal(got, want) {
			t.Errorf("%s %s: %s", rel, where.name, lineDiff(got, want))
		}
	}
}

// edAssertContentAt asserts that the file at path holds want.
func edAssertContentAt(t *testing.T, path string, want []byte) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Errorf("%s: %v", path, err)
	} else if !bytes.Equal(got, want) {
		t.Errorf("%s: %s", path, lineDiff(got, want))
	}
}

// lineDiff describes where got first differs from want.
func lineDiff(got, want []byte) string {
	g, w := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < len(g) || i < len(w); i++ {
		var gl, wl string
		if i < len(g) {
			gl = g[i]
		}
		if i < len(w) {
			wl = w[i]
		}
		if gl != wl || i >= len(g) || i >= len(w) {
			return fmt.Sprintf("%d bytes, want %d; first difference at line %d: got %q, want %q", len(got), len(want), i+1, gl, wl)
		}
	}
	return fmt.Sprintf("%d bytes, want %d", len(got), len(want))
}

// edCheckKeys asserts that a commit line lists exactly the changed top-level
// keys want (and maybe revision, which every commit changes).
func edCheckKeys(t *testing.T, e logEntry, want ...string) {
	t.Helper()
	for _, k := range want {
		if _, ok := e.Keys[k]; !ok {
			t.Errorf("log line keys lack the changed key %q\n%s", k, e)
		}
	}
	for k := range e.Keys {
		if k != "revision" && !edContains(want, k) {
			t.Errorf("log line keys list %q, which did not change (want only %q)\n%s", k, want, e)
		}
	}
}

func edContains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// edCheckNoTempNames asserts that no log line names an editor's or a tool's
// temp or backup file instead of the real one.
func edCheckNoTempNames(t *testing.T, es []logEntry) {
	t.Helper()
	for _, e := range es {
		base := filepath.Base(e.Path)
		if strings.HasSuffix(base, "~") || base == "4913" || strings.HasSuffix(base, ".swp") || strings.HasSuffix(base, ".swx") ||
			strings.HasPrefix(base, ".#") || strings.HasPrefix(base, "#") || strings.HasPrefix(base, "sed") || strings.HasSuffix(base, ".tmp") {
			t.Errorf("the log names a temp, swap, lock or backup file: %s", e)
		}
	}
}

// edDescribe is a short form of log lines for failure messages.
func edDescribe(es []logEntry) string {
	var b strings.Builder
	for _, e := range es {
		b.WriteString("\n  ")
		b.WriteString(e.Op + " " + e.Path + " rev " + ptrStr(e.OldRevision) + "→" + ptrStr(e.Revision) + " by " + e.Command + "[" + strconv.Itoa(e.ProcessID) + "]")
		if e.From != "" {
			b.WriteString(" from " + e.From)
		}
		if e.Errno != "" {
			b.WriteString(" " + e.Errno + " (" + e.Reason + ")")
		}
	}
	if len(es) == 0 {
		return " (none)"
	}
	return b.String()
}
