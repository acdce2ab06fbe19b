package fs

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/paracfs/paracfs/backing"
)

// Each request goes on the wire as its op, the command's version and its
// fields, under the names the daemon has always read.
func TestControlEncodeRequest(t *testing.T) {
	for _, c := range []struct {
		got  func() ([]byte, error)
		want string
	}{
		{func() ([]byte, error) { return EncodeRequest(OpsRequest{}) }, `{"op":"ops","version":2}`},
		{func() ([]byte, error) { return EncodeRequest(StatusRequest{}) }, `{"op":"status","version":2}`},
		{func() ([]byte, error) { return EncodeRequest(RestoreRequest{Path: "a/b.yaml", Rev: 3, Base: -1}) },
			`{"op":"restore","version":2,"path":"a/b.yaml","rev":3,"base":-1}`},
		{func() ([]byte, error) { return EncodeRequest(LogPruneRequest{Before: "2026-01-02T03:04:05Z"}) },
			`{"op":"log.prune","version":2,"before":"2026-01-02T03:04:05Z"}`},
		{func() ([]byte, error) { return EncodeRequest(RejectedApplyRequest{Kept: ".paracfs/rejected/x"}) },
			`{"op":"rejected.apply","version":2,"kept":".paracfs/rejected/x"}`},
		{func() ([]byte, error) { return EncodeRequest(RejectedDropRequest{Kept: ".paracfs/rejected/x"}) },
			`{"op":"rejected.drop","version":2,"kept":".paracfs/rejected/x"}`},
	} {
		b, err := c.got()
		if err != nil || string(b) != c.want {
			t.Errorf("encoded %s, %v; want %s", b, err, c.want)
		}
	}
	if ControlVersion != 2 {
		t.Errorf("ControlVersion is %d: update the wire examples above", ControlVersion)
	}
}

// ask sends raw to a control handle with the given table, as uid, and
// returns the reply on the wire.
func ask(t *testing.T, ops map[string]controlOp, uid uint32, raw string) []byte {
	t.Helper()
	h := &controlHandle{caller: backing.Caller{Uid: uid}, ops: ops, req: []byte(raw)}
	b := h.answer(context.Background())
	if !strings.HasSuffix(string(b), "\n") || !json.Valid(b) {
		t.Fatalf("reply to %s is not one JSON line: %q", raw, b)
	}
	return b
}

// What the command encodes, the daemon decodes into the same request,
// and its reply comes back to the command as the daemon made it.
func TestControlRoundTrip(t *testing.T) {
	var got RestoreRequest
	ops := map[string]controlOp{OpRestore: handle(false, func(_ context.Context, _ *Root, _ backing.Caller, q RestoreRequest) (RestoreReply, error) {
		got = q
		return RestoreReply{Revision: 7, Changed: true}, nil
	})}
	sent := RestoreRequest{Path: "a.yaml", Rev: 2, Base: 5}
	req, err := EncodeRequest(sent)
	if err != nil {
		t.Fatal(err)
	}
	reply := ask(t, ops, 0, string(req))
	res, err := DecodeReply[RestoreReply](OpRestore, reply)
	if err != nil || res != (RestoreReply{Revision: 7, Changed: true}) || got != sent {
		t.Errorf("restore round trip: daemon got %+v, command got %+v, %v (reply %s)", got, res, err, reply)
	}
	var r Reply
	if json.Unmarshal(reply, &r) != nil || r.Version != ControlVersion || !r.OK {
		t.Errorf("reply %s: want ok and the daemon's version %d", reply, ControlVersion)
	}

	// A request with no version (a command older than versions) is served.
	if res, err = DecodeReply[RestoreReply](OpRestore, ask(t, ops, 0, `{"op":"restore","path":"b.yaml","rev":1,"base":-1}`)); err != nil || got.Path != "b.yaml" || res.Revision != 7 {
		t.Errorf("an unversioned request: daemon got %+v, command %+v, %v", got, res, err)
	}

	// An op's own error reaches the command as its text, and is no skew.
	ops[OpRestore] = handle(false, func(context.Context, *Root, backing.Caller, RestoreRequest) (RestoreReply, error) {
		return RestoreReply{}, errors.New("restore a.yaml: conflict refused")
	})
	_, err = DecodeReply[RestoreReply](OpRestore, ask(t, ops, 0, string(req)))
	var skew *SkewError
	if err == nil || err.Error() != "restore a.yaml: conflict refused" || errors.As(err, &skew) {
		t.Errorf("an op's error: %v (%T)", err, err)
	}
}

// The daemon's table holds every op once, under its name; only log.prune
// is the owner's; ops lists them all.
func TestControlOps(t *testing.T) {
	ops := controlOps()
	all := []string{OpLogPrune, OpOps, OpRejectedApply, OpRejectedDrop, OpRestore, OpStatus}
	for name, op := range ops {
		if op.name != name || op.owner != (name == OpLogPrune) {
			t.Errorf("op %q: name %q owner %v", name, op.name, op.owner)
		}
	}
	names, err := DecodeReply[OpsReply](OpOps, ask(t, ops, 0, `{"op":"ops","version":2}`))
	if err != nil || !slices.Equal(names, all) {
		t.Errorf("ops: %v, %v; want %v", names, err, all)
	}
}

// Requests the daemon refuses before any op runs, and what the command
// makes of them: skew is a *SkewError, recognised by its code, not its text.
func TestControlRefusals(t *testing.T) {
	ops := controlOps()
	for _, c := range []struct {
		op, raw string
		uid     uint32
		code    string // the reply's
		want    string // in the error
	}{
		{"", ``, 0, "", "empty request"},
		{"", `not json`, 0, "", "not a JSON object"},
		{"no-such-op", `{"op":"no-such-op","version":2}`, 0, CodeUnknownOp, `unknown op "no-such-op"`},
		{OpStatus, `{"op":"status","version":99}`, 0, CodeVersion, "protocol 99"},
		{OpLogPrune, `{"op":"log.prune","before":"2026-01-02T03:04:05Z"}`, 4242, "", "only root and the user running the daemon"},
		{OpLogPrune, `{"op":"log.prune"}`, 0, "", `op "log.prune" wants "before": an RFC 3339 time`},
		{OpLogPrune, `{"op":"log.prune","before":"yesterday"}`, 0, "", `op "log.prune": "before": parsing time`},
		{OpRejectedDrop, `{"op":"rejected.drop"}`, 0, "", `op "rejected.drop" wants "kept": the kept file's name relative to DIR`},
		{OpRejectedApply, `{"op":"rejected.apply","kept":""}`, 0, "", `op "rejected.apply" wants "kept"`},
		{OpRejectedDrop, `{"op":"rejected.drop","kept":3}`, 0, "", `op "rejected.drop": bad request`},
		{OpRestore, `{"op":"restore","path":"../x","rev":1,"base":-1}`, 0, "", `restore: "../x" is not a path inside the mount`},
	} {
		b := ask(t, ops, c.uid, c.raw)
		var r Reply
		if err := json.Unmarshal(b, &r); err != nil || r.OK || r.Code != c.code || r.Version != ControlVersion || !strings.Contains(r.Error, c.want) {
			t.Errorf("request %s: reply %s; want refused with code %q and an error containing %q", c.raw, b, c.code, c.want)
		}
		_, err := DecodeReply[OpsReply](c.op, b)
		var skew *SkewError
		if errors.As(err, &skew) != (c.code != "") {
			t.Errorf("request %s: the command makes %v (%T) of its reply", c.raw, err, err)
		}
	}
}

// A reply with no version comes from a daemon of protocol 1, from before
// versions: what it answers is read as before, and an op it cannot know is
// a *SkewError that says so, whatever the text of its error.
func TestControlOlderDaemon(t *testing.T) {
	old := `{"ok":true,"result":{"pid":12,"dir":"/p/.parac","config":{"log":"log.jsonl","rules":0},` +
		`"commits":3,"conflicts":1,"invalid":0,"lock_timeouts":0,"refused":1,` +
		`"last_refusals":[{"time":"t","path":"a.yaml","op":"conflict","reason":"stale","errno":"EBUSY","pid":9,"uid":0}]}}` + "\n"
	st, err := DecodeReply[StatusReply](OpStatus, []byte(old))
	if err != nil || st.Pid != 12 || st.Dir != "/p/.parac" || st.Config["log"] != "log.jsonl" || st.Commits != 3 || st.Refused != 1 ||
		len(st.Last) != 1 || st.Last[0].Path != "a.yaml" {
		t.Errorf("a protocol 1 status reply: %+v, %v", st, err)
	}

	// An error of an op protocol 1 has is the op's own.
	_, err = DecodeReply[RestoreReply](OpRestore, []byte(`{"ok":false,"error":"restore a.yaml: permission denied"}`))
	var skew *SkewError
	if err == nil || errors.As(err, &skew) || err.Error() != "restore a.yaml: permission denied" {
		t.Errorf("a protocol 1 daemon's restore error: %v (%T)", err, err)
	}

	// An op it cannot have: an older daemon, whatever it says.
	_, err = DecodeReply[OpsReply]("some.newer.op", []byte(`{"ok":false,"error":"no"}`))
	if !errors.As(err, &skew) || skew.Daemon != 1 || skew.Command != ControlVersion {
		t.Fatalf("a protocol 1 daemon refusing a newer op: %v (%T)", err, err)
	}
	skew.Mountpoint = "/p/.parac"
	want := "the daemon of /p/.parac is an older paracfs (protocol 1, this command speaks 2) that cannot do some.newer.op: restart the mount"
	if skew.Error() != want {
		t.Errorf("skew error %q, want %q", skew.Error(), want)
	}

	// A newer daemon's refusal of a newer op, by code.
	_, err = DecodeReply[OpsReply]("x", []byte(`{"ok":false,"version":3,"error":"whatever","code":"unknown_op"}`))
	if !errors.As(err, &skew) || skew.Daemon != 3 || !strings.Contains(err.Error(), "whatever") {
		t.Errorf("a protocol 3 daemon refusing an op: %v (%T)", err, err)
	}

	if _, err := DecodeReply[OpsReply](OpOps, []byte("garbage")); !errors.Is(err, ErrUnreadableReply) {
		t.Errorf("an unreadable reply: %v", err)
	}
	if _, err := DecodeReply[StatusReply](OpStatus, []byte(`{"ok":true,"result":[1]}`)); !errors.Is(err, ErrUnreadableReply) {
		t.Errorf("a result of the wrong shape: %v", err)
	}
}

// The refused-again reply of rejected.apply keeps the fields the command
// has always read; an applied one names no refusal.
func TestControlApplyReplyWire(t *testing.T) {
	b, _ := json.Marshal(RejectedApplyReply{Path: "a.yaml", Revision: 4})
	if string(b) != `{"path":"a.yaml","revision":4}` {
		t.Errorf("applied: %s", b)
	}
	b, _ = json.Marshal(RejectedApplyReply{Path: "a.yaml", Refused: "invalid", Reason: "bad", Errno: "EINVAL", Kept: "k"})
	var back RejectedApplyReply
	if json.Unmarshal(b, &back) != nil || !reflect.DeepEqual(back, RejectedApplyReply{Path: "a.yaml", Refused: "invalid", Reason: "bad", Errno: "EINVAL", Kept: "k"}) {
		t.Errorf("refused again: %s", b)
	}
}
