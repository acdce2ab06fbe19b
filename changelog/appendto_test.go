package changelog

import (
	"os"
	"path/filepath"
	"testing"
)

func TestAppendTo(t *testing.T) {
	name := filepath.Join(t.TempDir(), "log.jsonl")
	e := &Entry{Timestamp: "2026-11-27T23:53:45.653104+00:00", ProcessID: 7, ChangeType: OpPrune, Op: OpPrune, Description: "pruned"}
	line, err := Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, before, after string }{
		{"empty", "", string(line)},
		{"whole lines", "{\"a\":1}\n", "{\"a\":1}\n" + string(line)},
		{"torn last line", "{\"a\":1}\n{\"b\":", "{\"a\":1}\n{\"b\":\n" + string(line)},
		{"torn only line", "{\"b\":", "{\"b\":\n" + string(line)},
	} {
		if err := os.WriteFile(name, []byte(tc.before), 0o644); err != nil {
			t.Fatal(err)
		}
		f := openLog(t, name)
		if err := AppendTo(f, e); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got, _ := os.ReadFile(name); string(got) != tc.after {
			t.Errorf("%s: the log is %q, want %q", tc.name, got, tc.after)
		}
	}

	// Without O_APPEND, lines of other appenders could be overwritten.
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := AppendTo(f, e); err == nil {
		t.Error("AppendTo on a descriptor without O_APPEND succeeded")
	}
}
