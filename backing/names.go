package backing

import (
	"crypto/sha256"
	"encoding/hex"
	"path"
	"strings"
	"unicode/utf8"
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
// managed file: it matches a tracked glob (see matchGlob), or is the config
// file, a schema it names or the change log, and it is not inside the
// metadata folder.
func (d *Dir) Managed(rel string) bool {
	if rel == "" || IsMeta(rel) {
		return false
	}
	if IsTemp(path.Base(rel)) {
		return false
	}
	cfg := d.cfg.Load() // not Config(): no copy on this hot path
	if cfg.dependsOn(rel) || rel == cfg.LogPath {
		return true // the config file, its schemas and the log, whatever the globs
	}
	for _, g := range cfg.Globs {
		if matchGlob(g, rel) {
			return true
		}
	}
	return false
}

// IsLog reports whether rel is the change log.
func (d *Dir) IsLog(rel string) bool { return rel == d.cfg.Load().LogPath }

// HoldsLog reports whether rel is a directory on the way to the change log
// or to the metadata folder. Through the mount such a directory can be
// neither renamed nor removed, nor replaced by a rename: the daemon would
// go on appending to a log that is no longer at its place, where it could
// be rewritten like any file.
func (d *Dir) HoldsLog(rel string) bool {
	if rel == "" || rel == "." {
		return true
	}
	return strings.HasPrefix(d.Config().LogPath, rel+"/") || strings.HasPrefix(MetaDir, rel+"/")
}

// IsMeta reports whether rel is the metadata folder or inside it.
func IsMeta(rel string) bool {
	return rel == MetaDir || strings.HasPrefix(rel, MetaDir+"/")
}

// IsTemp reports whether a base name is one of the daemon's own temp files:
// exactly tempName's pattern, .paracfs-tmp.<name>.<12 lowercase hex digits>.
// A user's file that only starts with the prefix is the user's, and
// start-up recovery leaves it alone.
func IsTemp(leaf string) bool {
	const suffix = 13 // "." and 12 hex digits
	if !strings.HasPrefix(leaf, tempPrefix) || len(leaf) <= len(tempPrefix)+suffix {
		return false
	}
	tail := leaf[len(leaf)-suffix:]
	if tail[0] != '.' {
		return false
	}
	for _, c := range tail[1:] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// split returns the parent directory ("." for the top) and the base name.
func split(rel string) (dir, leaf string) {
	dir, leaf = path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if dir == "" {
		dir = "."
	}
	return dir, leaf
}

// maxName is the longest file name the backing filesystem takes, in bytes.
const maxName = 255

// fitName returns leaf, or when leaf followed by extra more bytes would
// not fit in a file name, a shortened form of it: its first bytes (cut at
// a UTF-8 boundary), "~" and 16 hex digits of its sha256. The names the
// daemon derives from a managed name (its temp file, its lock file, a
// kept copy) use it, so a managed name of up to 255 bytes still commits.
func fitName(leaf string, extra int) string {
	if len(leaf)+extra <= maxName {
		return leaf
	}
	sum := sha256.Sum256([]byte(leaf))
	keep := maxName - extra - 17
	if keep < 0 {
		keep = 0
	}
	for keep > 0 && !utf8.RuneStart(leaf[keep]) {
		keep--
	}
	return leaf[:keep] + "~" + hex.EncodeToString(sum[:8])
}

// lockName is the name of P's commit lock file beside P: paracle's
// <name>.lock, or, for a name whose .lock would be over 255 bytes (which
// paracle cannot lock either), <first bytes of the name>~<16 hex>.lock.
func lockName(leaf string) string { return fitName(leaf, len(".lock")) + ".lock" }

// lockRel is the lock file of rel, relative to DIR.
func lockRel(rel string) string {
	dir, leaf := split(rel)
	if dir == "." {
		return lockName(leaf)
	}
	return dir + "/" + lockName(leaf)
}
