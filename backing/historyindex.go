package backing

import (
	"bytes"
	"encoding/json"
	"path"
	"sort"
	"strconv"
	"time"

	"github.com/paracfs/paracfs/changelog"
)

// Every committed version of a managed file is kept, for a bounded time,
// where a person finds it:
//
//	.paracfs/history/<path>/<rev>.<ext>   e.g. .paracfs/history/roadmap/roadmap.yaml/7.yaml
//	.paracfs/history/<path>/.index.jsonl  one line per version: time, op, pid, uid, command, size, sha256
//	.paracfs/objects/<sha256>             the bytes, once per distinct content
//
// A version's name is a hard link to its object, so identical contents
// (a file put back as it was, a restore) are stored once, and pruning a
// version unlinks its name, then the object once no name holds it.
// Versions are recorded after the commit's rename, under P's lock, so a
// file's history is in commit order; they cost no fsync of their own: a
// crash may lose the newest entries (or leave an object shorter than its
// index says, which show and restore then refuse), never the file.

// HistoryDir holds the versions of every managed file, mirroring DIR.
const HistoryDir = MetaDir + "/history"

// ObjectsDir holds each distinct content once, named by its sha256.
const ObjectsDir = MetaDir + "/objects"

// HistoryIndex is the name of the index inside a file's history folder.
const HistoryIndex = ".index.jsonl"

// Ops of versions that no commit through the mount made.
const (
	OpBefore   = "before"             // a version found unrecorded when a commit replaced it: the content from before the mount, mostly
	OpExternal = changelog.OpExternal // a change made behind the mount's back
	OpRestore  = changelog.OpRestore  // a commit of an old version's bytes
)

// OpTruncate is the op of a truncate(P, n) by path, which fs commits.
const OpTruncate = changelog.OpTruncate

// DefaultHistoryVersions and DefaultHistoryAge are the history bounds when
// the configuration leaves them 0.
const (
	DefaultHistoryVersions = 100
	DefaultHistoryAge      = 30 * 24 * time.Hour
)

// Version is one version of a managed file: a line of its index.
type Version struct {
	Rev     int64     `json:"revision"`
	Time    time.Time `json:"time"`
	Op      string    `json:"op"`
	Pid     int       `json:"pid"`
	Uid     uint32    `json:"uid"`
	Command string    `json:"command"`
	Size    int64     `json:"size"`
	SHA256  string    `json:"sha256"`

	// The file's owner, group and mode (with its type bits, so never 0)
	// when this version was recorded: who could read it then. 0 for a
	// version recorded before paracfs kept them.
	Owner uint32 `json:"owner,omitempty"`
	Group uint32 `json:"group,omitempty"`
	Mode  uint32 `json:"mode,omitempty"`

	// Dropped marks an index line that removes the revision: pruned by
	// the bounds. Never set on a listed version.
	Dropped bool `json:"dropped,omitempty"`
}

// HistoryPath is the folder of rel's versions, relative to DIR.
func HistoryPath(rel string) string { return HistoryDir + "/" + rel }

// VersionName is the name of revision rev of rel inside its history
// folder: the revision with the file's own extension, so editors and
// viewers treat it as the kind of file it is.
func VersionName(rel string, rev int64) string {
	return strconv.FormatInt(rev, 10) + path.Ext(rel)
}

// ParseIndex reads a history index: the versions it lists, oldest
// revision first. A line that does not parse (a torn last line after a
// crash) is skipped; of two lines for one revision the later wins, and a
// "dropped" line removes its revision.
func ParseIndex(b []byte) []Version {
	byRev := map[int64]Version{}
	for _, line := range bytes.Split(b, []byte("\n")) {
		var v Version
		if len(bytes.TrimSpace(line)) == 0 || json.Unmarshal(line, &v) != nil || v.Rev < 0 {
			continue
		}
		if v.Dropped {
			delete(byRev, v.Rev)
			continue
		}
		byRev[v.Rev] = v
	}
	out := make([]Version, 0, len(byRev))
	for _, v := range byRev {
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Rev < out[j].Rev })
	return out
}

// withDefaults fills in the default bounds. A negative MaxAge means no
// age bound.
func (b HistoryBounds) withDefaults() HistoryBounds {
	if b.MaxVersions == 0 {
		b.MaxVersions = DefaultHistoryVersions
	}
	if b.MaxAge == 0 {
		b.MaxAge = DefaultHistoryAge
	}
	return b
}

// Prune returns the versions that the bounds drop, given all of a file's
// versions oldest first: all but the newest MaxVersions, and those that
// stopped being current more than MaxAge before now (a version's age is
// its successor's: a file left alone for a year and then committed keeps
// the year-old version it replaced, which git, a backup or an editor may
// still write back). The newest version is always kept.
func (b HistoryBounds) Prune(vs []Version, now time.Time) (drop, keep []Version) {
	b = b.withDefaults()
	for i, v := range vs {
		newest := i == len(vs)-1
		tooMany := len(vs)-i > b.MaxVersions
		tooOld := !newest && b.MaxAge > 0 && now.Sub(vs[i+1].Time) > b.MaxAge
		if !newest && (tooMany || tooOld) {
			drop = append(drop, v)
		} else {
			keep = append(keep, v)
		}
	}
	return drop, keep
}
