package backing

import (
	"syscall"
	"testing"
)

// AppendOnly is the one place the change log's rule is decided: an append
// (a write at the end, a truncate to the end) passes, anything else is
// refused, logged under the log's path with the rule's one reason.
func TestAppendOnlyDecides(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "x.yaml", "a: 1\n") // creates the log
	for _, tc := range []struct {
		what    string
		ch      LogChange
		rel     string
		at, end int64
		refused string // the reason's end; "" when allowed
	}{
		{"a write at the end", LogWrite, DefaultLogPath, 10, 10, ""},
		{"a write before the end", LogWrite, DefaultLogPath, 3, 10, "it cannot be rewritten"},
		{"a write past the end", LogWrite, DefaultLogPath, 11, 10, "it cannot be rewritten"},
		{"a truncate to the size", LogTruncate, DefaultLogPath, 10, 10, ""},
		{"a truncate to 0", LogTruncate, DefaultLogPath, 0, 10, "it cannot be truncated"},
		{"a truncate, size unknown", LogTruncate, DefaultLogPath, 0, -1, "it cannot be truncated"},
		{"a truncate of \"\" (the log)", LogTruncate, "", 0, 10, "it cannot be truncated"},
		{"a removal", LogRemove, DefaultLogPath, 0, -1, "it cannot be removed"},
		{"a removal of its directory", LogRemove, "memory/logs", 0, -1, "memory/logs, which holds it, cannot be removed"},
		{"a rename, end given", LogRename, DefaultLogPath, 0, 0, "it cannot be renamed or replaced"},
	} {
		before := len(entriesFor(t, root, OpAppendOnly, ""))
		err := d.AppendOnly(tc.ch, tc.rel, tc.at, tc.end, testCaller)
		lines := entriesFor(t, root, OpAppendOnly, "")
		if tc.refused == "" {
			if err != nil || len(lines) != before {
				t.Errorf("%s: %v (%d refusal lines, %d before), want it allowed", tc.what, err, len(lines), before)
			}
			continue
		}
		r := wantRefusal(t, err, OpAppendOnly, syscall.EPERM)
		if r == nil {
			continue
		}
		want := "the change log is append-only through the mount: " + tc.refused
		if r.Reason != want || r.Path != DefaultLogPath {
			t.Errorf("%s: refusal %q on %s, want %q on %s", tc.what, r.Reason, r.Path, want, DefaultLogPath)
		}
		if len(lines) != before+1 || lines[len(lines)-1].Reason != want {
			t.Errorf("%s: %d refusal lines (%d before), want one more with reason %q", tc.what, len(lines), before, want)
		}
	}
}

// The namespace operations ask the same rule, and give its reason.
func TestAppendOnlyReasons(t *testing.T) {
	root := newRoot(t)
	d := openDir(t, root, Config{})
	commit(t, d, "x.yaml", "a: 1\n")
	for _, tc := range []struct {
		what string
		err  error
		want string
	}{
		{"Remove", d.Remove(DefaultLogPath, testCaller), "it cannot be removed"},
		{"Rmdir", d.Rmdir("memory/logs", testCaller), "memory/logs, which holds it, cannot be removed"},
		{"Rename", d.Rename(DefaultLogPath, "old.jsonl", 0, testCaller), "it cannot be renamed or replaced"},
		{"Rename of its directory", d.Rename("memory", "mem", 0, testCaller), "memory, which holds it, cannot be renamed or replaced"},
		{"Commit", func() error {
			_, err := d.Commit(Write{Path: DefaultLogPath, Data: []byte("{}\n"), Base: -1, Caller: testCaller})
			return err
		}(), "it cannot be replaced"},
	} {
		r := wantRefusal(t, tc.err, OpAppendOnly, syscall.EPERM)
		if r != nil && r.Reason != "the change log is append-only through the mount: "+tc.want {
			t.Errorf("%s: reason %q, want it to end %q", tc.what, r.Reason, tc.want)
		}
	}
}
