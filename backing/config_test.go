package backing

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseConfigErrors(t *testing.T) {
	cmdline := Config{Globs: DefaultGlobs, LockTimeout: 10 * time.Second, LogPath: DefaultLogPath}
	tests := []struct{ name, data, want string }{
		{"duration", "# c\ntracked: ['*.yaml']\nlock_timeout: soon\n", `paracfs.yaml line 3: key lock_timeout: want a duration such as 10s, got "soon"`},
		{"number without unit", "lock_timeout: 10\n", `paracfs.yaml line 1: key lock_timeout: want a duration such as 10s, got the number 10 without a unit`},
		{"unknown key", "lock_timout: 5s\n", `paracfs.yaml line 1: unknown key "lock_timout" (did you mean lock_timeout?)`},
		{"not a mapping", "- a\n", `paracfs.yaml line 1: want a mapping of settings`},
		{"bad glob", "tracked:\n  - '*.yaml'\n  - '[x'\n", `paracfs.yaml line 3: key tracked: "[x" is not a glob`},
		{"empty tracked", "tracked: []\n", `paracfs.yaml line 1: key tracked: want at least one glob`},
		{"log outside", "log: ../x.jsonl\n", `paracfs.yaml line 1: key log: "../x.jsonl": want a path inside DIR`},
		{"log not jsonl", "log: project.yaml\n", `paracfs.yaml line 1: key log: "project.yaml": want a .jsonl file`},
		{"log in meta", "log: .paracfs/x.jsonl\n", `key log: ".paracfs/x.jsonl": .paracfs/ belongs to paracfs`},
		{"history key", "history:\n  max_version: 3\n", `paracfs.yaml line 2: unknown key "max_version" in history (did you mean max_versions?)`},
		{"history age", "history:\n  max_age: forever\n", `paracfs.yaml line 2: key history.max_age: want a duration such as 720h or 30d, got "forever"`},
		{"history versions", "history:\n  max_versions: -1\n", `paracfs.yaml line 2: key history.max_versions: want a whole number`},
		{"rule without glob", "rules:\n  - required: [a]\n", `paracfs.yaml line 2: key rules[1]: a rule needs a glob`},
		{"rule checks nothing", "rules:\n  - glob: '*.yaml'\n", `key rules[1]: the rule for "*.yaml" checks nothing`},
		{"rule unknown key", "rules:\n  - glob: '*.yaml'\n    requird: [a]\n", `paracfs.yaml line 3: unknown key "requird" in rules[1] (did you mean required?)`},
		{"rule required", "rules:\n  - glob: '*.yaml'\n    required: a\n", `paracfs.yaml line 3: key rules[1].required: want a list of top-level key names, got "a"`},
		{"stamp bool", "rules:\n  - glob: '*.yaml'\n    stamp_revision: 'yes'\n", `paracfs.yaml line 3: key rules[1].stamp_revision: want true or false, got "yes"`},
		{"syntax", "a: 1\nb: [\n", `paracfs.yaml line 2: did not find expected node content`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := parseConfig(ConfigFile, []byte(tc.data), cmdline)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("parseConfig(%q) = %v, want an error containing %q", tc.data, err, tc.want)
			}
		})
	}
}

func TestParseConfig(t *testing.T) {
	cmdline := Config{Globs: DefaultGlobs, LockTimeout: 10 * time.Second, LogPath: DefaultLogPath, Pinned: []string{SetLog}}
	data := `# settings
revision: 4
tracked: ["*.yaml", "notes/*.md"]
lock_timeout: 2s
log: other/log.jsonl
history: {max_versions: 7, max_age: 30d}
rules:
  - glob: state/*.yaml
    required: [project, phase]
    stamp_revision: true
`
	cfg, warns, err := parseConfig(ConfigFile, []byte(data), cmdline)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(cfg.Globs, " ") != "*.yaml notes/*.md" || cfg.LockTimeout != 2*time.Second ||
		cfg.History != (HistoryBounds{7, 30 * 24 * time.Hour}) || len(cfg.Rules) != 1 ||
		cfg.Rules[0].Glob != "state/*.yaml" || !cfg.Rules[0].StampRevision || cfg.Rules[0].Line != 8 {
		t.Fatalf("parsed %+v", cfg)
	}
	if cfg.LogPath != DefaultLogPath || len(warns) != 1 || !strings.Contains(warns[0], "line 5: key log: set on the command line") {
		t.Fatalf("log %q (pinned by the command line), warnings %q", cfg.LogPath, warns)
	}
	cfg, _, err = parseConfig(ConfigFile, []byte("history: {max_versions: 0, max_age: 0s}\n"), cmdline)
	if err != nil || cfg.History != (HistoryBounds{-1, -1}) {
		t.Fatalf("history of 0 versions and age 0 (keep none, no age bound): %+v, %v", cfg.History, err)
	}
	cmdline.Pinned = []string{SetHistoryAge}
	cmdline.History = HistoryBounds{MaxAge: time.Hour}
	cfg, warns, _ = parseConfig(ConfigFile, []byte("history:\n  max_versions: 3\n  max_age: 2d\n"), cmdline)
	if cfg.History != (HistoryBounds{3, time.Hour}) || len(warns) != 1 || !strings.Contains(warns[0], "line 3: key history.max_age: set on the command line") {
		t.Fatalf("history with max_age pinned: %+v, %q", cfg.History, warns)
	}
	if !matchGlob("notes/*.md", "notes/a.md") || matchGlob("notes/*.md", "x/notes/a.md") || !matchGlob("*.yaml", "a/b/c.yaml") {
		t.Fatal("matchGlob")
	}
}

// TestRulesAndReload commits through Commit: the checks, the stamping and
// the reload the config file's commit brings.
func TestRulesAndReload(t *testing.T) {
	root := newRoot(t)
	os.MkdirAll(filepath.Join(root, "s"), 0o755)
	os.MkdirAll(filepath.Join(root, "t"), 0o755)
	mustWrite(t, filepath.Join(root, "schema.json"), `{"type": "object", "properties": {"phase": {"enum": ["a", "b"]}}}`, 0o644)
	d := openDir(t, root, Config{})
	commit(t, d, ConfigFile, "rules:\n  - glob: 's/*.yaml'\n    required: [phase]\n    schema: schema.json\n    stamp_revision: true\n")
	if got := oneEntry(t, root, "config", ConfigFile).Description; !strings.Contains(got, "1 rule(s) in force") {
		t.Fatalf("reload line: %s", got)
	}
	_, err := d.Commit(Write{Path: "s/x.yaml", Data: []byte("other: 1\n"), Base: -1, Caller: testCaller})
	r := wantRefusal(t, err, OpInvalid, syscall.EBADMSG)
	if !strings.Contains(r.Reason, "missing required key phase") || !strings.Contains(r.Reason, "paracfs.yaml line 2") {
		t.Fatalf("reason %q", r.Reason)
	}
	_, err = d.Commit(Write{Path: "s/x.yaml", Data: []byte("phase: c\n"), Base: -1, Caller: testCaller})
	r = wantRefusal(t, err, OpInvalid, syscall.EBADMSG)
	if !strings.Contains(r.Reason, "does not match the schema schema.json") || !strings.Contains(r.Reason, "at '/phase'") {
		t.Fatalf("reason %q", r.Reason)
	}
	res := commit(t, d, "s/x.yaml", "# top\nphase: a\n")
	equalBytes(t, "stamped", res.Data, "# top\nrevision: 0\nphase: a\n") // a new name: revision 0
	commit(t, d, "t/x.yaml", "other: 1\n")                               // no rule

	// A schema change that breaks the config is refused; a good one applies.
	_, err = d.Commit(Write{Path: "schema.json", Data: []byte(`{"type": 12}`), Base: -1, Caller: testCaller})
	r = wantRefusal(t, err, OpInvalid, syscall.EBADMSG)
	if !strings.Contains(r.Reason, "paracfs.yaml would no longer load: paracfs.yaml line 2: key rules[1].schema: cannot load the schema schema.json: not a valid JSON Schema: at '/type'") {
		t.Fatalf("reason %q", r.Reason)
	}
	commit(t, d, "schema.json", `{"type": "object"}`)
	commit(t, d, "s/y.yaml", "phase: z\n")

	// A bad config is refused, naming line and key; the old one stays.
	_, err = d.Commit(Write{Path: ConfigFile, Data: []byte("lock_timeout: soon\n"), Base: -1, Caller: testCaller})
	r = wantRefusal(t, err, OpInvalid, syscall.EBADMSG)
	if r.Reason != `paracfs.yaml line 1: key lock_timeout: want a duration such as 10s, got "soon"` {
		t.Fatalf("reason %q", r.Reason)
	}
	if len(d.Config().Rules) != 1 {
		t.Fatal("the refused config replaced the rules")
	}
	// Deleting the config file goes back to the command line's settings.
	if err := d.Remove(ConfigFile, testCaller); err != nil {
		t.Fatal(err)
	}
	if len(d.Config().Rules) != 0 {
		t.Fatal("rules still in force after the config file was removed")
	}
	if _, err := os.Stat(bpath(root, goodConfig)); !os.IsNotExist(err) {
		t.Fatalf("the good copy outlived the config file: %v", err)
	}
}

// TestConfigAtOpen: a bad config at mount falls back on the last good copy,
// or fails with the error when there is none.
func TestConfigAtOpen(t *testing.T) {
	root := newRoot(t)
	mustWrite(t, filepath.Join(root, ConfigFile), "lock_timeout: 3s\n", 0o644)
	d := openDir(t, root, Config{})
	if d.Config().LockTimeout != 3*time.Second {
		t.Fatalf("lock timeout %s", d.Config().LockTimeout)
	}
	d.Close()
	mustWrite(t, filepath.Join(root, ConfigFile), "lock_timeout: 3\n", 0o644)
	d = openDir(t, root, Config{})
	if d.Config().LockTimeout != 3*time.Second {
		t.Fatalf("lock timeout %s, want the good copy's", d.Config().LockTimeout)
	}
	if e := oneEntry(t, root, "config_error", ConfigFile); !strings.Contains(e.Description, "line 1: key lock_timeout") ||
		!strings.Contains(e.Description, "using the last good copy") {
		t.Fatalf("warning %s", e.Description)
	}
	d.Close()
	os.Remove(bpath(root, goodConfig))
	_, err := Open(root, Config{})
	if err == nil || !strings.Contains(err.Error(), "paracfs.yaml line 1: key lock_timeout") || !strings.Contains(err.Error(), "no last good copy") {
		t.Fatalf("Open with a bad config and no good copy: %v", err)
	}
}

// A schema in YAML, referring to another file of DIR: both are read from
// DIR, and a change to the referred file reloads the config.
func TestSchemaRefs(t *testing.T) {
	root := newRoot(t)
	mustWrite(t, filepath.Join(root, "s.yaml"), "type: object\nproperties:\n  phase: {$ref: 'defs.json#/$defs/phase'}\n", 0o644)
	mustWrite(t, filepath.Join(root, "defs.json"), `{"$defs": {"phase": {"enum": ["a"]}}}`, 0o644)
	d := openDir(t, root, Config{})
	commit(t, d, ConfigFile, "rules:\n  - glob: 'x.json'\n    schema: s.yaml\n")
	commit(t, d, "x.json", `{"phase": "a"}`)
	_, err := d.Commit(Write{Path: "x.json", Data: []byte(`{"phase": "b"}`), Base: -1, Caller: testCaller})
	if r := wantRefusal(t, err, OpInvalid, syscall.EBADMSG); !strings.Contains(r.Reason, "at '/phase'") {
		t.Fatalf("reason %q", r.Reason)
	}
	if !d.Managed("defs.json") || !d.Config().dependsOn("defs.json") {
		t.Fatal("the referred schema file is not one the config depends on")
	}
	commit(t, d, "defs.json", `{"$defs": {"phase": {"enum": ["a", "b"]}}}`)
	commit(t, d, "x.json", `{"phase": "b"}`)
	// A reference out of DIR is refused when the config is written.
	_, err = d.Commit(Write{Path: "s.yaml", Data: []byte("$ref: 'https://example.com/s.json'\n"), Base: -1, Caller: testCaller})
	if r := wantRefusal(t, err, OpInvalid, syscall.EBADMSG); !strings.Contains(r.Reason, "https://example.com/s.json: only schema files inside DIR can be referred to") {
		t.Fatalf("reason %q", r.Reason)
	}
}

// FuzzParseConfig: any bytes give a configuration or a *ConfigError, never
// a panic, and an accepted one has sane values.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte("tracked: ['*.yaml']\nlock_timeout: 2s\nlog: a/b.jsonl\nhistory: {max_versions: 3, max_age: 2d}\n"))
	f.Add([]byte("rules:\n  - glob: 'a/*.yaml'\n    required: [x, y]\n    stamp_revision: true\n"))
	f.Add([]byte("lock_timeout: soon\n"))
	f.Add([]byte("- a\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cmdline := Config{Globs: DefaultGlobs, LockTimeout: 10 * time.Second, LogPath: DefaultLogPath}
		cfg, _, err := parseConfig(ConfigFile, data, cmdline)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || !strings.HasPrefix(err.Error(), ConfigFile) {
				t.Fatalf("error %T %q, want a *ConfigError naming the file", err, err)
			}
			return
		}
		if len(cfg.Globs) == 0 || cfg.LockTimeout <= 0 || cfg.LockTimeout > time.Hour || cfg.LogPath == "" || IsMeta(cfg.LogPath) {
			t.Fatalf("accepted %q as %+v", data, cfg)
		}
		for _, r := range cfg.Rules {
			if r.Glob == "" || len(r.Required) == 0 && r.Schema == "" && !r.StampRevision {
				t.Fatalf("accepted an empty rule from %q: %+v", data, r)
			}
		}
	})
}
