package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/paracfs/paracfs/backing"
	"github.com/paracfs/paracfs/changelog"
)

// rejectedID is the ID of a kept file (named relative to DIR).
func rejectedID(kept string) string {
	sum := sha256.Sum256([]byte(kept))
	return hex.EncodeToString(sum[:])[:8]
}

// listKept finds the kept refused writes of dir, oldest first, with what
// their log lines say about them.
func listKept(dir string) ([]rejectedEntry, error) {
	var out []rejectedEntry
	meta := metaDirOf(dir)
	root := metaPath(dir, backing.RejectedDir)
	err := filepath.WalkDir(root, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			if p == root && errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipAll
			}
			if errors.Is(err, fs.ErrPermission) {
				// A folder of DIR's the caller may not search, or, with
				// DIR unmounted, the daemon's own: nothing of its own there.
				if p == root {
					return filepath.SkipAll
				}
				return filepath.SkipDir
			}
			return err
		}
		if !de.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(meta, p)
		if err != nil {
			return nil
		}
		k, ok := backing.ParseKept(backing.MetaDir + "/" + filepath.ToSlash(rel))
		if !ok {
			return nil
		}
		e := rejectedEntry{ID: rejectedID(k.Kept), Path: k.Path, Time: k.Time, Pid: k.Pid, Op: k.Reason, Kept: k.Kept}
		if info, err := de.Info(); err == nil {
			e.Size = info.Size()
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("listing refused writes: %w", err)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Time.Equal(out[j].Time) {
			return out[i].Time.Before(out[j].Time)
		}
		return out[i].Kept < out[j].Kept
	})
	if len(out) > 0 {
		addLogDetails(dir, out)
	}
	return out, nil
}

// addLogDetails fills the command, reason and errno of each kept write
// from its log line. It reads the log backward, no further than a little
// before the oldest kept write, so its cost follows how old that one is.
func addLogDetails(dir string, es []rejectedEntry) {
	f, err := openLogRead(filepath.Join(dir, logPathOf(dir)))
	if err != nil {
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return
	}
	byKept := map[string]*rejectedEntry{}
	for i := range es {
		byKept[es[i].Kept] = &es[i]
	}
	lines, _ := changelog.Last(f, st.Size(), changelog.Filter{Since: es[0].Time.Add(-time.Minute)}, 0)
	// The first line naming a kept file is its refusal; later ones are
	// refusals of `rejected apply`, by paracfs.
	for _, l := range lines {
		if e := byKept[l.Kept]; e != nil && l.Op == e.Op && e.Command == "" && e.Reason == "" {
			e.Command, e.Reason, e.Errno = l.Command, l.Reason, l.Errno
		}
	}
}

// findRejected resolves an ID (a unique prefix of 4 hex digits or more) or
// a kept file's name.
func findRejected(dir, id string) (rejectedEntry, error) {
	es, err := listKept(dir)
	if err != nil {
		return rejectedEntry{}, err
	}
	if strings.Contains(id, "/") {
		name := filepath.ToSlash(relTo(dir, id))
		for _, e := range es {
			if e.Kept == name {
				return e, nil
			}
		}
		return rejectedEntry{}, fmt.Errorf("%s: no such refused write in %s (run paracfs rejected)", id, dir)
	}
	id = strings.ToLower(id)
	if len(id) < 4 || strings.Trim(id, "0123456789abcdef") != "" {
		return rejectedEntry{}, usageError{fmt.Sprintf("%q: an ID is 4 to 8 hex digits, as 'paracfs rejected' lists them", id)}
	}
	var found []rejectedEntry
	for _, e := range es {
		if strings.HasPrefix(e.ID, id) {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 0:
		return rejectedEntry{}, fmt.Errorf("%s: no such refused write in %s (run paracfs rejected)", id, dir)
	case 1:
		return found[0], nil
	}
	var ids []string
	for _, e := range found {
		ids = append(ids, e.ID+" "+e.Path)
	}
	return rejectedEntry{}, fmt.Errorf("%s is ambiguous: it starts %s", id, strings.Join(ids, ", "))
}
