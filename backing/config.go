package backing

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// ConfigFile is the project's own configuration, at the top of DIR. It is a
// managed YAML file like any other (committed, revision-checked, logged)
// whose content is also checked as a configuration before it is committed,
// and which applies as soon as it is committed.
const ConfigFile = "paracfs.yaml"

// goodConfig is a copy of the last config file the daemon applied. A mount
// that finds the config file broken uses it, with a warning.
const goodConfig = MetaDir + "/config.good.yaml"

// Rule is what the config file says about the managed files that match
// Glob: the top-level keys they must have, the JSON Schema they must match,
// and whether they carry a revision field.
type Rule struct {
	Glob          string
	Required      []string // top-level keys a YAML mapping or JSON object must have
	Schema        string   // a JSON Schema file, relative to DIR
	StampRevision bool     // a mapping without a revision field gets one
	Line          int      // where the rule starts in the config file

	schema *jsonschema.Schema
}

// The settings the config file can set, by key. Pinned names them too.
const (
	SetTracked     = "tracked"
	SetLockTimeout = "lock_timeout"
	SetLog         = "log"
	SetHistory     = "history"
	// SetLogMaxSize rotates the change log at a size (0: never), and
	// SetStoreMaxSize bounds DIR/.paracfs's history and kept refusals
	// (0: no bound): sizes such as 64MiB.
	SetLogMaxSize   = "log_max_size"
	SetStoreMaxSize = "store_max_size"
	// SetStagingMaxSize bounds the bytes staged on all open handles (0:
	// no bound); SetFdReserve is the descriptors kept for commits.
	SetStagingMaxSize = "staging_max_size"
	SetFdReserve      = "fd_reserve"
	SetRules          = "rules"

	SetHistoryVersions = "history.max_versions"
	SetHistoryAge      = "history.max_age"
)

var configKeys = []string{"revision", SetTracked, SetLockTimeout, SetLog, SetLogMaxSize, SetStoreMaxSize, SetStagingMaxSize, SetFdReserve, SetHistory, SetRules,
	SetStore, SetEtcdCA, SetEtcdCert, SetEtcdKey, SetEtcdUser, SetEtcdPasswordFile}

// ConfigError is a config file refused: it names the file, the line and
// the key, and says what was wanted.
type ConfigError struct {
	File string
	Line int
	Key  string // "lock_timeout", "history.max_age", "rules[2].schema"; "" when none
	Msg  string
}

func (e *ConfigError) Error() string {
	s := e.File
	if e.Line > 0 {
		s += " line " + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		s += ": key " + e.Key
	}
	return s + ": " + e.Msg
}

// configParser reads one config file onto a copy of the command line's
// configuration.
type configParser struct {
	file      string
	cfg       Config
	warnings  []string // settings the command line overrides
	storeLine int      // the last line of a store key (configstore.go); 0: none
}

func (p *configParser) errorf(n *yaml.Node, key, format string, args ...any) error {
	line := 0
	if n != nil {
		line = n.Line
	}
	return &ConfigError{File: p.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)}
}

// parseConfig reads the config file data (named file in messages) over
// cmdline, the command line's configuration. Settings in cmdline.Pinned keep
// cmdline's value, with a warning. Schemas are named, not yet compiled.
func parseConfig(file string, data []byte, cmdline Config) (_ Config, _ []string, err error) {
	defer func() {
		if r := recover(); r != nil { // yaml.v3 panics on a few inputs: never crash on one
			err = &ConfigError{File: file, Msg: fmt.Sprintf("yaml: parser failed: %v", r)}
		}
	}()
	p := &configParser{file: file, cfg: cmdline}
	p.cfg.Rules = nil
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return Config{}, nil, yamlConfigError(file, err.Error())
	}
	if len(doc.Content) == 0 {
		return p.cfg, nil, nil // empty, or comments only
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return Config{}, nil, p.errorf(root, "", "want a mapping of settings (key: value), got %s", describeNode(root))
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if isNull(v) {
			continue // `key:` with nothing after it: not set
		}
		var err error
		switch k.Value {
		case "revision":
			// The file's own revision, stamped by paracfs: not a setting.
		case SetTracked:
			var globs []string
			if globs, err = p.globList(v, SetTracked); err == nil {
				p.set(k, SetTracked, func() { p.cfg.Globs = globs })
			}
		case SetLockTimeout:
			var d time.Duration
			if d, err = p.duration(v, SetLockTimeout, "10s", false); err == nil {
				if d <= 0 || d > time.Hour {
					err = p.errorf(v, SetLockTimeout, "want a duration from 1ms to 1h, got %s", v.Value)
				} else {
					p.set(k, SetLockTimeout, func() { p.cfg.LockTimeout = d })
				}
			}
		case SetLog:
			var s string
			if s, err = p.str(v, SetLog, "a path inside DIR such as memory/logs/state_changes.jsonl"); err == nil {
				var clean string
				if clean, err = checkLogPath(s); err != nil {
					err = p.errorf(v, SetLog, "%v", err)
				} else {
					p.set(k, SetLog, func() { p.cfg.LogPath = clean })
				}
			}
		case SetLogMaxSize, SetStoreMaxSize, SetStagingMaxSize:
			var n int64
			if n, err = p.size(v, k.Value); err == nil {
				key := k.Value
				p.set(k, key, func() {
					switch key {
					case SetLogMaxSize:
						p.cfg.LogMaxSize = n
					case SetStoreMaxSize:
						p.cfg.StoreMaxSize = n
					default:
						p.cfg.StagingMaxSize = n
					}
				})
			}
		case SetFdReserve:
			n, perr := strconv.ParseInt(v.Value, 10, 64)
			if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!int" || perr != nil || n < 0 {
				err = p.errorf(v, SetFdReserve, "want a whole number of descriptors such as 1024, got %s", describeNode(v))
			} else {
				p.set(k, SetFdReserve, func() { p.cfg.FdReserve = n })
			}
		case SetHistory:
			err = p.history(v)
		case SetRules:
			err = p.rules(v)
		case SetStore, SetEtcdCA, SetEtcdCert, SetEtcdKey, SetEtcdUser, SetEtcdPasswordFile, setStoreName:
			err = p.storeKey(k, v)
		default:
			err = p.errorf(k, "", "unknown key %q%s (known keys: %s)", k.Value, didYouMean(k.Value, configKeys[1:]), strings.Join(configKeys[1:], ", "))
		}
		if err != nil {
			return Config{}, nil, err
		}
	}
	if err := p.checkStore(); err != nil {
		return Config{}, nil, err
	}
	return p.cfg, p.warnings, nil
}

// set applies a setting unless the command line pinned it.
func (p *configParser) set(k *yaml.Node, key string, apply func()) {
	if slices.Contains(p.cfg.Pinned, key) {
		p.warnings = append(p.warnings, fmt.Sprintf("%s line %d: key %s: set on the command line, which takes precedence", p.file, k.Line, key))
		return
	}
	apply()
}

// The regexps that read yaml.v3's messages are compiled on first use: a
// command that never reports a broken config file does not pay for them.
var (
	yamlLine   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^yaml: line (\d+): (.*)$`) })
	dupKeyLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^duplicate key "(.*)" at line (\d+)$`) })
)

// history reads the history bounds. As with the mount flags
// --history-versions and --history-days, 0 versions keeps none and an age
// of 0 sets no age bound; HistoryBounds says both with a negative value
// (its zero means "the default"). Each bound can be pinned on its own.
func (p *configParser) history(v *yaml.Node) error {
	if v.Kind != yaml.MappingNode {
		return p.errorf(v, SetHistory, "want a mapping with max_versions and max_age, got %s", describeNode(v))
	}
	for i := 0; i+1 < len(v.Content); i += 2 {
		hk, hv := v.Content[i], v.Content[i+1]
		key := SetHistory + "." + hk.Value
		if isNull(hv) {
			continue
		}
		switch key {
		case SetHistoryVersions:
			n, err := strconv.Atoi(hv.Value)
			if hv.Kind != yaml.ScalarNode || hv.ShortTag() != "!!int" || err != nil || n < 0 {
				return p.errorf(hv, key, "want a whole number of versions such as 50 (0: keep none), got %s", describeNode(hv))
			}
			if n == 0 {
				n = -1
			}
			p.set(hk, key, func() { p.cfg.History.MaxVersions = n })
		case SetHistoryAge:
			d, err := p.duration(hv, key, "720h or 30d", true)
			if err != nil {
				return err
			}
			if d < 0 {
				return p.errorf(hv, key, "want a duration that is not negative (0: no age bound), got %s", hv.Value)
			}
			if d == 0 {
				d = -1
			}
			p.set(hk, key, func() { p.cfg.History.MaxAge = d })
		default:
			known := []string{"max_versions", "max_age"}
			return p.errorf(hk, "", "unknown key %q in %s%s (known keys: %s)", hk.Value, SetHistory, didYouMean(hk.Value, known), strings.Join(known, ", "))
		}
	}
	return nil
}

var ruleKeys = []string{"glob", "required", "schema", "stamp_revision"}

func (p *configParser) rules(v *yaml.Node) error {
	if v.Kind != yaml.SequenceNode {
		return p.errorf(v, SetRules, "want a list of rules (- glob: ...), got %s", describeNode(v))
	}
	for i, rn := range v.Content {
		key := fmt.Sprintf("%s[%d]", SetRules, i+1)
		if rn.Kind != yaml.MappingNode {
			return p.errorf(rn, key, "want a rule (glob: ..., with required, schema or stamp_revision), got %s", describeNode(rn))
		}
		r := Rule{Line: rn.Line}
		for j := 0; j+1 < len(rn.Content); j += 2 {
			fk, fv := rn.Content[j], rn.Content[j+1]
			fkey := key + "." + fk.Value
			if isNull(fv) {
				continue
			}
			var err error
			switch fk.Value {
			case "glob":
				var globs []string
				if globs, err = p.globList(&yaml.Node{Kind: yaml.SequenceNode, Line: fv.Line, Content: []*yaml.Node{fv}}, fkey); err == nil {
					r.Glob = globs[0]
				}
			case "required":
				r.Required, err = p.strList(fv, fkey, "top-level key names")
			case "schema":
				var s string
				if s, err = p.str(fv, fkey, "a JSON Schema file inside DIR such as schemas/state.json"); err == nil {
					if r.Schema, err = insideDir(s); err != nil {
						err = p.errorf(fv, fkey, "%v", err)
					}
				}
			case "stamp_revision":
				if fv.Kind != yaml.ScalarNode || fv.ShortTag() != "!!bool" {
					err = p.errorf(fv, fkey, "want true or false, got %s", describeNode(fv))
				} else {
					r.StampRevision = fv.Value == "true" || fv.Value == "True" || fv.Value == "TRUE"
				}
			default:
				err = p.errorf(fk, "", "unknown key %q in %s%s (known keys: %s)", fk.Value, key, didYouMean(fk.Value, ruleKeys), strings.Join(ruleKeys, ", "))
			}
			if err != nil {
				return err
			}
		}
		if r.Glob == "" {
			return p.errorf(rn, key, "a rule needs a glob: the managed files it applies to")
		}
		if len(r.Required) == 0 && r.Schema == "" && !r.StampRevision {
			return p.errorf(rn, key, "the rule for %q checks nothing: give required, schema or stamp_revision", r.Glob)
		}
		p.cfg.Rules = append(p.cfg.Rules, r)
	}
	return nil
}

// globList reads a list of globs, each checked for syntax.
func (p *configParser) globList(v *yaml.Node, key string) ([]string, error) {
	globs, err := p.strList(v, key, `globs such as "*.yaml"`)
	if err != nil {
		return nil, err
	}
	if len(globs) == 0 {
		return nil, p.errorf(v, key, `want at least one glob such as "*.yaml"`)
	}
	for i, g := range globs {
		if _, err := path.Match(g, ""); err != nil || g == "" || strings.HasPrefix(g, "/") || strings.HasSuffix(g, "/") {
			return nil, p.errorf(v.Content[min(i, len(v.Content)-1)], key, "%q is not a glob (path.Match syntax: * ? [a-z], / between folders)", g)
		}
	}
	return globs, nil
}

func (p *configParser) strList(v *yaml.Node, key, what string) ([]string, error) {
	if v.Kind != yaml.SequenceNode {
		return nil, p.errorf(v, key, "want a list of %s, got %s", what, describeNode(v))
	}
	out := make([]string, 0, len(v.Content))
	for _, e := range v.Content {
		if e.Kind != yaml.ScalarNode || e.ShortTag() != "!!str" || e.Value == "" {
			return nil, p.errorf(e, key, "want a list of %s, got %s in it", what, describeNode(e))
		}
		out = append(out, e.Value)
	}
	return out, nil
}

func (p *configParser) str(v *yaml.Node, key, what string) (string, error) {
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" || v.Value == "" {
		return "", p.errorf(v, key, "want %s, got %s", what, describeNode(v))
	}
	return v.Value, nil
}

// duration reads a Go duration (10s, 1m30s), or with days, a number of
// days (30d).
func (p *configParser) duration(v *yaml.Node, key, example string, days bool) (time.Duration, error) {
	bad := func() (time.Duration, error) {
		return 0, p.errorf(v, key, "want a duration such as %s, got %s", example, describeNode(v))
	}
	if v.Kind != yaml.ScalarNode || v.ShortTag() != "!!str" {
		if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!int" {
			return 0, p.errorf(v, key, "want a duration such as %s, got the number %s without a unit", example, v.Value)
		}
		return bad()
	}
	if n, ok := strings.CutSuffix(v.Value, "d"); ok && days {
		d, err := strconv.Atoi(n)
		if err != nil || d < 0 || d > 100*365 {
			return bad()
		}
		return time.Duration(d) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v.Value)
	if err != nil {
		return bad()
	}
	return d, nil
}

// insideDir cleans a path relative to DIR and refuses one that leaves it
// or names the metadata folder.
func insideDir(p string) (string, error) {
	clean := path.Clean(p)
	switch {
	case strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("%q: want a path relative to DIR, not an absolute one", p)
	case clean == "." || clean == ".." || strings.HasPrefix(clean, "../"):
		return "", fmt.Errorf("%q: want a path inside DIR", p)
	case IsMeta(clean):
		return "", fmt.Errorf("%q: %s/ belongs to paracfs", p, MetaDir)
	}
	return clean, nil
}

// checkLogPath checks a change log path from the config file.
func checkLogPath(p string) (string, error) {
	clean, err := insideDir(p)
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(clean, ".jsonl") {
		// An existing YAML or Markdown file would be taken for a log
		// with a torn last line, and cut.
		return "", fmt.Errorf("%q: want a .jsonl file", p)
	}
	return clean, nil
}

// matchGlob reports whether rel matches glob: a glob without a slash
// matches the base name in any folder ("*.yaml"), one with a slash the
// whole path from the top of DIR ("policies/*.yaml").
func matchGlob(glob, rel string) bool {
	if !strings.Contains(glob, "/") {
		rel = path.Base(rel)
	}
	ok, _ := path.Match(glob, rel)
	return ok
}

// size reads a size such as 64MiB, or 0 for none.
func (p *configParser) size(v *yaml.Node, key string) (int64, error) {
	if v.Kind == yaml.ScalarNode && strings.TrimSpace(v.Value) == "0" {
		return 0, nil
	}
	if v.Kind != yaml.ScalarNode {
		return 0, p.errorf(v, key, "want a size such as 64MiB (0: none), got %s", describeNode(v))
	}
	n, err := ParseSize(v.Value)
	if err == nil && n < 4096 {
		err = errors.New("want at least 4KiB")
	}
	if err != nil {
		return 0, p.errorf(v, key, "%v (0: none), got %s", err, v.Value)
	}
	return n, nil
}

// ParseSize reads a size: 4096, 512KiB, 16MiB, 1GiB (KB, MB, GB: powers
// of 1000).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n <= 0 {
		return 0, errors.New("want a positive size such as 4096, 512KiB or 16MiB")
	}
	if n > (1<<40)/mult {
		return 0, errors.New("too large")
	}
	return n * mult, nil
}
