package tests

import (
	"encoding/json"
	"io"
	"os"
	"strings"
	"testing"
)

// controlAsk writes one request to the mount's control file and returns
// the decoded reply.
func controlAsk(t *testing.T, p *project, req string) (ok bool, result json.RawMessage, errText string) {
	t.Helper()
	f, err := os.OpenFile(p.path(".paracfs/control"), os.O_RDWR, 0)
	if err != nil {
		t.Fatalf("opening .paracfs/control: %v", err)
	}
	defer f.Close()
	if req != "" {
		if _, err := f.WriteString(req); err != nil {
			t.Fatalf("writing %q to .paracfs/control: %v", req, err)
		}
	}
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 1<<30))
	if err != nil {
		t.Fatalf("reading the reply to %q: %v", req, err)
	}
	var reply struct {
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(b, &reply); err != nil || !strings.HasSuffix(string(b), "\n") {
		t.Fatalf("reply to %q is not one JSON line: %q (%v)", req, b, err)
	}
	return reply.OK, reply.Result, reply.Error
}

// The control file answers one JSON request per open, and says plainly
// what is wrong with a bad one.
func TestControlFile(t *testing.T) {
	p := newProject(t)
	mount(t, p)

	ok, res, e := controlAsk(t, p, `{"op":"ops"}`)
	var ops []string
	if !ok || json.Unmarshal(res, &ops) != nil || len(ops) == 0 {
		t.Fatalf(`{"op":"ops"}: ok=%v result=%s error=%q`, ok, res, e)
	}
	found := false
	for _, o := range ops {
		found = found || o == "ops"
	}
	if !found {
		t.Errorf("ops %v does not list itself", ops)
	}
	for _, c := range []struct{ req, want string }{
		{`{"op":"no-such-op"}`, `unknown op "no-such-op"`},
		{`not json`, "not a JSON object"},
		{``, "empty request"},
	} {
		ok, _, e := controlAsk(t, p, c.req)
		if ok || !strings.Contains(e, c.want) {
			t.Errorf("request %q: ok=%v error=%q, want an error containing %q", c.req, ok, e, c.want)
		}
	}
	// The control file is not a place to store anything: the backing file stays empty.
	if b := readFile(t, p.backing(".paracfs/control")); len(b) != 0 {
		t.Errorf("backing .paracfs/control holds %q, want nothing", b)
	}
}
