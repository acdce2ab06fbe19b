package tests

import (
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The project's config file, DIR/paracfs.yaml: rules checked at commit,
// a bad config refused with its line and key, changes applied without a
// remount, and a bad config at mount.

const roadmapRel = "roadmap/roadmap.yaml"

// roadmapSchema accepts the fixture's roadmap and refuses an unknown status.
const roadmapSchema = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["version", "phases"],
  "properties": {
    "status": {"enum": ["active", "paused", "done"]},
    "phases": {"type": "array", "items": {"type": "object", "required": ["id", "status"]}}
  }
}
`

const rulesConfig = `# paracfs.yaml: how paracfs manages this directory
rules:
  - glob: memory/context/*.yaml
    required: [project, current_phase]
  - glob: roadmap/roadmap.yaml
    schema: schemas/roadmap.schema.json
`

// addRoadmapSchema puts the schema rulesConfig names into DIR.
func addRoadmapSchema(t *testing.T, p *project) {
	t.Helper()
	if err := os.MkdirAll(p.path("schemas"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.path("schemas/roadmap.schema.json"), []byte(roadmapSchema), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeConfig commits DIR/paracfs.yaml through the mount and fails the
// test unless it is accepted.
func writeConfig(t *testing.T, p *project, conf string) {
	t.Helper()
	if res := pyWrite(t, p.Dir, "paracfs.yaml", "trunc", []byte(conf)); res.Errno != 0 {
		t.Fatalf("writing paracfs.yaml through the mount: %s failed: %s\ndaemon.log:\n%s", res.Stage, res.Error, p.daemonLog())
	}
}

// refusedInvalid asserts that a write was refused with EBADMSG at close,
// left the file as it was, and logged one refusal whose reason contains
// every one of want.
func refusedInvalid(t *testing.T, p *project, rel string, before []byte, n int, res pyResult, content []byte, want ...string) logEntry {
	t.Helper()
	if res.errno() != syscall.EBADMSG || res.Stage != "close" {
		t.Fatalf("write of %s: %s errno %d (%s), want close() to fail with EBADMSG", rel, res.Stage, res.Errno, res.Error)
	}
	assertContent(t, p, rel, before)
	lines := forPath(logSince(t, p.Dir, n), rel)
	if len(lines) != 1 {
		t.Fatalf("want exactly 1 new log line for %s, got %d: %v", rel, len(lines), lines)
	}
	checkRefusalLine(t, p, lines[0], rel, "invalid", "EBADMSG", res.Pid, content)
	for _, w := range want {
		if !strings.Contains(lines[0].Reason, w) {
			t.Errorf("refusal reason %q does not contain %q", lines[0].Reason, w)
		}
	}
	return lines[0]
}

// Rules from the config file: required keys and a JSON Schema refuse
// writes with EBADMSG and a log line; valid writes and files no rule
// names commit as before.
func TestConfigRules(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	addRoadmapSchema(t, p)
	mount(t, p)
	writeConfig(t, p, rulesConfig)

	// Required keys.
	state := fixture(t, stateRel)
	n := len(logLines(t, p.Dir))
	bad := replace(t, state, "current_phase:", "phase_now:")
	res := pyWrite(t, p.Dir, stateRel, "trunc", bad)
	refusedInvalid(t, p, stateRel, state, n, res, bad,
		"missing required key current_phase", `rule "memory/context/*.yaml" at paracfs.yaml line 3`)

	// A JSON Schema.
	roadmap := fixture(t, roadmapRel)
	n = len(logLines(t, p.Dir))
	bad = replace(t, roadmap, "status: active", "status: abandoned")
	res = pyWrite(t, p.Dir, roadmapRel, "trunc", bad)
	refusedInvalid(t, p, roadmapRel, roadmap, n, res, bad,
		"does not match the schema schemas/roadmap.schema.json", "at '/status'")

	// Valid writes commit, and are checked again at their next write.
	good := replace(t, roadmap, "status: active", "status: paused")
	if res := pyWrite(t, p.Dir, roadmapRel, "trunc", good); res.Errno != 0 {
		t.Fatalf("valid roadmap: %s failed: %s", res.Stage, res.Error)
	}
	assertContent(t, p, roadmapRel, good)
	good = replace(t, state, "blockers: []", "blockers: [review]")
	if res := pyWrite(t, p.Dir, stateRel, "trunc", good); res.Errno != 0 {
		t.Fatalf("valid state: %s failed: %s", res.Stage, res.Error)
	}
	// A file no rule names is not checked for those keys.
	if res := pyWrite(t, p.Dir, "memory/index.yaml", "trunc", []byte("anything: 1\n")); res.Errno != 0 {
		t.Fatalf("memory/index.yaml: %s failed: %s", res.Stage, res.Error)
	}
}

// A bad config through the mount is refused with EBADMSG, its reason
// naming the line and the key; the file and the rules in force stay.
func TestConfigBadThroughMount(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	addRoadmapSchema(t, p)
	mount(t, p)
	writeConfig(t, p, rulesConfig)
	committed := readFile(t, p.path("paracfs.yaml"))

	for _, tc := range []struct{ conf, want string }{
		{rulesConfig + "lock_timeout: soon\n", `paracfs.yaml line 7: key lock_timeout: want a duration such as 10s, got "soon"`},
		{rulesConfig + "lock_timout: 2s\n", `paracfs.yaml line 7: unknown key "lock_timout" (did you mean lock_timeout?)`},
		{strings.Replace(rulesConfig, "required:", "requird:", 1), `paracfs.yaml line 4: unknown key "requird" in rules[1] (did you mean required?)`},
		{rulesConfig + "history:\n  max_age: forever\n", `paracfs.yaml line 8: key history.max_age: want a duration such as 720h or 30d, got "forever"`},
		{strings.Replace(rulesConfig, "schemas/roadmap.schema.json", "schemas/missing.json", 1),
			`paracfs.yaml line 5: key rules[2].schema: cannot load the schema schemas/missing.json: no such file in DIR`},
	} {
		n := len(logLines(t, p.Dir))
		res := pyWrite(t, p.Dir, "paracfs.yaml", "trunc", []byte(tc.conf))
		e := refusedInvalid(t, p, "paracfs.yaml", committed, n, res, []byte(tc.conf), tc.want)
		if !strings.HasPrefix(e.Reason, "paracfs.yaml line ") {
			t.Errorf("the reason should start with the file and line: %q", e.Reason)
		}
	}
	// The rules of the committed config are still in force.
	state := fixture(t, stateRel)
	n := len(logLines(t, p.Dir))
	bad := replace(t, state, "project:", "projekt:")
	res := pyWrite(t, p.Dir, stateRel, "trunc", bad)
	refusedInvalid(t, p, stateRel, state, n, res, bad, "missing required key project")
}

// A change to the config applies at once, without a remount: a new
// tracked glob, a new lock timeout, a stamping rule; a config line in the
// log says what changed. Deleting the config goes back to the defaults.
func TestConfigHotReload(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)

	// Not tracked yet: a .txt file passes through, unlogged.
	n := len(logLines(t, p.Dir))
	if res := pyWrite(t, p.Dir, "notes.txt", "trunc", []byte("one\n")); res.Errno != 0 {
		t.Fatalf("notes.txt: %s", res.Error)
	}
	if got := forPath(logSince(t, p.Dir, n), "notes.txt"); len(got) != 0 {
		t.Fatalf("an untracked file was logged: %v", got)
	}

	n = len(logLines(t, p.Dir))
	writeConfig(t, p, `tracked: ["*.yaml", "*.yml", "*.json", "*.jsonl", "*.md", "*.txt"]
lock_timeout: 1s
rules:
  - glob: policies/*.yaml
    stamp_revision: true
`)
	var reload *logEntry
	for _, e := range logSince(t, p.Dir, n) {
		if e.Op == "config" {
			reload = &e
		}
	}
	if reload == nil || reload.Path != "paracfs.yaml" || !strings.Contains(reload.Description, "lock_timeout 10s → 1s") ||
		!strings.Contains(reload.Description, "*.txt") {
		t.Fatalf("no config line saying what changed after the commit of paracfs.yaml: %v", logSince(t, p.Dir, n))
	}

	// paracfs status shows the configuration in force.
	if m := statusOf(t, p); m.Config["lock_timeout"] != "1s" || m.Config["rules"] != float64(1) {
		t.Errorf("paracfs status after the config changed: config %v, want lock_timeout 1s and 1 rule", m.Config)
	}

	// The new glob: .txt files are managed now (committed, logged, revisioned).
	n = len(logLines(t, p.Dir))
	res := pyWrite(t, p.Dir, "notes.txt", "trunc", []byte("two\n"))
	if res.Errno != 0 {
		t.Fatalf("notes.txt: %s", res.Error)
	}
	if got := forPath(logSince(t, p.Dir, n), "notes.txt"); len(got) != 1 || got[0].Op != "commit" && got[0].Op != "create" {
		t.Fatalf("a newly tracked file's write: log lines %v, want one commit", got)
	}
	if r := rev(t, p.path("notes.txt")); r < 1 {
		t.Errorf("notes.txt revision %d after its first commit as a managed file", r)
	}

	// The new lock timeout: 1s, not the default 10s.
	unlock := lockBacking(t, p, stateRel+".lock")
	content := replace(t, fixture(t, stateRel), "blockers: []", "blockers: [locked]")
	start := time.Now()
	res = pyWrite(t, p.Dir, stateRel, "trunc", content)
	took := time.Since(start)
	unlock()
	if res.errno() != syscall.ETIMEDOUT {
		t.Fatalf("commit while %s.lock is held: %s errno %d (%s), want ETIMEDOUT", stateRel, res.Stage, res.Errno, res.Error)
	}
	// The timeout in force is in the refusal's reason (no upper clock
	// bound); the wait is only bounded below.
	if took < 900*time.Millisecond {
		t.Errorf("the refused commit took %s with lock_timeout: 1s in paracfs.yaml: it did not wait", took)
	}
	if got := forPath(logSince(t, p.Dir, n), stateRel); len(got) == 0 || got[len(got)-1].Op != "lock_timeout" ||
		!strings.Contains(got[len(got)-1].Reason, "stayed locked for more than 1s") {
		t.Errorf("the refused commit's log lines %v, want a lock_timeout whose reason says \"more than 1s\" (lock_timeout: 1s in paracfs.yaml)", got)
	}

	// The stamping rule: a policy without a revision field gets one,
	// comments and formatting kept.
	policy := "# Security policy.\nallowed_paths: [memory/]   # only these\n"
	if res := pyWrite(t, p.Dir, "policies/security.yaml", "trunc", []byte(policy)); res.Errno != 0 {
		t.Fatalf("policies/security.yaml: %s", res.Error)
	}
	r := rev(t, p.path("policies/security.yaml"))
	want := "# Security policy.\nrevision: " + itoa(int(r)) + "\nallowed_paths: [memory/]   # only these\n"
	assertContent(t, p, "policies/security.yaml", []byte(want))
	// A file outside the rule's glob is left without the field.
	if res := pyWrite(t, p.Dir, "memory/index.yaml", "trunc", []byte("a: 1\n")); res.Errno != 0 {
		t.Fatalf("memory/index.yaml: %s", res.Error)
	}
	assertContent(t, p, "memory/index.yaml", []byte("a: 1\n"))

	// Deleting the config: the defaults apply again (10s, no .txt).
	if err := os.Remove(p.path("paracfs.yaml")); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(eventWait)
	for {
		n = len(logLines(t, p.Dir))
		pyWrite(t, p.Dir, "notes.txt", "trunc", []byte("three\n"))
		if len(forPath(logSince(t, p.Dir, n), "notes.txt")) == 0 {
			break // untracked again
		}
		if time.Now().After(deadline) {
			t.Fatalf("notes.txt still tracked %s after paracfs.yaml was deleted", eventWait)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A bad config at mount: with no last good copy the mount fails with the
// line and the key; with one, the mount uses it and says so.
func TestConfigBadAtMount(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	bad := "lock_timeout: 2s\nrules:\n  - glob: '*.yaml'\n    required: oops\n"
	if err := os.WriteFile(p.path("paracfs.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	r := paracfs(t, p.Root, "mount", p.Dir)
	if r.Code == 0 {
		unmountAll(t, p.Root)
		t.Fatalf("mount with a bad paracfs.yaml and no good copy succeeded: %s", r)
	}
	want := `paracfs.yaml line 4: key rules[1].required: want a list of top-level key names, got "oops"`
	if !strings.Contains(r.Stderr, want) || strings.Count(strings.TrimSpace(r.Stderr), "\n") > 1 {
		t.Fatalf("mount with a bad paracfs.yaml: stderr %q, want one line containing %q", r.Stderr, want)
	}
	if isMounted(p.Dir) {
		t.Fatal("mounted anyway")
	}

	// A good config, mounted once, becomes the last good copy.
	good := "lock_timeout: 2s\nrules:\n  - glob: memory/context/*.yaml\n    required: [project]\n"
	if err := os.WriteFile(p.path("paracfs.yaml"), []byte(good), 0o644); err != nil {
		t.Fatal(err)
	}
	mount(t, p)
	unmountCmd(t, p)
	if err := os.WriteFile(p.path("paracfs.yaml"), []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	r = paracfs(t, p.Root, "mount", p.Dir)
	if r.Code != 0 || !isMounted(p.Dir) {
		t.Fatalf("mount with a bad paracfs.yaml and a good copy: %s", r)
	}
	t.Cleanup(func() { unmountAll(t, p.Root) })
	if !strings.Contains(r.Stderr, want) || !strings.Contains(r.Stderr, "using the last good copy, .paracfs/config.good.yaml") {
		t.Errorf("mount with a bad paracfs.yaml and a good copy: want the warning on its stderr: %s", r)
	}
	out := r.Stdout
	// daemon.log has it as a log/slog line: msg="…", quotes escaped.
	if wantLogged := strings.Trim(strconv.Quote(want), `"`); !strings.Contains(p.daemonLog(), wantLogged) || !strings.Contains(p.daemonLog(), "using the last good copy") {
		t.Errorf("mount with a bad paracfs.yaml and a good copy: no warning in daemon.log\nstdout: %s\ndaemon.log:\n%s", out, p.daemonLog())
	}
	var warned bool
	for _, e := range logLines(t, p.Dir) {
		if e.Op == "config_error" && e.Path == "paracfs.yaml" && strings.Contains(e.Reason, want) {
			warned = true
		}
	}
	if !warned {
		t.Errorf("no config_error line in the change log")
	}
	// The last good config is in force: its rule refuses a state without project.
	state := fixture(t, stateRel)
	n := len(logLines(t, p.Dir))
	noProject := replace(t, state, "project:", "projekt:")
	res := pyWrite(t, p.Dir, stateRel, "trunc", noProject)
	refusedInvalid(t, p, stateRel, state, n, res, noProject, "missing required key project")
	// The bad file itself is untouched, for its owner to fix.
	assertContent(t, p, "paracfs.yaml", []byte(bad))
}

// The command line takes precedence over the config file, with a warning.
func TestConfigCommandLineWins(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	if err := os.WriteFile(p.path("paracfs.yaml"), []byte("lock_timeout: 7s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mount(t, p, "--lock-timeout", "3s")
	var st struct {
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal(readFile(t, p.path(".paracfs/daemon.json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Config["lock_timeout"] != "3s" {
		t.Errorf("lock_timeout in force = %v, want the command line's 3s", st.Config["lock_timeout"])
	}
	if !strings.Contains(p.daemonLog(), "paracfs.yaml line 1: key lock_timeout: set on the command line, which takes precedence") {
		t.Errorf("no warning about the overridden setting in daemon.log:\n%s", p.daemonLog())
	}
	unmountCmd(t, p)
	// Without the flag, the file's value applies.
	mount(t, p)
	if err := json.Unmarshal(readFile(t, p.path(".paracfs/daemon.json")), &st); err != nil {
		t.Fatal(err)
	}
	if st.Config["lock_timeout"] != "7s" {
		t.Errorf("lock_timeout in force = %v, want paracfs.yaml's 7s", st.Config["lock_timeout"])
	}
}

// readLog parses a change log at rel in DIR.
func readLog(t *testing.T, p *project, rel string) []logEntry {
	t.Helper()
	var out []logEntry
	for _, line := range strings.Split(strings.TrimSpace(string(readFile(t, p.path(rel)))), "\n") {
		var e logEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("%s: a line is not JSON: %v: %q", rel, err, line)
		}
		json.Unmarshal([]byte(line), &e.Fields)
		e.Raw = line
		out = append(out, e)
	}
	return out
}

// A new log path applies at once: the old log's last line says where the
// log moves, the next lines go to the new one, which is append-only
// through the mount like the old one was.
func TestConfigLogPath(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	writeConfig(t, p, "tracked: ['*.yaml']   # not *.jsonl: the log is managed all the same\nlog: audit/changes.jsonl   # moved\n")
	old := logLines(t, p.Dir)
	if last := old[len(old)-1]; last.Op != "config" || !strings.Contains(last.Description, "the change log moves to audit/changes.jsonl") {
		t.Fatalf("the old log's last line: %s", last)
	}
	content := replace(t, fixture(t, stateRel), "blockers: []", "blockers: [moved]")
	res := pyWrite(t, p.Dir, stateRel, "trunc", content)
	if res.Errno != 0 {
		t.Fatalf("%s: %s", stateRel, res.Error)
	}
	if n := len(logLines(t, p.Dir)); n != len(old) {
		t.Errorf("the old log grew from %d to %d lines after the move", len(old), n)
	}
	es := readLog(t, p, "audit/changes.jsonl")
	if len(es) != 2 || es[0].Op != "config" || !strings.Contains(es[0].Description, "; log "+logRel+" → audit/changes.jsonl") {
		t.Fatalf("the new log: %v, want the reload line and the commit", es)
	}
	checkCommitLine(t, es[1], stateRel, res.Pid, "", 11, 12, readFile(t, p.path(stateRel)))
	if err := os.Truncate(p.path("audit/changes.jsonl"), 0); errnoOf(err) != syscall.EPERM {
		t.Errorf("truncating the new log through the mount: %v, want EPERM", err)
	}
	// paracfs log finds it there, mounted (the daemon says where) or not
	// (paracfs.yaml says where).
	for _, when := range []string{"mounted", "unmounted"} {
		if when == "unmounted" {
			unmountCmd(t, p)
		}
		r := paracfs(t, p.Root, "log", "--json", "-n", "1", "--path", stateRel, p.Dir)
		if r.Code != 0 || !strings.Contains(r.Stdout, `"path":"`+stateRel+`"`) || !strings.Contains(r.Stdout, `"revision":12`) {
			t.Errorf("paracfs log, %s, after the log moved: %s", when, r)
		}
	}
}

// A change to the config behind the mount's back applies when paracfs
// notices it, if it loads; a broken one leaves the configuration in force.
func TestConfigChangedBehindTheMount(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	writeConfig(t, p, "rules:\n  - glob: memory/context/*.yaml\n    required: [project]\n")
	state := fixture(t, stateRel)
	noProject := replace(t, state, "project:", "projekt:")

	n := len(logLines(t, p.Dir))
	if err := os.WriteFile(p.backing("paracfs.yaml"), []byte("rules: nope\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	readFile(t, p.path("paracfs.yaml")) // paracfs notices the change
	var warned bool
	for _, e := range logSince(t, p.Dir, n) {
		warned = warned || e.Op == "config_error" && strings.Contains(e.Reason, `paracfs.yaml line 1: key rules: want a list of rules`)
	}
	if !warned {
		t.Fatalf("no config_error line after a broken config was written behind the mount: %v", logSince(t, p.Dir, n))
	}
	n = len(logLines(t, p.Dir))
	res := pyWrite(t, p.Dir, stateRel, "trunc", noProject)
	refusedInvalid(t, p, stateRel, state, n, res, noProject, "missing required key project")

	if err := os.WriteFile(p.backing("paracfs.yaml"), []byte("lock_timeout: 3s\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	readFile(t, p.path("paracfs.yaml"))
	if res := pyWrite(t, p.Dir, stateRel, "trunc", noProject); res.Errno != 0 {
		t.Fatalf("the rule outlived the config that set it: %s failed: %s", res.Stage, res.Error)
	}
}

// paracfs check: the config and every managed file, checked without a
// mount and without a byte written.
func TestConfigCheck(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	r := paracfs(t, p.Root, "check", p.Dir)
	if r.Code != 0 || !strings.Contains(r.Stdout, "no paracfs.yaml") || !strings.Contains(r.Stdout, "0 would be refused") {
		t.Fatalf("paracfs check without a config: %s", r)
	}
	conf := "rules:\n  - glob: '*.yaml'\n    required: [version]\n"
	if err := os.WriteFile(p.path("paracfs.yaml"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	r = paracfs(t, p.Dir, "check") // DIR found from the cwd
	if r.Code != 1 || !strings.Contains(r.Stdout, `memory/index.yaml: missing required key version (rule "*.yaml" at paracfs.yaml line 2)`) ||
		strings.Contains(r.Stdout, "project.yaml:") {
		t.Fatalf("paracfs check with a rule some files break: %s", r)
	}
	if err := os.WriteFile(p.path("paracfs.yaml"), []byte(conf+"lock_timeout: soon\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	r = paracfs(t, p.Root, "check", p.Dir)
	want := `paracfs check: paracfs.yaml line 4: key lock_timeout: want a duration such as 10s, got "soon"` + "\n"
	if r.Code != 1 || r.Stderr != want {
		t.Fatalf("paracfs check with a bad config: %s\nwant stderr %q", r, want)
	}
	if _, err := os.Stat(p.path(".paracfs")); !os.IsNotExist(err) {
		t.Errorf("paracfs check created .paracfs/: %v", err)
	}
	if _, err := os.Stat(p.meta()); !os.IsNotExist(err) {
		t.Errorf("paracfs check created %s: %v", p.meta(), err)
	}
	// A DIR that is not there: named, as log and rejected name it.
	missing := p.path("no-such-dir")
	r = paracfs(t, p.Root, "check", missing)
	if want := "paracfs check: " + missing + ": no such directory\n"; r.Code != 1 || r.Stderr != want {
		t.Errorf("paracfs check of a missing DIR: %s\nwant exit 1 and stderr %q", r, want)
	}
}

// sed -i on the config file: a rename onto paracfs.yaml is checked and
// applied like any other write of it.
func TestConfigSed(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	addRoadmapSchema(t, p)
	mount(t, p)
	writeConfig(t, p, rulesConfig)
	before := readFile(t, p.path("paracfs.yaml"))
	r := run(t, p.Dir, "sed", "-i", "s/required: \\[project, current_phase\\]/required: project/", "paracfs.yaml")
	if r.Code == 0 || !strings.Contains(r.Stderr, "Bad message") {
		t.Fatalf("sed -i making paracfs.yaml bad: %s", r)
	}
	assertContent(t, p, "paracfs.yaml", before)
	mustRun(t, p.Dir, "sed", "-i", "s/required: \\[project, current_phase\\]/required: [project, owner]/", "paracfs.yaml")
	state := fixture(t, stateRel)
	n := len(logLines(t, p.Dir))
	res := pyWrite(t, p.Dir, stateRel, "trunc", state)
	refusedInvalid(t, p, stateRel, state, n, res, state, "missing required key owner")
}

// A folder of schemas moved away: the config no longer loads, so the one
// in force stays, with a config_error line; moved back, it loads again.
func TestConfigSchemaFolderMoved(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	addRoadmapSchema(t, p)
	mount(t, p)
	writeConfig(t, p, rulesConfig)
	n := len(logLines(t, p.Dir))
	if err := os.Rename(p.path("schemas"), p.path("old-schemas")); err != nil {
		t.Fatal(err)
	}
	var warned bool
	for _, e := range logSince(t, p.Dir, n) {
		warned = warned || e.Op == "config_error" && strings.Contains(e.Reason, "cannot load the schema schemas/roadmap.schema.json")
	}
	if !warned {
		t.Fatalf("no config_error line after the schemas folder moved away: %v", logSince(t, p.Dir, n))
	}
	roadmap := fixture(t, roadmapRel)
	bad := replace(t, roadmap, "status: active", "status: abandoned")
	n = len(logLines(t, p.Dir))
	res := pyWrite(t, p.Dir, roadmapRel, "trunc", bad)
	refusedInvalid(t, p, roadmapRel, roadmap, n, res, bad, "does not match the schema")
	n = len(logLines(t, p.Dir))
	if err := os.Rename(p.path("old-schemas"), p.path("schemas")); err != nil {
		t.Fatal(err)
	}
	var reloaded bool
	for _, e := range logSince(t, p.Dir, n) {
		reloaded = reloaded || e.Op == "config" && strings.Contains(e.Description, "configuration reloaded")
	}
	if !reloaded {
		t.Fatalf("no reload after the schemas folder came back: %v", logSince(t, p.Dir, n))
	}
}
