package changelog

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func ptr[T any](v T) *T { return &v }

// openLog opens name the way the daemon does.
func openLog(t testing.TB, name string) *os.File {
	t.Helper()
	f, err := os.OpenFile(name, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func fullEntry() *Entry {
	return &Entry{
		Timestamp:   "2026-11-27T23:53:45.653104+00:00",
		ProcessID:   4121,
		ChangeType:  "commit",
		Description: "set <phase> & progress",
		OldValue:    "30%",
		NewValue:    map[string]any{"b": 2, "a": []any{1, "x"}},
		Revision:    ptr[int64](5),
		Path:        "memory/context/current_state.yaml",
		Op:          OpCommit,
		UID:         ptr[uint32](1000),
		Command:     "vim",
		OldRevision: ptr[int64](4),
		Size:        ptr[int64](812),
		SHA256:      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		Keys:        map[string]KeyChange{"progress": {Old: "30%", New: "35%"}, "phase": {Old: nil, New: "build"}},
		From:        "memory/context/current_state.yaml.tmp",
		Reason:      "line\nbreak \"quoted\"",
		Errno:       "EBUSY",
		Kept:        ".paracfs/refused/x",
		Raw:         []byte("ignored"),
	}
}

func TestMarshalLiteral(t *testing.T) {
	for _, c := range []struct {
		e    *Entry
		want string
	}{
		{fullEntry(), `{"timestamp":"2026-11-27T23:53:45.653104+00:00","process_id":4121,"change_type":"commit",` +
			`"description":"set <phase> & progress","old_value":"30%","new_value":{"a":[1,"x"],"b":2},"revision":5,` +
			`"path":"memory/context/current_state.yaml","op":"commit","uid":1000,"command":"vim","old_revision":4,"size":812,` +
			`"sha256":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",` +
			`"keys":{"phase":{"old":null,"new":"build"},"progress":{"old":"30%","new":"35%"}},` +
			`"from":"memory/context/current_state.yaml.tmp","reason":"line\nbreak \"quoted\"","errno":"EBUSY","kept":".paracfs/refused/x"}` + "\n"},
		// paracle's fields are always present; paracfs's are omitted when empty.
		{&Entry{Timestamp: "2026-11-19T09:12:03.114512", ProcessID: 1, ChangeType: "progress"},
			`{"timestamp":"2026-11-19T09:12:03.114512","process_id":1,"change_type":"progress","description":"",` +
				`"old_value":null,"new_value":null,"revision":null}` + "\n"},
		// Zero revisions and sizes are written (pointers), unlike empty strings.
		{&Entry{Revision: ptr[int64](0), OldRevision: ptr[int64](0), Size: ptr[int64](0), UID: ptr[uint32](0), Op: OpCreate},
			`{"timestamp":"","process_id":0,"change_type":"","description":"","old_value":null,"new_value":null,"revision":0,` +
				`"op":"create","uid":0,"old_revision":0,"size":0}` + "\n"},
		// A RawMessage value with newlines is compacted onto the line.
		{&Entry{NewValue: json.RawMessage("{\n  \"a\": 1\n}")},
			`{"timestamp":"","process_id":0,"change_type":"","description":"","old_value":null,"new_value":{"a":1},"revision":null}` + "\n"},
	} {
		got, err := Marshal(c.e)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != c.want {
			t.Errorf("Marshal:\n got %s\nwant %s", got, c.want)
		}
		// The Writer writes exactly the same bytes.
		name := filepath.Join(t.TempDir(), "log.jsonl")
		w, torn, err := NewWriter(openLog(t, name))
		if err != nil || torn != nil {
			t.Fatal(err, torn)
		}
		if err := w.Append(c.e); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(name); string(b) != c.want {
			t.Errorf("written:\n got %s\nwant %s", b, c.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	name := filepath.Join(t.TempDir(), "log.jsonl")
	f := openLog(t, name)
	w, _, err := NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	in := []*Entry{fullEntry(), {Timestamp: "2026-11-28T00:00:00.000000+00:00", ProcessID: 7, Op: OpDelete, Path: "a.yaml"}}
	in[0].NewValue = "35%" // a type that decodes back to itself
	for _, e := range in {
		if err := w.Append(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.AppendLines([]byte(`{"timestamp": "2026-11-28T00:00:01", "process_id": 9, "change_type": "x", "description": "", "old_value": 1, "new_value": 2, "revision": 3}` + "\n")); err != nil {
		t.Fatal(err)
	}
	size, err := w.Size()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Last(f, size, Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("read %d entries, want 3", len(got))
	}
	lines := strings.SplitAfter(readString(t, name), "\n")
	for i, e := range got {
		if string(e.Raw)+"\n" != lines[i] {
			t.Errorf("entry %d: Raw = %q, want %q", i, e.Raw, lines[i])
		}
		e.Raw = nil
	}
	for i := range in {
		in[i].Raw = nil
		if !reflect.DeepEqual(got[i], in[i]) {
			t.Errorf("entry %d:\n got %+v\nwant %+v", i, got[i], in[i])
		}
	}
	if got[2].ProcessID != 9 || *got[2].Revision != 3 || got[2].OldValue != float64(1) {
		t.Errorf("paracle's line read as %+v", got[2])
	}
	// Scan reads the same.
	var scanned []*Entry
	if err := Scan(strings.NewReader(readString(t, name)), Filter{}, func(e *Entry) bool {
		e.Raw = nil
		scanned = append(scanned, e)
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(scanned, got) {
		t.Errorf("Scan and Last differ:\n%+v\n%+v", scanned, got)
	}
}

func readString(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestAppendLines(t *testing.T) {
	name := filepath.Join(t.TempDir(), "log.jsonl")
	w, _, err := NewWriter(openLog(t, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := w.AppendLines(nil); err != nil {
		t.Error(err)
	}
	if err := w.AppendLines([]byte(`{"a":1}`)); err == nil {
		t.Error("AppendLines accepted data without a final newline")
	}
	two := "{\"a\":1}\n{\"b\":2}\n"
	if err := w.AppendLines([]byte(two)); err != nil {
		t.Fatal(err)
	}
	if got := readString(t, name); got != two {
		t.Errorf("file = %q, want %q", got, two)
	}
	if n, err := w.Size(); err != nil || n != int64(len(two)) {
		t.Errorf("Size = %d, %v; want %d", n, err, len(two))
	}
}

func TestNewWriterNeedsAppend(t *testing.T) {
	name := filepath.Join(t.TempDir(), "log.jsonl")
	f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, _, err := NewWriter(f); err == nil || !strings.Contains(err.Error(), "O_APPEND") {
		t.Errorf("NewWriter without O_APPEND: err = %v", err)
	}
}

func TestAppendError(t *testing.T) {
	name := filepath.Join(t.TempDir(), "log.jsonl")
	f := openLog(t, name)
	w, _, err := NewWriter(f)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Append(&Entry{NewValue: func() {}}); err == nil {
		t.Error("Append of an unmarshalable value succeeded")
	}
	f.Close()
	if err := w.Append(&Entry{}); err == nil {
		t.Error("Append to a closed file succeeded")
	}
	if got := readString(t, name); got != "" {
		t.Errorf("file = %q after failed appends", got)
	}
}

func TestRepair(t *testing.T) {
	good := "{\"a\":1}\n{\"b\":2}\n"
	for _, c := range []struct {
		name, content, want, torn string
	}{
		{"empty", "", "", ""},
		{"whole", good, good, ""},
		{"torn", good + `{"c":3, "d":`, good, `{"c":3, "d":`},
		{"no newline at all", `{"c":3`, "", `{"c":3`},
		{"torn after a long line", strings.Repeat("x", 3*BlockSize) + "\n" + strings.Repeat("y", 2*BlockSize+5), strings.Repeat("x", 3*BlockSize) + "\n", strings.Repeat("y", 2*BlockSize+5)},
	} {
		t.Run(c.name, func(t *testing.T) {
			name := filepath.Join(t.TempDir(), "log.jsonl")
			if err := os.WriteFile(name, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			f := openLog(t, name)
			w, torn, err := NewWriter(f)
			if err != nil {
				t.Fatal(err)
			}
			if string(torn) != c.torn || (c.torn == "") != (torn == nil) {
				t.Errorf("torn = %q, want %q", torn, c.torn)
			}
			if got := readString(t, name); got != c.want {
				t.Errorf("file after repair = %.80q, want %.80q", got, c.want)
			}
			// Appends go after the repaired end.
			if err := w.Append(&Entry{ProcessID: 1}); err != nil {
				t.Fatal(err)
			}
			line, _ := Marshal(&Entry{ProcessID: 1})
			if got := readString(t, name); got != c.want+string(line) {
				t.Errorf("file after append = %.80q", got)
			}
			// A second repair finds nothing.
			if torn, err := Repair(f); torn != nil || err != nil {
				t.Errorf("second Repair = %q, %v", torn, err)
			}
		})
	}
}

// Environment of the child processes of TestConcurrentAppend.
const (
	envChildFile = "CHANGELOG_TEST_CHILD_FILE"
	envChildID   = "CHANGELOG_TEST_CHILD_ID"
	envChildGo   = "CHANGELOG_TEST_CHILD_GO" // a file whose creation starts the children
)

const (
	goroutines      = 8
	children        = 2
	linesPerWriter  = 300
	childWriterBase = 100
)

// concurrentEntry is entry i of writer id: sizes vary from a few bytes to
// several pages, so that writes cross page boundaries.
func concurrentEntry(id, i int) *Entry {
	pad := strings.Repeat(string(rune('a'+id%26)), (i*977)%(3*4096+100))
	return &Entry{
		Timestamp:   Timestamp(testTime),
		ProcessID:   id,
		Op:          OpCommit,
		Path:        fmt.Sprintf("w%d/%d.yaml", id, i),
		Description: pad,
		Revision:    ptr(int64(i)),
	}
}

// TestConcurrentAppendChild is the body of the child processes.
func TestConcurrentAppendChild(t *testing.T) {
	name := os.Getenv(envChildFile)
	if name == "" {
		t.Skip("only run as a child of TestConcurrentAppend")
	}
	id, _ := strconv.Atoi(os.Getenv(envChildID))
	f := openLog(t, name)
	// No NewWriter: Repair must not run while others append.
	w := newWriter(f)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Microsecond) {
		if _, err := os.Stat(os.Getenv(envChildGo)); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no start signal")
		}
	}
	for i := range linesPerWriter {
		if err := w.Append(concurrentEntry(id, i)); err != nil {
			t.Fatal(err)
		}
	}
}

func TestConcurrentAppend(t *testing.T) {
	dir := t.TempDir()
	name, start := filepath.Join(dir, "log.jsonl"), filepath.Join(dir, "go")
	w, _, err := NewWriter(openLog(t, name))
	if err != nil {
		t.Fatal(err)
	}
	var cmds []*exec.Cmd
	var outs []*bytes.Buffer
	for c := range children {
		cmd := exec.Command(os.Args[0], "-test.run=^TestConcurrentAppendChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), envChildFile+"="+name, envChildID+"="+strconv.Itoa(childWriterBase+c), envChildGo+"="+start)
		out := new(bytes.Buffer)
		cmd.Stdout, cmd.Stderr = out, out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cmds, outs = append(cmds, cmd), append(outs, out)
	}
	// Let the children start up, then release everyone at once.
	time.Sleep(200 * time.Millisecond)
	if err := os.WriteFile(start, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range linesPerWriter {
				if err := w.Append(concurrentEntry(g, i)); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outs[i])
		}
		if !strings.Contains(outs[i].String(), "PASS") || strings.Contains(outs[i].String(), "SKIP") {
			t.Fatalf("child %d did not run:\n%s", i, outs[i])
		}
	}

	data := readString(t, name)
	if !strings.HasSuffix(data, "\n") {
		t.Fatal("log does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(data, "\n"), "\n")
	if want := (goroutines + children) * linesPerWriter; len(lines) != want {
		t.Fatalf("%d lines, want %d", len(lines), want)
	}
	seen := map[string]bool{}
	switches := 0         // between a child's line and a goroutine's
	next := map[int]int{} // each writer's lines appear in its order
	for n, line := range lines {
		e := ParseLine([]byte(line))
		if e == nil {
			t.Fatalf("line %d is not valid JSON: %.100q", n+1, line)
		}
		want := concurrentEntry(e.ProcessID, int(*e.Revision))
		want.Raw = e.Raw
		if !reflect.DeepEqual(e, want) {
			t.Fatalf("line %d is damaged: %.100q", n+1, line)
		}
		if seen[e.Path] {
			t.Fatalf("line %d is a duplicate: %s", n+1, e.Path)
		}
		seen[e.Path] = true
		if int(*e.Revision) != next[e.ProcessID] {
			t.Fatalf("writer %d: line %d out of order", e.ProcessID, *e.Revision)
		}
		next[e.ProcessID]++
		if n > 0 && (e.ProcessID >= childWriterBase) != (ParseLine([]byte(lines[n-1])).ProcessID >= childWriterBase) {
			switches++
		}
	}
	t.Logf("%d switches between processes", switches)
}
