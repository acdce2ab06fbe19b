package tests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// badCase is one write of bad input.
type badCase struct {
	name string
	rel  string
	data []byte
	// errno is the refusal wanted (0: accepted); op and reason (a
	// case-insensitive regexp) are its log line's.
	errno  syscall.Errno
	op     string
	reason string
	// accepted: the committed bytes wanted (nil: data itself).
	want []byte
}

func nested(open, mid, close string, n int) []byte {
	return []byte(strings.Repeat(open, n) + mid + strings.Repeat(close, n))
}

// yamlBomb is the "billion laughs": 9 levels of 9 aliases, 9^9 nodes.
func yamlBomb() []byte {
	var b strings.Builder
	b.WriteString("l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i <= 9; i++ {
		fmt.Fprintf(&b, "l%d: &l%d [", i, i)
		for j := 0; j < 9; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	return []byte(b.String())
}

// yamlQuadratic is one anchor of 10,000 items referenced 1,000 times.
func yamlQuadratic() []byte {
	var b strings.Builder
	b.WriteString("big: &big [")
	for i := 0; i < 10000; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("x")
	}
	b.WriteString("]\nrefs: [")
	for i := 0; i < 1000; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("*big")
	}
	b.WriteString("]\n")
	return []byte(b.String())
}

// Hostile and malformed input through the mount, each written by a python
// process with open("w"), write, close: refused quickly with one errno at
// close() (EFBIG too), the file left as it was, exactly one
// log line with a reason that says what is wrong, the refused bytes kept
// whole (too large ones too, under twice --max-size);
// or, for the unusual-but-valid inputs (a BOM in YAML, CRLF line endings,
// NUL in Markdown, unicode and newline names), committed exactly once with
// every byte but the revision scalar kept. The daemon survives it all
// within a bounded memory. Times are reported as figures.
func TestBadInput(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	const maxSize = 1 << 20
	if err := os.WriteFile(p.path("memory/context/rev.yaml"), []byte("# revision tests\nrevision: 3\nkey: value\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.path("memory/context/rev.json"), []byte("{\"revision\": 3, \"key\": \"value\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mount(t, p, "--max-size", "1MiB")
	pid := p.daemonPid(t)
	big := append([]byte("k: "), bytes.Repeat([]byte("x"), maxSize)...)
	name255 := strings.Repeat("n", 250) + ".yaml"
	cases := []badCase{
		{name: "yaml bomb (billion laughs)", rel: stateRel, data: yamlBomb(), errno: syscall.EBADMSG, op: "invalid", reason: `alias`},
		{name: "yaml quadratic aliases", rel: stateRel, data: yamlQuadratic(), errno: syscall.EBADMSG, op: "invalid", reason: `alias`},
		{name: "yaml alias cycle", rel: stateRel, data: []byte("a: &a [*a]\n"), errno: syscall.EBADMSG, op: "invalid", reason: `alias|anchor|contains`},
		{name: "yaml 10000 nested flow sequences", rel: stateRel, data: nested("[", "", "]", 10000), errno: syscall.EBADMSG, op: "invalid", reason: `deep|depth|nest`},
		{name: "yaml 10000 nested flow mappings", rel: stateRel, data: nested("{a: ", "1", "}", 10000), errno: syscall.EBADMSG, op: "invalid", reason: `deep|depth|nest`},
		{name: "yaml 10000 nested block sequences", rel: stateRel, data: append(nested("- ", "x", "", 10000), '\n'), errno: syscall.EBADMSG, op: "invalid", reason: `deep|depth|nest`},
		{name: "json 10000 nested arrays", rel: "integrations/mcp/mcp_config.json", data: nested("[", "", "]", 10000), errno: syscall.EBADMSG, op: "invalid", reason: `deep|depth|nest`},
		{name: "json 10000 nested objects", rel: "integrations/mcp/mcp_config.json", data: nested(`{"a": `, "1", "}", 10000), errno: syscall.EBADMSG, op: "invalid", reason: `deep|depth|nest`},
		{name: "jsonl line nested 10000 deep", rel: "memory/logs/events.jsonl", data: append(nested("[", "", "]", 10000), '\n'), errno: syscall.EBADMSG, op: "invalid", reason: `deep|depth|nest`},
		{name: "yaml over --max-size", rel: stateRel, data: big, errno: syscall.EFBIG, op: "too_large", reason: `large|limit|size`},
		{name: "markdown over --max-size", rel: "memory/knowledge/architecture.md", data: big, errno: syscall.EFBIG, op: "too_large", reason: `large|limit|size`},
		{name: "yaml invalid utf-8", rel: stateRel, data: []byte("a: \"caf\xe9\"\n"), errno: syscall.EBADMSG, op: "invalid", reason: `utf-8`},
		{name: "json invalid utf-8", rel: "integrations/mcp/mcp_config.json", data: []byte("{\"a\": \"\xff\xfe\"}"), errno: syscall.EBADMSG, op: "invalid", reason: `utf-8`},
		{name: "jsonl invalid utf-8", rel: "memory/logs/events.jsonl", data: []byte("{\"a\": \"\xc3\x28\"}\n"), errno: syscall.EBADMSG, op: "invalid", reason: `utf-8`},
		{name: "yaml NUL byte", rel: stateRel, data: []byte("a: 1\x00\nb: 2\n"), errno: syscall.EBADMSG, op: "invalid", reason: `NUL`},
		{name: "json NUL byte", rel: "integrations/mcp/mcp_config.json", data: []byte("{\"a\": 1}\x00"), errno: syscall.EBADMSG, op: "invalid", reason: `NUL`},
		{name: "markdown NUL byte (accepted: Markdown is not validated)", rel: "memory/knowledge/nul.md", data: []byte("# notes\x00\n")},
		{name: "yaml BOM (accepted, kept, stamped)", rel: "memory/context/rev.yaml", data: []byte("\ufeffrevision: 3\nkey: bom\n"), want: []byte("\ufeffrevision: 4\nkey: bom\n")},
		{name: "json BOM (refused, as Python's json does)", rel: "integrations/mcp/mcp_config.json", data: []byte("\ufeff{\"a\": 1}"), errno: syscall.EBADMSG, op: "invalid", reason: `feff|bom|invalid character`},
		{name: "jsonl BOM", rel: "memory/logs/events.jsonl", data: []byte("\ufeff{\"a\": 1}\n"), errno: syscall.EBADMSG, op: "invalid", reason: `feff|bom|invalid character`},
		{name: "markdown BOM (accepted)", rel: "memory/knowledge/bom.md", data: []byte("\ufeff# notes\n")},
		{name: "yaml CRLF (accepted, CRLF kept, stamped)", rel: "memory/context/rev.yaml", data: []byte("revision: 4\r\nkey: crlf\r\nlist:\r\n  - a\r\n"), want: []byte("revision: 5\r\nkey: crlf\r\nlist:\r\n  - a\r\n")},
		{name: "yaml CR only (accepted)", rel: "memory/context/cr.yaml", data: []byte("a: 1\rb: 2\r")},
		{name: "json CRLF (accepted, stamped)", rel: "memory/context/rev.json", data: []byte("{\r\n  \"revision\": 3,\r\n  \"key\": \"crlf\"\r\n}\r\n"), want: []byte("{\r\n  \"revision\": 4,\r\n  \"key\": \"crlf\"\r\n}\r\n")},
		{name: "jsonl CRLF (accepted)", rel: "memory/logs/events.jsonl", data: []byte("{\"a\": 1}\r\n{\"b\": 2}\r\n")},
		{name: "yaml duplicate keys", rel: stateRel, data: []byte("a: 1\nb: 2\na: 3\n"), errno: syscall.EBADMSG, op: "invalid", reason: `duplicate`},
		{name: "yaml nested duplicate keys", rel: stateRel, data: []byte("a:\n  x: 1\n  x: 2\n"), errno: syscall.EBADMSG, op: "invalid", reason: `duplicate`},
		{name: "json duplicate keys", rel: "integrations/mcp/mcp_config.json", data: []byte(`{"a": 1, "b": {"c": 1, "c": 2}}`), errno: syscall.EBADMSG, op: "invalid", reason: `duplicate`},
		{name: "yaml two documents", rel: stateRel, data: []byte("a: 1\n---\nb: 2\n"), errno: syscall.EBADMSG, op: "invalid", reason: `multi|document`},
		{name: "yaml one document with markers (accepted)", rel: "memory/context/doc.yaml", data: []byte("---\na: 1\n...\n")},
		{name: "yaml revision as a string", rel: "memory/context/rev.yaml", data: []byte("revision: \"5\"\nkey: s\n"), errno: syscall.EBADMSG, op: "invalid", reason: `revision`},
		{name: "yaml revision as a float", rel: "memory/context/rev.yaml", data: []byte("revision: 5.0\nkey: f\n"), errno: syscall.EBADMSG, op: "invalid", reason: `revision`},
		{name: "yaml revision negative", rel: "memory/context/rev.yaml", data: []byte("revision: -1\nkey: n\n"), errno: syscall.EBADMSG, op: "invalid", reason: `revision`},
		{name: "yaml revision huge", rel: "memory/context/rev.yaml", data: []byte("revision: 99999999999999999999\nkey: h\n"), errno: syscall.EBADMSG, op: "invalid", reason: `revision`},
		{name: "yaml revision beyond int64 by one", rel: "memory/context/rev.yaml", data: []byte("revision: 9223372036854775808\nkey: h\n"), errno: syscall.EBADMSG, op: "invalid", reason: `revision`},
		{name: "yaml revision int64 max", rel: "memory/context/rev.yaml", data: []byte("revision: 9223372036854775807\nkey: h\n"), errno: syscall.EBADMSG, op: "invalid", reason: `revision`},
		{name: "yaml revision null", rel: "memory/context/rev.yaml", data: []byte("revision: null\nkey: z\n"), errno: syscall.EBADMSG, op: "invalid", reason: `revision`},
		{name: "yaml revision hex", rel: "memory/context/rev.yaml", data: []byte("revision: 0x5\nkey: x\n"), errno: syscall.EBADMSG, op: "invalid", reason: `revision`},
		{name: "json revision as a string", rel: "memory/context/rev.json", data: []byte(`{"revision": "4", "key": "s"}`), errno: syscall.EBADMSG, op: "invalid", reason: `revision`},
		{name: "json revision as a float", rel: "memory/context/rev.json", data: []byte(`{"revision": 4.0, "key": "f"}`), errno: syscall.EBADMSG, op: "invalid", reason: `revision`},
		{name: "json revision negative", rel: "memory/context/rev.json", data: []byte(`{"revision": -4, "key": "n"}`), errno: syscall.EBADMSG, op: "invalid", reason: `revision`},
		{name: "json revision huge", rel: "memory/context/rev.json", data: []byte(`{"revision": 1e400, "key": "h"}`), errno: syscall.EBADMSG, op: "invalid", reason: `revision`},
		{name: "name with a newline", rel: "memory/context/line\nbreak.yaml", data: []byte("a: 1\n")},
		{name: "name with a newline, invalid content", rel: "memory/context/line\nbreak.yaml", data: []byte("a: [\n"), errno: syscall.EBADMSG, op: "invalid", reason: `yaml`},
		{name: "unicode name", rel: "memory/context/état-ünïcødé-📝.yaml", data: []byte("é: ☕\n")},
		{name: "unicode name, invalid content", rel: "memory/context/état-ünïcødé-📝.yaml", data: []byte("é: [\n"), errno: syscall.EBADMSG, op: "invalid", reason: `yaml`},
		{name: "unicode name, decomposed (another file)", rel: "memory/context/e\u0301tat-ünïcødé-📝.yaml", data: []byte("nfd: true\n")},
		{name: "right-to-left override in a name", rel: "memory/context/\u202eliam.yaml", data: []byte("a: 1\n")},
		{name: "255-byte name", rel: "memory/context/" + name255, data: []byte("a: 1\n")},
		{name: "255-byte name, invalid content", rel: "memory/context/" + name255, data: []byte("a: [\n"), errno: syscall.EBADMSG, op: "invalid", reason: `yaml`},
	}
	var figs []string
	var slowest time.Duration
	slowName := ""
	for _, c := range cases {
		ok := t.Run(c.name, func(t *testing.T) {
			took := checkBadCase(t, p, c)
			figs = append(figs, fmt.Sprintf("%s %s", c.name, took.Round(100*time.Microsecond)))
			if took > slowest {
				slowest, slowName = took, c.name
			}
		})
		if !ok && !alive(pid) {
			t.Fatalf("the daemon died on %q\ndaemon.log:\n%s", c.name, p.daemonLog())
		}
	}

	// A name one byte too long is refused by open(), before anything is
	// staged: nothing to log.
	t.Run("256-byte name", func(t *testing.T) {
		n := len(logLines(t, p.Dir))
		rel := "memory/context/" + strings.Repeat("n", 251) + ".yaml"
		res := pyWrite(t, p.Dir, rel, "trunc", []byte("a: 1\n"))
		if res.errno() != syscall.ENAMETOOLONG || res.Stage != "open" {
			t.Errorf("a 256-byte name: %s errno %d (%s), want open() to fail with ENAMETOOLONG", res.Stage, res.Errno, res.Error)
		}
		if lines := logSince(t, p.Dir, n); len(lines) != 0 {
			t.Errorf("log lines for a name that could not be opened: %v", lines)
		}
	})

	if !alive(pid) {
		t.Fatalf("the daemon died\ndaemon.log:\n%s", p.daemonLog())
	}
	if kb := vmHWM(pid); kb > 512<<10 {
		t.Errorf("the daemon's peak resident memory reached %d MiB on bad input", kb>>10)
	} else {
		figure(t, "daemon peak RSS after all bad inputs: %d MiB", kb>>10)
	}
	figure(t, "slowest: %s (%s); each: %s", slowest.Round(100*time.Microsecond), slowName, strings.Join(figs, "; "))
}

// checkBadCase writes c and checks the outcome; it returns the time from
// open to the end of close.
func checkBadCase(t *testing.T, p *project, c badCase) time.Duration {
	t.Helper()
	orig, origErr := os.ReadFile(p.path(c.rel))
	if origErr != nil && !os.IsNotExist(origErr) {
		t.Fatalf("reading %q before: %v", c.rel, origErr)
	}
	var origRev int64 = -1
	if origErr == nil {
		origRev = rev(t, p.path(c.rel))
	}
	n := len(logLines(t, p.Dir))
	res := pyWriteRaw(t, p.Dir, c.rel, "trunc", c.data)
	// How long it took is a figure, not a verdict: a clock bound only
	// fails on a loaded machine. That hostile input costs work in
	// proportion to its size, not to what it expands to, is checked
	// without a clock, in allocations, by revision's TestHostileYAML.
	took := time.Duration(res.Secs * float64(time.Second))
	lines := logSince(t, p.Dir, n)
	if c.errno == 0 {
		if res.Errno != 0 {
			t.Fatalf("%s: %s failed with %s (%s), want it committed (or refused with one log line)\nlog: %v", c.name, res.Stage, res.errno(), res.Error, lines)
		}
		want := c.want
		if want == nil {
			want = c.data
		}
		assertContentShort(t, p, c.rel, want)
		if len(lines) != 1 {
			t.Fatalf("want exactly 1 new log line, got %d: %v", len(lines), lines)
		}
		oldRev, wantRev := origRev, origRev+1
		if origErr != nil {
			oldRev, wantRev = 0, 0 // a new name: the revision its content carries, here none
		}
		checkCommitLine(t, lines[0], c.rel, res.Pid, "python3", oldRev, wantRev, want)
		return took
	}
	if res.errno() != c.errno {
		t.Errorf("%s: %s errno %d (%s), want %s", c.name, res.Stage, res.Errno, res.Error, c.errno)
	} else if res.Stage != "close" {
		t.Errorf("%s: refused at %s, want at close()", c.name, res.Stage)
	}
	if origErr == nil {
		assertContentShort(t, p, c.rel, orig)
		if got := rev(t, p.path(c.rel)); got != origRev {
			t.Errorf("revision went from %d to %d on a refused write", origRev, got)
		}
	} else if _, err := os.Lstat(p.path(c.rel)); !os.IsNotExist(err) {
		t.Errorf("a refused first write of %q left the name behind: %v", c.rel, err)
	}
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line (the refusal), got %d: %v", len(lines), lines)
	}
	e := lines[0]
	errName := map[syscall.Errno]string{syscall.EBADMSG: "EBADMSG", syscall.EFBIG: "EFBIG"}[c.errno]
	if e.Path != c.rel || e.Op != c.op || e.Errno != errName {
		t.Errorf("log line path/op/errno = %q/%q/%q, want %q/%q/%q\n%s", e.Path, e.Op, e.Errno, c.rel, c.op, errName, e)
	}
	if !regexp.MustCompile(`(?i)` + c.reason).MatchString(e.Reason) {
		t.Errorf("log line reason %q does not say what is wrong (want it to match %q)", e.Reason, c.reason)
	}
	if len(e.Reason) > 400 {
		t.Errorf("log line reason is %d bytes long: one clear error, please: %s", len(e.Reason), short(e.Reason))
	}
	if e.ProcessID != res.Pid {
		t.Errorf("log line process_id %d, want the writer's %d", e.ProcessID, res.Pid)
	}
	if e.Kept == "" {
		// Nothing here stands in the way of keeping them (the disk has
		// room, the names are short enough): not keeping them is a failure.
		t.Errorf("the refused bytes were not kept: %s", e)
	} else if kept, err := os.ReadFile(p.backing(e.Kept)); err != nil {
		t.Errorf("the refused bytes are not where the log says (%s): %v", e.Kept, err)
	} else if !bytes.Equal(kept, c.data) {
		t.Errorf("kept bytes (%d) differ from the refused ones (%d)", len(kept), len(c.data))
	}
	return took
}

// Links. A symlink inside DIR that points outside DIR is never followed by
// a commit: not by the commit's lock (P.lock a symlink), nor by a rename
// onto the symlink, nor when reading the old version for the log. A
// process that opens the symlink itself is sent outside by the kernel, as
// on any filesystem: that write is not a commit and is not logged. Hard
// links to or from managed names are refused with EPERM; between scratch
// names they work; a hard link made in the backing directory before the
// mount is broken by the first commit (the commit renames a new file into
// place), leaving the other name with the old bytes.
func TestBadInputLinks(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	outside := filepath.Join(p.Root, "outside")
	if err := os.Mkdir(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := []byte("secret: outside-value\nrevision: 7\n")
	if err := os.WriteFile(filepath.Join(outside, "target.yaml"), secret, 0o644); err != nil {
		t.Fatal(err)
	}
	// Before the mount: a hard link between two managed names.
	if err := os.WriteFile(p.path("memory/context/hl1.yaml"), []byte("a: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(p.path("memory/context/hl1.yaml"), p.path("memory/context/hl2.yaml")); err != nil {
		t.Fatal(err)
	}
	mount(t, p)
	ctx := "memory/context/"

	t.Run("P.lock is a symlink to outside", func(t *testing.T) {
		victim := filepath.Join(outside, "victim.lock")
		if err := os.Symlink(victim, p.path(ctx+"sl.yaml.lock")); err != nil {
			t.Fatalf("symlink through the mount: %v", err)
		}
		n := len(logLines(t, p.Dir))
		res := pyWrite(t, p.Dir, ctx+"sl.yaml", "trunc", []byte("a: 1\n"))
		if _, err := os.Lstat(victim); !os.IsNotExist(err) {
			t.Errorf("the commit followed the symlink %s.lock out of DIR: %s exists (%v)", ctx+"sl.yaml", victim, err)
		}
		lines := logSince(t, p.Dir, n)
		t.Logf("writing a file whose .lock is a symlink: %s errno %d (%s); log: %v", res.Stage, res.Errno, res.Error, lines)
		// A refusal: one errno, one clear line, the bytes kept, like every
		// refusal.
		if res.errno() != syscall.ELOOP || res.Stage != "close" {
			t.Errorf("writing %ssl.yaml whose .lock is a symlink: %s errno %d (%s), want close() to fail with ELOOP", ctx, res.Stage, res.Errno, res.Error)
		}
		if len(lines) != 1 {
			t.Fatalf("the commit was refused (%s) with %d log lines, want 1 (every refusal is logged)", res.Error, len(lines))
		}
		if e := lines[0]; e.Op != "lock_symlink" || e.Errno != "ELOOP" || e.Kept == "" {
			t.Errorf("refusal line op/errno/kept = %q/%q/%q, want lock_symlink/ELOOP/a kept copy\n%s", e.Op, e.Errno, e.Kept, e)
		} else if got, err := os.ReadFile(p.backing(e.Kept)); err != nil || string(got) != "a: 1\n" {
			t.Errorf("the refused bytes are not kept at %s: %q %v", e.Kept, got, err)
		}
	})

	t.Run("rename onto a symlink to outside", func(t *testing.T) {
		if err := os.Symlink(filepath.Join(outside, "target.yaml"), p.path(ctx+"ev.yaml")); err != nil {
			t.Fatal(err)
		}
		if err := writeMount(p.path(ctx+"ev.tmp"), []byte("mine: 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		n := len(logLines(t, p.Dir))
		err := os.Rename(p.path(ctx+"ev.tmp"), p.path(ctx+"ev.yaml"))
		if got, _ := os.ReadFile(filepath.Join(outside, "target.yaml")); !bytes.Equal(got, secret) {
			t.Errorf("the rename's commit wrote through the symlink out of DIR: the outside file is now %q", got)
		}
		lines := logSince(t, p.Dir, n)
		for _, e := range lines {
			if strings.Contains(e.Raw, "outside-value") {
				t.Errorf("the log shows the content of the symlink's outside target: %s", e)
			}
		}
		if err != nil {
			t.Logf("rename onto a symlink: %v", err)
			return
		}
		st, err := os.Lstat(p.path(ctx + "ev.yaml"))
		if err != nil || !st.Mode().IsRegular() {
			t.Errorf("after the rename, %s: %v %v, want a regular file replacing the symlink", ctx+"ev.yaml", st.Mode(), err)
		}
		assertContent(t, p, ctx+"ev.yaml", []byte("mine: 1\n"))
	})

	t.Run("writing through a symlink is the kernel's", func(t *testing.T) {
		if err := os.Symlink("../../../outside/target.yaml", p.path(ctx+"rel.yaml")); err != nil {
			t.Fatal(err)
		}
		n := len(logLines(t, p.Dir))
		if res := pyWrite(t, p.Dir, ctx+"rel.yaml", "trunc", []byte("via: symlink\n")); res.Errno != 0 {
			t.Fatalf("write through the symlink: %s", res.Error)
		}
		if got, _ := os.ReadFile(filepath.Join(outside, "target.yaml")); string(got) != "via: symlink\n" {
			t.Errorf("outside target = %q", got)
		}
		if lines := forPath(logSince(t, p.Dir, n), ctx+"rel.yaml"); len(lines) != 0 {
			t.Errorf("a write the kernel sent out of DIR through a symlink is logged as a commit: %v", lines)
		}
		os.WriteFile(filepath.Join(outside, "target.yaml"), secret, 0o644)
	})

	t.Run("hard links", func(t *testing.T) {
		if err := writeMount(p.path(ctx+"s1.txt"), []byte("scratch\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		for _, l := range []struct{ from, to string }{
			{stateRel, ctx + "copy.yaml"},
			{stateRel, ctx + "copy.txt"},
			{ctx + "s1.txt", ctx + "s1.yaml"},
			{ctx + "s1.txt", ctx + "s1.md"},
		} {
			if err := os.Link(p.path(l.from), p.path(l.to)); errnoOf(err) != syscall.EPERM {
				t.Errorf("link %s %s: %v, want EPERM", l.from, l.to, err)
			}
			if _, err := os.Lstat(p.path(l.to)); !os.IsNotExist(err) {
				t.Errorf("after a refused link, %s exists: %v", l.to, err)
			}
		}
		if err := os.Link(p.path(ctx+"s1.txt"), p.path(ctx+"s2.txt")); err != nil {
			t.Errorf("link between scratch names: %v", err)
		} else if st, err := os.Stat(p.path(ctx + "s2.txt")); err != nil || st.Sys().(*syscall.Stat_t).Nlink != 2 {
			t.Errorf("after link, stat %s: nlink %v, %v", ctx+"s2.txt", st.Sys().(*syscall.Stat_t).Nlink, err)
		}
		// A hard link made behind the mount's back: the commit of one
		// name replaces its file; the other name keeps the old bytes.
		var st unix.Stat_t
		if err := unix.Stat(p.path(ctx+"hl1.yaml"), &st); err != nil || st.Nlink != 2 {
			t.Errorf("hl1.yaml through the mount: nlink %d, %v (want 2)", st.Nlink, err)
		}
		if res := pyWrite(t, p.Dir, ctx+"hl1.yaml", "trunc", []byte("a: 2\n")); res.Errno != 0 {
			t.Fatalf("commit of hl1.yaml: %s", res.Error)
		}
		assertContent(t, p, ctx+"hl1.yaml", []byte("a: 2\n"))
		assertContent(t, p, ctx+"hl2.yaml", []byte("a: 1\n"))
	})
}

// assertContentShort is assertContent with huge contents abbreviated.
func assertContentShort(t *testing.T, p *project, rel string, want []byte) {
	t.Helper()
	for _, where := range []string{p.path(rel), p.backing(rel)} {
		if got, err := os.ReadFile(where); err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %v\n got: %s\nwant: %s", where, err, short(string(got)), short(string(want)))
		}
	}
}

// A file whose revision field is the largest int64 (written behind the
// mount's back: through the mount a revision only goes up by one) can
// never be followed by a next revision. Writes keeping that field are
// refused as invalid with a reason about the revision (not as "ahead of"
// itself); the revision never wraps around to a negative number; a write
// without the field commits.
func TestBadInputRevisionAtInt64Max(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	const rel = "memory/context/max.yaml"
	if err := os.WriteFile(p.path(rel), []byte("revision: 9223372036854775807\na: 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mount(t, p)
	start := rev(t, p.path(rel))
	t.Logf("a file with revision: 9223372036854775807 written behind the mount's back shows revision %d", start)
	n := len(logLines(t, p.Dir))
	res := pyWriteRaw(t, p.Dir, rel, "trunc", []byte("revision: 9223372036854775807\na: 2\n"))
	if res.errno() != syscall.EBADMSG {
		t.Errorf("a write keeping revision 9223372036854775807: %s %s, want EBADMSG", res.Stage, errName(res.errno()))
	}
	if r := rev(t, p.path(rel)); r < 0 {
		t.Errorf("revision %d: it wrapped around", r)
	}
	res = pyWriteRaw(t, p.Dir, rel, "trunc", []byte("a: 3\n"))
	if res.Errno != 0 {
		t.Errorf("a write without the revision field: %s %s, want it committed", res.Stage, errName(res.errno()))
	}
	if r := rev(t, p.path(rel)); r < 0 {
		t.Errorf("revision %d after a write without the field: it wrapped around", r)
	}
	for _, e := range logSince(t, p.Dir, n) {
		if e.Revision != nil && *e.Revision < 0 {
			t.Errorf("log line with a negative revision: %s", e)
		}
		if strings.Contains(e.Reason, "ahead of current revision 9223372036854775807") {
			t.Errorf("a write keeping the revision field as read is refused as ahead of itself: %s", e.Reason)
		}
		if e.Op == "invalid" && !strings.Contains(e.Reason, "revision") {
			t.Errorf("the refusal's reason does not say the revision is the problem: %s", e.Reason)
		}
	}
}
