package backing

import (
	"path"
	"strings"
)

// DefaultGlobs are the names paracfs manages unless configured otherwise.
var DefaultGlobs = []string{"*.yaml", "*.yml", "*.json", "*.jsonl", "*.md"}

// MetaDir is the metadata folder inside DIR: refused writes, tombstones,
// the daemon's own log. It is read-only through the mount.
const MetaDir = ".paracfs"

// ControlFile is where the paracfs command talks to a running daemon
// (see fs/control.go). It exists on disk, empty, so that it can be looked
// up and opened through the mount.
const ControlFile = MetaDir + "/control"

// DefaultLogPath is the change log, relative to DIR (paracle's own log).
const DefaultLogPath = "memory/logs/state_changes.jsonl"

// tempPrefix starts the name of every temp file a commit writes beside its
// target. Such names are hidden from the mount and removed at start.
const tempPrefix = ".paracfs-tmp."

// Managed reports whether rel (a slash-separated path relative to DIR) is a
// managed file: its base name matches a tracked glob and it is not inside
// the metadata folder.
func (d *Dir) Managed(rel string) bool {
	if rel == "" || IsMeta(rel) {
		return false
	}
	base := path.Base(rel)
	if IsTemp(base) {
		return false
	}
	for _, g := range d.cfg.Globs {
		if ok, _ := path.Match(g, base); ok {
			return true
		}
	}
	return false
}

// IsLog reports whether rel is the change log.
func (d *Dir) IsLog(rel string) bool { return rel == d.cfg.LogPath }

// IsMeta reports whether rel is the metadata folder or inside it.
func IsMeta(rel string) bool {
	return rel == MetaDir || strings.HasPrefix(rel, MetaDir+"/")
}

// IsTemp reports whether a base name is one of the daemon's own temp files.
func IsTemp(base string) bool { return strings.HasPrefix(base, tempPrefix) }

// split returns the parent directory ("." for the top) and the base name.
func split(rel string) (dir, base string) {
	dir, base = path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	return dir, base
}
