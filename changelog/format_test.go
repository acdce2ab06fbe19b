package changelog

import (
	"strings"
	"testing"
	"time"
)

func TestFormat(t *testing.T) {
	local := func(ts string) string {
		tm, err := ParseTime(ts)
		if err != nil {
			t.Fatal(err)
		}
		return tm.Local().Format("2006-01-02 15:04:05")
	}
	const ts = "2026-11-27T23:53:45.653104+00:00"
	for _, c := range []struct {
		e    *Entry
		want string
	}{
		{&Entry{Timestamp: ts, ProcessID: 4121, Op: OpCommit, Path: "memory/context/current_state.yaml",
			OldRevision: ptr[int64](4), Revision: ptr[int64](5), Command: "vim", Description: "not shown",
			Keys: map[string]KeyChange{"status": {}, "progress": {}}},
			local(ts) + "  commit  memory/context/current_state.yaml  r4→5  vim[4121]  keys: progress, status"},
		{&Entry{Timestamp: ts, ProcessID: 977, Op: OpConflict, Path: "roadmap/roadmap.yaml", OldRevision: ptr[int64](2),
			Revision: ptr[int64](3), Command: "python3", Reason: "stale revision 2, current is 3", Errno: "EBUSY",
			Kept: ".paracfs/refused/roadmap.yaml.1", Description: "not shown"},
			local(ts) + "  conflict  roadmap/roadmap.yaml  r2→3  python3[977]  stale revision 2, current is 3 (EBUSY) kept: .paracfs/refused/roadmap.yaml.1"},
		{&Entry{Timestamp: ts, Op: OpRename, From: "a.yaml.tmp", Path: "a.yaml", Revision: ptr[int64](0), Command: "paracle"},
			local(ts) + "  rename  a.yaml.tmp → a.yaml  r0  paracle"},
		{&Entry{Timestamp: "2026-11-19T09:12:03.114512", ProcessID: 4121, ChangeType: "progress",
			Description: "Updated phase progress from 30% to 35%", OldValue: "30%", NewValue: "35%", Revision: ptr[int64](9)},
			local("2026-11-19T09:12:03.114512") + "  progress  r9  [4121]  Updated phase progress from 30% to 35%"},
		{&Entry{Timestamp: "last tuesday", Errno: "EIO"}, "last tuesday  -  EIO"},
		{&Entry{}, "-  -"},
		{&Entry{Timestamp: ts, Op: OpDelete, Path: "evil\n\x1b[31mred\u202e.yaml", Command: "sh\t", Keys: map[string]KeyChange{"a\r\x00b\u009b": {}}},
			local(ts) + `  delete  evil\n\x1b[31mred\u202e.yaml  sh\t  keys: a\r\x00b\u009b`},
		{&Entry{Timestamp: ts, Op: "recover", Description: "removed 2 temp file(s)\x1b"},
			local(ts) + `  recover  removed 2 temp file(s)\x1b`},
		{&Entry{Timestamp: ts, Op: "x", Path: "bad\xffutf8"}, local(ts) + `  x  bad\xffutf8`},
	} {
		if got := Format(c.e); got != c.want {
			t.Errorf("Format:\n got %q\nwant %q", got, c.want)
		}
		if strings.ContainsAny(Format(c.e), "\n\r\x1b") {
			t.Errorf("Format left a control character in %q", Format(c.e))
		}
	}
}

func TestFormatLocalTime(t *testing.T) {
	e := &Entry{Timestamp: Timestamp(time.Date(2026, 6, 1, 12, 0, 0, 999999000, time.UTC)), Op: "x"}
	want := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC).Local().Format("2006-01-02 15:04:05") + "  x"
	if got := Format(e); got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
}
