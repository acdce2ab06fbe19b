package backing

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/changelog"
	"github.com/paracfs/paracfs/revision"
)

// The configuration in force is the command line's (Open's cfg), with the
// config file's settings over it, except those the command line pinned.
// It is swapped whole, at once: every reader calls Config() and sees one
// version or the next, never half of each.

// Config returns the configuration in force.
func (d *Dir) Config() Config { return *d.cfg.Load() }

// OnConfig has fn called with the new configuration each time the config
// file is applied while DIR is open (not at Open: Config() is there).
func (d *Dir) OnConfig(fn func(Config)) {
	d.cfg.mu.Lock()
	d.cfg.onChange = fn
	d.cfg.mu.Unlock()
}

// ConfigFallback says why DIR was opened with the last good copy of its
// config file, broken on disk; "" when it was not.
func (d *Dir) ConfigFallback() string { return d.cfg.fallback }

// loadConfig reads the config file when DIR is opened. A broken one is
// replaced by the last good copy, and fallback says so; with no good copy,
// the error fails the mount. The messages are logged once the change log
// is open.
func (d *Dir) loadConfig() (fallback string, warns []string, err error) {
	data, err := d.readConfigFile(ConfigFile)
	if err == unix.ENOENT {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, fmt.Errorf("%s/%s: %w", d.Root, ConfigFile, err)
	}
	cfg, warns, err := d.buildConfig(ConfigFile, data, nil)
	if err == nil {
		d.cfg.Store(&cfg)
		if err := d.writeMetaFile(goodConfig, data); err != nil {
			warns = append(warns, fmt.Sprintf("cannot save a copy of %s in %s: %v", ConfigFile, goodConfig, err))
		}
		return "", warns, nil
	}
	bad := err
	good, err := d.readConfigFile(goodConfig)
	if err != nil {
		return "", nil, fmt.Errorf("%w (no last good copy in %s/%s to fall back on)", bad, d.Root, goodConfig)
	}
	cfg, warns, err = d.buildConfig(goodConfig, good, nil)
	if err != nil {
		return "", nil, fmt.Errorf("%w (and the last good copy does not load either: %v)", bad, err)
	}
	d.cfg.Store(&cfg)
	return fmt.Sprintf("%v: using the last good copy, %s, until %s is fixed", bad, goodConfig, ConfigFile), warns, nil
}

// readConfigFile reads a config or schema file: a regular file (a FIFO
// would block, a symlink is never followed), within the size limit.
func (d *Dir) readConfigFile(rel string) ([]byte, error) {
	return d.readRegular(rel, d.cfg.cmdline.Limits.MaxSize)
}

// buildConfig reads a config file's bytes over the command line's
// configuration and compiles the schemas it names. override holds new
// bytes for schema files about to be committed.
func (d *Dir) buildConfig(file string, data []byte, override map[string][]byte) (Config, []string, error) {
	if _, err := revision.Parse(revision.YAML, data, d.cfg.cmdline.Limits); err != nil {
		var inv *revision.InvalidError
		if errors.As(err, &inv) {
			return Config{}, nil, yamlConfigError(file, inv.Reason)
		}
		return Config{}, nil, &ConfigError{File: file, Msg: err.Error()}
	}
	cfg, warns, err := parseConfig(file, data, d.cfg.cmdline)
	if err != nil {
		return Config{}, nil, err
	}
	if err := d.compileSchemas(file, &cfg, override); err != nil {
		return Config{}, nil, err
	}
	return cfg, warns, nil
}

// checkConfigWrite refuses a write that would leave the config file
// unable to load: a broken config file, or a schema it names broken.
func (d *Dir) checkConfigWrite(cfg Config, rel string, data []byte) error {
	if !cfg.dependsOn(rel) {
		return nil
	}
	if rel == ConfigFile {
		_, _, err := d.buildConfig(ConfigFile, data, nil)
		return err
	}
	conf, err := d.readConfigFile(ConfigFile)
	if err != nil {
		return nil // no config file on disk: nothing reads this schema any more
	}
	if _, _, err := d.buildConfig(ConfigFile, conf, nil); err != nil {
		return nil // the config file is broken already; fixing a schema first is fine
	}
	if _, _, err := d.buildConfig(ConfigFile, conf, map[string][]byte{rel: data}); err != nil {
		return fmt.Errorf("%s would no longer load: %w", ConfigFile, err)
	}
	return nil
}

// configTouched reloads the configuration, once, when one of rels (just
// committed, deleted, moved, or changed behind the mount's back) is a file
// it is read from.
func (d *Dir) configTouched(rels ...string) {
	cfg := d.cfg.Load()
	for _, rel := range rels {
		if cfg.dependsOn(rel) {
			d.reloadConfig(rel)
			return
		}
	}
}

// reloadConfig reads the config file again and applies it at once. A
// config file that does not load leaves the configuration in force, with
// a warning; a deleted one leaves the command line's.
func (d *Dir) reloadConfig(cause string) {
	d.cfg.mu.Lock()
	defer d.cfg.mu.Unlock()
	var cfg Config
	var warns []string
	data, err := d.readConfigFile(ConfigFile)
	switch {
	case err == unix.ENOENT:
		cfg = d.cfg.cmdline
		d.atParent(goodConfig, func(pfd int, leaf string) error { return unix.Unlinkat(pfd, leaf, 0) })
	case err != nil:
		d.configNote(changelog.OpConfigError, fmt.Sprintf("%s: %v: keeping the configuration in force", ConfigFile, err))
		return
	default:
		if cfg, warns, err = d.buildConfig(ConfigFile, data, nil); err != nil {
			d.configNote(changelog.OpConfigError, fmt.Sprintf("%v: keeping the configuration in force (after a change to %s)", err, cause))
			return
		}
		if err := d.writeMetaFile(goodConfig, data); err != nil {
			warns = append(warns, fmt.Sprintf("cannot save a copy of %s in %s: %v", ConfigFile, goodConfig, err))
		}
	}
	old := d.Config()
	d.keepStore(old, &cfg)
	changes := configChanges(old, cfg)
	if old.LogPath != cfg.LogPath {
		d.configNote(changelog.OpConfig, fmt.Sprintf("the change log moves to %s (%s changed)", cfg.LogPath, ConfigFile))
	}
	d.cfg.Store(&cfg)
	if old.LogPath != cfg.LogPath {
		d.switchLog()
	}
	if d.cfg.onChange != nil {
		d.cfg.onChange(cfg)
	}
	what := "no setting changed"
	if len(changes) > 0 {
		what = strings.Join(changes, "; ")
	}
	if data == nil {
		d.configNote(changelog.OpConfig, fmt.Sprintf("%s is gone: the command line's settings and the defaults apply: %s", ConfigFile, what))
	} else {
		d.configNote(changelog.OpConfig, fmt.Sprintf("configuration reloaded from %s after a change to %s: %s", ConfigFile, cause, what))
	}
	for _, w := range warns {
		d.configNote(changelog.OpConfig, w)
	}
}

// switchLog makes the next log line open the change log at its new path.
// The old log stays open until Close: a line being appended to it while
// the path changes still lands whole. A prune of the old log finishes
// first.
func (d *Dir) switchLog() {
	d.log.pruneMu.Lock()
	defer d.log.pruneMu.Unlock()
	d.log.mu.Lock()
	defer d.log.mu.Unlock()
	if d.log.f != nil {
		d.log.retired = append(d.log.retired, d.log.f)
	}
	d.log.w, d.log.f = nil, nil
}

// configNote logs one line about the configuration, also in the daemon's
// log.
func (d *Dir) configNote(op, msg string) { d.event(op, ConfigFile, msg) }

// configChanges names the settings that differ, for the log.
func configChanges(old, cfg Config) []string {
	var out []string
	if !slices.Equal(old.Globs, cfg.Globs) {
		out = append(out, fmt.Sprintf("tracked %s → %s", strings.Join(old.Globs, " "), strings.Join(cfg.Globs, " ")))
	}
	if old.LockTimeout != cfg.LockTimeout {
		out = append(out, fmt.Sprintf("lock_timeout %s → %s", old.LockTimeout, cfg.LockTimeout))
	}
	if old.LogPath != cfg.LogPath {
		out = append(out, fmt.Sprintf("log %s → %s", old.LogPath, cfg.LogPath))
	}
	if old.History != cfg.History {
		out = append(out, fmt.Sprintf("history max_versions %d → %d, max_age %s → %s",
			old.History.MaxVersions, cfg.History.MaxVersions, old.History.MaxAge, cfg.History.MaxAge))
	}
	if len(old.Rules) != 0 || len(cfg.Rules) != 0 {
		out = append(out, fmt.Sprintf("%d rule(s) in force", len(cfg.Rules)))
	}
	return out
}

// yamlConfigError turns a YAML refusal reason into a ConfigError naming
// the line.
func yamlConfigError(file, reason string) error {
	if m := yamlLine().FindStringSubmatch(reason); m != nil {
		line := 0
		fmt.Sscan(m[1], &line)
		return &ConfigError{File: file, Line: line, Msg: m[2]}
	}
	if m := dupKeyLine().FindStringSubmatch(reason); m != nil {
		line := 0
		fmt.Sscan(m[2], &line)
		return &ConfigError{File: file, Line: line, Key: m[1], Msg: "given twice"}
	}
	return &ConfigError{File: file, Msg: strings.TrimPrefix(reason, "yaml: ")}
}
