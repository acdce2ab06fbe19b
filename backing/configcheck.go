package backing

import (
	"os"
	"path"
	"sort"
	"time"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/revision"
)

// CheckReport is what Check found.
type CheckReport struct {
	Config   Config   // the configuration DIR's config file gives
	HasFile  bool     // DIR has a config file
	Warnings []string // settings the command line overrides
	Files    int      // managed files checked
	Refused  []CheckedFile
}

// CheckedFile is a managed file that a commit of its current content would
// refuse, and why.
type CheckedFile struct {
	Path, Reason string
}

// Check reads DIR's config file, and checks every managed file in DIR as a
// commit of its current content would (validation, limits, the config
// file's rules), without mounting and without writing anything: a check
// to run before mounting, or in CI. A config file that does not load is
// the error. cmdline is the command line's configuration.
func Check(root string, cmdline Config) (CheckReport, error) {
	d, rep, err := readConfig(root, cmdline)
	if err != nil {
		return CheckReport{}, err
	}
	defer unix.Close(d.fd)
	err = d.walk(".", func(rel string) {
		rep.Files++
		if reason := d.checkFile(rel); reason != "" {
			rep.Refused = append(rep.Refused, CheckedFile{Path: rel, Reason: reason})
		}
	})
	return rep, err
}

// ReadConfig returns the configuration DIR's config file gives over cmdline
// (the defaults when DIR has none), as a mount of DIR would load it, for
// commands that run without the daemon (where is the change log?). It
// writes nothing.
func ReadConfig(root string, cmdline Config) (Config, error) {
	d, rep, err := readConfig(root, cmdline)
	if err != nil {
		return Config{}, err
	}
	unix.Close(d.fd)
	return rep.Config, nil
}

// readConfig opens DIR for reading only (no metadata folder, no log, no
// locks) and loads its config file. The caller closes d.fd.
func readConfig(root string, cmdline Config) (*Dir, CheckReport, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, CheckReport{}, err
	}
	if len(cmdline.Globs) == 0 {
		cmdline.Globs = DefaultGlobs
	}
	if cmdline.LogPath == "" {
		cmdline.LogPath = DefaultLogPath
	}
	if cmdline.Limits.MaxSize <= 0 {
		cmdline.Limits.MaxSize = revision.DefaultLimits().MaxSize
	}
	if cmdline.LockTimeout <= 0 {
		cmdline.LockTimeout = 10 * time.Second
	}
	d := &Dir{fd: fd, Root: root, cfg: configState{cmdline: cmdline}}
	d.cfg.Store(&cmdline)
	var rep CheckReport
	data, err := d.readConfigFile(ConfigFile)
	switch {
	case err == nil:
		cfg, warns, err := d.buildConfig(ConfigFile, data, nil)
		if err != nil {
			unix.Close(fd)
			return nil, CheckReport{}, err
		}
		d.cfg.Store(&cfg)
		rep.HasFile, rep.Warnings = true, warns
	case err != unix.ENOENT:
		unix.Close(fd)
		return nil, CheckReport{}, &ConfigError{File: ConfigFile, Msg: err.Error()}
	}
	rep.Config = d.Config()
	return d, rep, nil
}

// checkFile returns why a commit of rel's current content would be
// refused, or "".
func (d *Dir) checkFile(rel string) string {
	data, err := d.readConfigFile(rel)
	if err != nil {
		return err.Error()
	}
	doc, err := revision.Parse(revision.KindOf(rel), data, d.Config().Limits)
	if err != nil {
		return err.Error()
	}
	if err := d.checkRules(rel, doc); err != nil {
		return err.Error()
	}
	return ""
}

// walk calls fn for each managed regular file beneath dir, in name order,
// leaving out the metadata folder, the change log and temp files, and
// following no symlink.
func (d *Dir) walk(dir string, fn func(rel string)) error {
	fd, err := d.openat(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0) // beneath DIR, through no symlink
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), dir)
	ents, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return err
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents {
		rel := path.Join(dir, e.Name())
		switch {
		case IsMeta(rel) || IsTemp(e.Name()) || d.IsLog(rel):
		case e.IsDir():
			if err := d.walk(rel, fn); err != nil {
				return err
			}
		case e.Type().IsRegular() && d.Managed(rel):
			fn(rel)
		}
	}
	return nil
}
