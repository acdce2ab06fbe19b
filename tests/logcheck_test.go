package tests

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The change log as the tests read it (logLines, logSince, forPath) and
// check it: a commit line, a refusal line, a timestamp.

// logEntry is one line of the change log.
type logEntry struct {
	Timestamp   string              `json:"timestamp"`
	ProcessID   int                 `json:"process_id"`
	ChangeType  string              `json:"change_type"`
	Description string              `json:"description"`
	OldValue    any                 `json:"old_value"`
	NewValue    any                 `json:"new_value"`
	Revision    *int64              `json:"revision"`
	Path        string              `json:"path"`
	Op          string              `json:"op"`
	UID         *int64              `json:"uid"`
	Command     string              `json:"command"`
	OldRevision *int64              `json:"old_revision"`
	Size        *int64              `json:"size"`
	SHA256      string              `json:"sha256"`
	Keys        map[string]keyDelta `json:"keys"`
	From        string              `json:"from"`
	Kept        string              `json:"kept"`
	Errno       string              `json:"errno"`
	Reason      string              `json:"reason"`

	Raw    string                     `json:"-"`
	Fields map[string]json.RawMessage `json:"-"`
}

type keyDelta struct {
	Old any `json:"old"`
	New any `json:"new"`
}

func (e logEntry) String() string { return e.Raw }

// logLines parses the change log of dir (through the mount when mounted in
// place). Every line must be a complete JSON object.
func logLines(t *testing.T, dir string) []logEntry {
	t.Helper()
	b := readFile(t, filepath.Join(dir, logRel))
	if len(b) > 0 && b[len(b)-1] != '\n' {
		t.Errorf("the change log does not end with a newline: %q", b[max(0, len(b)-200):])
	}
	var out []logEntry
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" && len(b) == 0 {
			break
		}
		var e logEntry
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			t.Fatalf("change log line %d is not JSON: %v: %q", i+1, err, line)
		}
		json.Unmarshal([]byte(line), &e.Fields)
		e.Raw = line
		out = append(out, e)
	}
	return out
}

// logSince returns the log lines after the first n.
func logSince(t *testing.T, dir string, n int) []logEntry {
	t.Helper()
	all := logLines(t, dir)
	if len(all) < n {
		t.Fatalf("the change log shrank from %d to %d lines", n, len(all))
	}
	return all[n:]
}

// forPath keeps the entries of one path.
func forPath(es []logEntry, path string) []logEntry {
	var out []logEntry
	for _, e := range es {
		if e.Path == path {
			out = append(out, e)
		}
	}
	return out
}

// checkCommitLine asserts the fields every commit line carries.
func checkCommitLine(t *testing.T, e logEntry, path string, pid int, command string, oldRev, newRev int64, content []byte) {
	t.Helper()
	if e.Path != path {
		t.Errorf("log line path = %q, want %q\n%s", e.Path, path, e)
	}
	if e.Op != "commit" && e.Op != "create" {
		t.Errorf("log line op = %q, want commit\n%s", e.Op, e)
	}
	checkPid(t, e, pid)
	if command != "" && e.Command != command {
		t.Errorf("log line command = %q, want %q\n%s", e.Command, command, e)
	}
	if e.Revision == nil || *e.Revision != newRev {
		t.Errorf("log line revision = %v, want %d\n%s", ptrStr(e.Revision), newRev, e)
	}
	if e.OldRevision == nil || *e.OldRevision != oldRev {
		t.Errorf("log line old_revision = %v, want %d\n%s", ptrStr(e.OldRevision), oldRev, e)
	}
	if content != nil {
		if e.Size == nil || *e.Size != int64(len(content)) {
			t.Errorf("log line size = %v, want %d\n%s", ptrStr(e.Size), len(content), e)
		}
		want := sha256hex(content)
		if strings.Contains(e.Raw, `{"hidden":true}`) {
			want = "" // a file not everyone may read: no sum in the world-readable log
		}
		if e.SHA256 != want {
			t.Errorf("log line sha256 = %q, want %q (of the committed bytes)\n%s", e.SHA256, want, e)
		}
	}
	if e.UID == nil || *e.UID != int64(os.Getuid()) {
		t.Errorf("log line uid = %v, want %d\n%s", ptrStr(e.UID), os.Getuid(), e)
	}
	checkTimestamp(t, e)
	for _, f := range []string{"timestamp", "process_id", "change_type", "description", "old_value", "new_value", "revision"} {
		if _, ok := e.Fields[f]; !ok {
			t.Errorf("log line lacks paracle's field %q\n%s", f, e)
		}
	}
	if e.ChangeType == "" || e.Description == "" {
		t.Errorf("log line has an empty change_type or description\n%s", e)
	}
}

// checkRefusalLine asserts the fields of a refusal's log line.
func checkRefusalLine(t *testing.T, p *project, e logEntry, path, op, errnoName string, pid int, refused []byte) {
	t.Helper()
	if e.Path != path || e.Op != op || e.Errno != errnoName {
		t.Errorf("log line path/op/errno = %q/%q/%q, want %q/%q/%q\n%s", e.Path, e.Op, e.Errno, path, op, errnoName, e)
	}
	checkPid(t, e, pid)
	if e.Reason == "" {
		t.Errorf("log line has no reason\n%s", e)
	}
	checkTimestamp(t, e)
	if refused == nil {
		return
	}
	// The refused bytes are kept under .paracfs/rejected/<subpath>/<base>.<time>.pid<pid>.<reason>.
	dir, base := filepath.Split(path)
	pat := `^\.paracfs/rejected/` + regexp.QuoteMeta(dir+base) + `\.[0-9][-0-9T:.Z]*[0-9]\.pid` + strconv.Itoa(e.ProcessID) + `\.` + regexp.QuoteMeta(op) + `$`
	if !regexp.MustCompile(pat).MatchString(e.Kept) {
		t.Errorf("log line kept = %q, want a name matching %s\n%s", e.Kept, pat, e)
		return
	}
	got, err := os.ReadFile(p.backing(e.Kept))
	if err != nil {
		t.Errorf("the refused bytes are not where the log says (%s): %v", e.Kept, err)
	} else if !bytes.Equal(got, refused) {
		t.Errorf("kept bytes in %s = %q, want the refused bytes %q", e.Kept, got, refused)
	}
	// They can be found through the mount too (in place; DIR holds no
	// .paracfs of its own when not mounted over).
	if !isMounted(p.Dir) {
		return
	}
	if got, err := os.ReadFile(p.path(e.Kept)); err != nil || !bytes.Equal(got, refused) {
		t.Errorf("kept bytes through the mount %s: %q, %v", e.Kept, got, err)
	}
}

func checkTimestamp(t *testing.T, e logEntry) {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, e.Timestamp)
	if err != nil || !regexp.MustCompile(`[+-]\d\d:\d\d$`).MatchString(e.Timestamp) {
		t.Errorf("log line timestamp %q is not ISO 8601 with an offset (like 2026-11-27T23:53:45.653104+00:00): %v\n%s", e.Timestamp, err, e)
		return
	}
	// Event order, not a duration: the line was written during this run
	// (testsStart is taken before any daemon starts) and before now.
	if ts.Before(testsStart) || ts.After(time.Now()) {
		t.Errorf("log line timestamp %s is not between the start of this test run (%s) and now\n%s", e.Timestamp, testsStart.Format(time.RFC3339Nano), e)
	}
}

func sha256hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func ptrStr(p *int64) string {
	if p == nil {
		return "<missing>"
	}
	return strconv.FormatInt(*p, 10)
}
