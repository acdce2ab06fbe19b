package changelog

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

var testTime = time.Date(2026, 11, 27, 23, 53, 45, 653104000, time.UTC)

// paracle's own lines: no UTC offset, no path, spaces after separators.
func paracleLog(t testing.TB) string {
	b, err := os.ReadFile("testdata/paracle.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// line marshals an entry for a test log.
func line(t testing.TB, e *Entry) string {
	b, err := Marshal(e)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// testLog is paracle's two lines followed by paracfs's and some garbage.
func testLog(t testing.TB) string {
	at := func(min int) string { return Timestamp(testTime.Add(time.Duration(min) * time.Minute)) }
	var b strings.Builder
	b.WriteString(paracleLog(t)) // pids 4121 and 5873
	b.WriteString(line(t, &Entry{Timestamp: at(0), ProcessID: 10, Op: OpCreate, Path: "roadmap/roadmap.yaml"}))
	b.WriteString("not json at all\n")
	b.WriteString(line(t, &Entry{Timestamp: at(1), ProcessID: 11, Op: OpCommit, Path: "memory/context/state.yaml"}))
	b.WriteString("\n")
	b.WriteString(`[1, 2, 3]` + "\n")
	// An unterminated object is skipped too.
	b.WriteString(`{"timestamp": "2026-11-27T23:55:45", "process_id": 12, "op": "commit", "path": "memory/context/state.yaml"` + "\n")
	b.WriteString(line(t, &Entry{Timestamp: at(2), ProcessID: 11, Op: OpConflict, Path: "memory/context/state.yaml"}))
	b.WriteString(line(t, &Entry{Timestamp: at(3), ProcessID: 12, Op: OpRename, From: "roadmap/roadmap.yaml", Path: "r.yaml"}))
	b.WriteString(`{"timestamp": 17, "process_id": "x", "op": "odd", "path": "odd.json"}` + "\n") // odd types: kept
	b.WriteString(line(t, &Entry{Timestamp: at(5), ProcessID: 10, Op: OpCommit, Path: "memory/context/state.yaml"}))
	return b.String()
}

// summary renders entries by their ops and paths, or change_type for paracle's.
func summary(es []*Entry) string {
	var s []string
	for _, e := range es {
		what := e.Op
		if what == "" {
			what = e.ChangeType
		}
		s = append(s, what+":"+e.Path+":"+strconv.Itoa(e.ProcessID))
	}
	return strings.Join(s, " ")
}

func TestLast(t *testing.T) {
	log := testLog(t)
	since := func(min int) time.Time { return testTime.Add(time.Duration(min) * time.Minute) }
	for _, c := range []struct {
		name string
		f    Filter
		n    int
		want string
	}{
		{"all", Filter{}, 0, "progress::4121 progress::5873 create:roadmap/roadmap.yaml:10 commit:memory/context/state.yaml:11 " +
			"conflict:memory/context/state.yaml:11 rename:r.yaml:12 odd:odd.json:0 commit:memory/context/state.yaml:10"},
		{"n", Filter{}, 2, "odd:odd.json:0 commit:memory/context/state.yaml:10"},
		{"n larger than the log", Filter{}, 100, "progress::4121 progress::5873 create:roadmap/roadmap.yaml:10 commit:memory/context/state.yaml:11 " +
			"conflict:memory/context/state.yaml:11 rename:r.yaml:12 odd:odd.json:0 commit:memory/context/state.yaml:10"},
		{"path", Filter{Path: "memory/context/state.yaml"}, 0, "commit:memory/context/state.yaml:11 conflict:memory/context/state.yaml:11 commit:memory/context/state.yaml:10"},
		{"path n", Filter{Path: "memory/context/state.yaml"}, 2, "conflict:memory/context/state.yaml:11 commit:memory/context/state.yaml:10"},
		{"path is not a prefix", Filter{Path: "memory/context/state.yam"}, 0, ""},
		{"directory", Filter{Path: "memory/"}, 1, "commit:memory/context/state.yaml:10"},
		{"rename source", Filter{Path: "roadmap/roadmap.yaml"}, 0, "create:roadmap/roadmap.yaml:10 rename:r.yaml:12"},
		{"glob", Filter{Path: "memory/*/*.yaml"}, 0, "commit:memory/context/state.yaml:11 conflict:memory/context/state.yaml:11 commit:memory/context/state.yaml:10"},
		{"glob one level", Filter{Path: "memory/*.yaml"}, 0, ""},
		{"glob base name", Filter{Path: "r*.yaml"}, 0, "create:roadmap/roadmap.yaml:10 rename:r.yaml:12"},
		{"glob class", Filter{Path: "[o]dd.*"}, 0, "odd:odd.json:0"},
		{"bad glob", Filter{Path: "[x"}, 0, ""},
		{"op", Filter{Op: OpCommit}, 0, "commit:memory/context/state.yaml:11 commit:memory/context/state.yaml:10"},
		{"op and pid", Filter{Op: OpCommit, PID: 10}, 0, "commit:memory/context/state.yaml:10"},
		{"pid of paracle", Filter{PID: 5873}, 0, "progress::5873"},
		{"no match", Filter{Op: "nothing"}, 5, ""},
		{"since", Filter{Since: since(2)}, 0, "conflict:memory/context/state.yaml:11 rename:r.yaml:12 commit:memory/context/state.yaml:10"},
		{"until", Filter{Until: since(1)}, 0, "progress::4121 progress::5873 create:roadmap/roadmap.yaml:10"},
		{"since and until", Filter{Since: since(1), Until: since(3)}, 0, "commit:memory/context/state.yaml:11 conflict:memory/context/state.yaml:11"},
		// paracle's naive timestamps are UTC.
		{"paracle's time", Filter{Since: time.Date(2026, 11, 20, 16, 40, 51, 902277000, time.UTC), Until: testTime}, 0, "progress::5873"},
		{"paracle's time excluded", Filter{Since: time.Date(2026, 11, 20, 16, 40, 51, 902278000, time.UTC), Until: testTime}, 0, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, bs := range []int{BlockSize, 1, 7, 64, 100} {
				got, err := last(strings.NewReader(log), int64(len(log)), c.f, c.n, bs, MaxLineSize)
				if err != nil {
					t.Fatal(err)
				}
				if s := summary(got); s != c.want {
					t.Fatalf("block %d:\n got %s\nwant %s", bs, s, c.want)
				}
				for _, e := range got {
					if !strings.Contains(log, string(e.Raw)+"\n") || bytes.IndexByte(e.Raw, '\n') >= 0 {
						t.Fatalf("bad Raw %q", e.Raw)
					}
				}
			}
			// Scan agrees, when all are asked for.
			if c.n == 0 {
				var got []*Entry
				if err := Scan(strings.NewReader(log), c.f, func(e *Entry) bool { got = append(got, e); return true }); err != nil {
					t.Fatal(err)
				}
				if s := summary(got); s != c.want {
					t.Fatalf("Scan:\n got %s\nwant %s", s, c.want)
				}
			}
		})
	}
}

func TestLastRaw(t *testing.T) {
	log := paracleLog(t)
	got, err := Last(strings.NewReader(log), int64(len(log)), Filter{}, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"timestamp": "2026-11-20T16:40:51.902277", "process_id": 5873, "change_type": "progress", "description": "Updated phase progress from 35% to 40%", "old_value": "35%", "new_value": "40%", "revision": 10}`
	if len(got) != 1 || string(got[0].Raw) != want {
		t.Fatalf("Last = %+v", got)
	}
	e := got[0]
	if e.Timestamp != "2026-11-20T16:40:51.902277" || e.ProcessID != 5873 || e.ChangeType != "progress" ||
		e.Description != "Updated phase progress from 35% to 40%" || e.OldValue != "35%" || e.NewValue != "40%" ||
		e.Revision == nil || *e.Revision != 10 || e.Path != "" || e.Op != "" {
		t.Errorf("paracle's entry read as %+v", e)
	}
}

func TestLastEnds(t *testing.T) {
	a := `{"op":"a"}`
	b := `{"op":"b"}`
	for _, c := range []struct {
		name, log, want string
	}{
		{"empty", "", ""},
		{"newline only", "\n\n", ""},
		{"no trailing newline", a + "\n" + b, "a b"},
		{"torn last line", a + "\n" + b + "\n" + `{"op":"c","pa`, "a b"},
		{"torn last line ending in a brace", a + "\n" + `{"op":"c","x":{}`, "a"},
		{"one line without newline", a, "a"},
		{"crlf", a + "\r\n" + b + "\r\n", "a b"},
		{"torn first line", `"c"}` + "\n" + a + "\n", "a"},
		{"binary", "\x00\xff{\n" + a + "\n\x00", "a"},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, bs := range []int{BlockSize, 1, 3, 11} {
				got, err := last(strings.NewReader(c.log), int64(len(c.log)), Filter{}, 0, bs, MaxLineSize)
				if err != nil {
					t.Fatal(err)
				}
				var ops []string
				for _, e := range got {
					ops = append(ops, e.Op)
				}
				if s := strings.Join(ops, " "); s != c.want {
					t.Errorf("block %d: got %q, want %q", bs, s, c.want)
				}
			}
		})
	}
}

func TestLongLines(t *testing.T) {
	long := func(op string, n int) string {
		return line(t, &Entry{Op: op, Description: strings.Repeat("d", n)})
	}
	log := long("a", 10) + long("b", 3*BlockSize+17) + long("c", 5) + long("d", BlockSize) + long("e", 2*BlockSize)
	got, err := Last(strings.NewReader(log), int64(len(log)), Filter{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	var ops []string
	for _, e := range got {
		ops = append(ops, e.Op+strconv.Itoa(len(e.Description)))
	}
	want := fmt.Sprintf("a10 b%d c5 d%d e%d", 3*BlockSize+17, BlockSize, 2*BlockSize)
	if s := strings.Join(ops, " "); s != want {
		t.Errorf("got %s, want %s", s, want)
	}
	got, _ = Last(strings.NewReader(log), int64(len(log)), Filter{Op: "b"}, 1)
	if len(got) != 1 || string(got[0].Raw)+"\n" != long("b", 3*BlockSize+17) {
		t.Errorf("long line b not read back whole")
	}

	// Lines over the limit are skipped by both readers.
	for _, bs := range []int{7, 64, 1000} {
		got, err := last(strings.NewReader(log), int64(len(log)), Filter{}, 0, bs, 200)
		if err != nil {
			t.Fatal(err)
		}
		if s := summary(got); s != "a::0 c::0" {
			t.Errorf("block %d, max line 200: got %s", bs, s)
		}
	}
	var lines []string
	if err := scanLines(strings.NewReader(log), 16, 200, func(l []byte) bool { lines = append(lines, string(l)); return true }); err != nil {
		t.Fatal(err)
	}
	if len(lines) != 2 || lines[0]+"\n" != long("a", 10) || lines[1]+"\n" != long("c", 5) {
		t.Errorf("scanLines with max line 200: %.200q", lines)
	}
}

func TestScanStops(t *testing.T) {
	log := testLog(t)
	var got []*Entry
	err := Scan(strings.NewReader(log), Filter{Path: "memory"}, func(e *Entry) bool {
		got = append(got, e)
		return len(got) < 2
	})
	if err != nil {
		t.Fatal(err)
	}
	if s := summary(got); s != "commit:memory/context/state.yaml:11 conflict:memory/context/state.yaml:11" {
		t.Errorf("got %s", s)
	}
	if len(got[0].Raw) == 0 {
		t.Error("Scan left Raw empty")
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error)          { return 0, io.ErrClosedPipe }
func (errReader) ReadAt([]byte, int64) (int, error) { return 0, io.ErrClosedPipe }

func TestReadErrors(t *testing.T) {
	if err := Scan(errReader{}, Filter{}, func(*Entry) bool { return true }); err == nil {
		t.Error("Scan hid a read error")
	}
	if _, err := Last(errReader{}, 10, Filter{}, 0); err == nil {
		t.Error("Last hid a read error")
	}
	// A size beyond the data is an error, not a silent short read.
	if _, err := Last(strings.NewReader("{}\n"), 10, Filter{}, 0); err == nil {
		t.Error("Last hid a short read")
	}
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.ReaderAt
	n atomic.Int64
}

func (c *countingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.r.ReadAt(p, off)
	c.n.Add(int64(n))
	return n, err
}

// bigLog builds a log of about size bytes: one commit a second to one of
// 1000 files, with every 20th of the last ~200 KB to "recent.yaml".
func bigLog(size int) (log []byte, start time.Time, lines int) {
	start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	pad := strings.Repeat("x", 150)
	buf := make([]byte, 0, size+1000)
	for i := 0; len(buf) < size; i++ {
		p := "memory/context/file" + strconv.Itoa(i%1000) + ".yaml"
		if i%20 == 0 && len(buf) > size-200*1000 { // among the last ~200 KB
			p = "recent.yaml"
		}
		buf = append(buf, `{"timestamp":"`...)
		buf = append(buf, Timestamp(start.Add(time.Duration(i)*time.Second))...)
		buf = append(buf, `","process_id":`...)
		buf = strconv.AppendInt(buf, int64(1000+i%7), 10)
		buf = append(buf, `,"change_type":"commit","description":"`+pad+`","old_value":null,"new_value":null,"revision":`...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, `,"path":"`...)
		buf = append(buf, p...)
		buf = append(buf, `","op":"commit"}`+"\n"...)
		lines++
	}
	return buf, start, lines
}

func TestLastReadsLittle(t *testing.T) {
	size := 50 << 20
	if testing.Short() {
		size = 5 << 20
	}
	log, start, lines := bigLog(size)
	lineLen := int64(len(log) / lines)
	sinceMax := (int64(SinceSlack/time.Second)+100)*lineLen + 2*BlockSize
	recentSince := 0 // entries for recent.yaml among the last 100
	for i := lines - 100; i < lines; i++ {
		if i%20 == 0 {
			recentSince++
		}
	}
	for _, c := range []struct {
		name    string
		f       Filter
		n       int
		want    int   // entries
		maxRead int64 // bytes
	}{
		{"recent path", Filter{Path: "recent.yaml"}, 20, 20, 1 << 20},
		{"last entries", Filter{}, 20, 20, BlockSize},
		{"recent op and pid", Filter{Op: OpCommit, PID: 1003}, 20, 20, 2 * BlockSize},
		// Since stops shortly (SinceSlack) before its bound.
		{"since", Filter{Since: start.Add(time.Duration(lines-100) * time.Second)}, 0, 100, sinceMax},
		{"since and path", Filter{Path: "recent.yaml", Since: start.Add(time.Duration(lines-100) * time.Second)}, 0, recentSince, sinceMax},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &countingReader{r: bytes.NewReader(log)}
			got, err := Last(r, int64(len(log)), c.f, c.n)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != c.want {
				t.Fatalf("%d entries, want %d", len(got), c.want)
			}
			for i, e := range got {
				if !c.f.Match(e) || (i > 0 && *got[i-1].Revision >= *e.Revision) {
					t.Fatalf("entry %d wrong or out of order: %s", i, e.Raw)
				}
			}
			if *got[len(got)-1].Revision > int64(lines-1) || *got[len(got)-1].Revision < int64(lines-100) {
				t.Fatalf("newest entry %s is not recent", got[len(got)-1].Raw)
			}
			if n := r.n.Load(); n > c.maxRead {
				t.Errorf("read %d of %d bytes, want at most %d", n, len(log), c.maxRead)
			}
		})
	}
	// A path that is not there costs the whole file, and only it.
	r := &countingReader{r: bytes.NewReader(log)}
	got, err := Last(r, int64(len(log)), Filter{Path: "absent.yaml"}, 20)
	if err != nil || len(got) != 0 {
		t.Fatal(got, err)
	}
	if r.n.Load() != int64(len(log)) {
		t.Errorf("read %d of %d bytes", r.n.Load(), len(log))
	}
}

// Since's early stop trusts only timestamps with an offset: paracle's naive
// ones may be local time and out of order.
func TestSinceIgnoresNaiveTimestamps(t *testing.T) {
	log := `{"timestamp":"2026-11-28T10:00:00.000000+00:00","op":"old"}` + "\n" +
		`{"timestamp":"2026-11-28T12:00:00.000000+00:00","op":"new"}` + "\n" +
		`{"timestamp":"2026-11-28T08:00:00.000000","op":"naive"}` + "\n" +
		`{"timestamp":"garbage","op":"garbage"}` + "\n" +
		`{"timestamp":"2026-11-28T12:30:00.000000+00:00","op":"newest"}` + "\n"
	got, err := Last(strings.NewReader(log), int64(len(log)), Filter{Since: time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC)}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if s := summary(got); s != "new::0 newest::0" {
		t.Errorf("got %s", s)
	}
	// An entry far older than Since ends the search even if earlier ones match.
	log = `{"timestamp":"2026-11-28T12:00:00.000000+00:00","op":"skewed"}` + "\n" +
		`{"timestamp":"2026-11-28T09:59:59.000000+00:00","op":"old"}` + "\n" +
		`{"timestamp":"2026-11-28T12:30:00.000000+00:00","op":"newest"}` + "\n"
	got, _ = Last(strings.NewReader(log), int64(len(log)), Filter{Since: time.Date(2026, 11, 28, 11, 0, 0, 0, time.UTC)}, 0)
	if s := summary(got); s != "newest::0" {
		t.Errorf("got %s", s)
	}
}
