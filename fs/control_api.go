package fs

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/paracfs/paracfs/backing"
)

// The control protocol, as both ends speak it: the daemon (control.go)
// and the paracfs command (cli_control.go). The command opens
// .paracfs/control, writes one request and reads one reply.
//
// A request is one JSON object: {"op": NAME, "version": V, ...the op's
// fields}, the fields being those of the op's request struct below. A
// reply is {"ok": true, "version": D, "result": ...the op's reply} or
// {"ok": false, "version": D, "error": "...", "code": C}.
//
// V is the command's ControlVersion, D the daemon's. A request without a
// version is a protocol 1 request (the protocol before versions), and a
// reply without one comes from a protocol 1 daemon. The daemon answers
// every request of its version or older, and refuses a newer one with
// CodeVersion; it refuses an op it does not know with CodeUnknownOp.
// Adding an op or a field that an older peer may ignore keeps the
// version; a change an older peer would misread raises it.

// ControlVersion is the protocol version this paracfs speaks.
const ControlVersion = 2

// The ops.
const (
	OpOps           = "ops"            // OpsRequest → OpsReply
	OpStatus        = "status"         // StatusRequest → StatusReply
	OpRestore       = "restore"        // RestoreRequest → RestoreReply
	OpLogPrune      = "log.prune"      // LogPruneRequest → LogPruneReply
	OpRejectedApply = "rejected.apply" // RejectedApplyRequest → RejectedApplyReply
	OpRejectedDrop  = "rejected.drop"  // RejectedDropRequest → RejectedDropReply
)

// The codes of a refused request that tell of version skew.
const (
	CodeUnknownOp = "unknown_op" // the daemon does not know the op
	CodeVersion   = "version"    // the request's version is newer than the daemon's
)

// knownToProtocol1 tells the ops a daemon that speaks protocol 1 (and
// puts no version in its replies) knows.
func knownToProtocol1(op string) bool {
	switch op {
	case OpOps, OpStatus, OpRestore, OpLogPrune, OpRejectedApply, OpRejectedDrop:
		return true
	}
	return false
}

// Request is the request of one op whose reply is R.
type Request[R any] interface {
	Op() string
	replyOf(R) // ties the request to its reply's type
}

// OpsRequest asks for the names of the ops the daemon knows, sorted.
type OpsRequest struct{}

// OpsReply is the names of the ops.
type OpsReply []string

// StatusRequest asks for the mount's counters and last refusals, with the
// daemon's pid and the configuration in force. Anyone who can enter the
// mount may ask.
type StatusRequest struct{}

// StatusReply is the status op's reply. A refusal's reason that quotes a
// file the caller may not read says hidden (backing.StatsFor).
type StatusReply struct {
	Pid    int            `json:"pid"`
	Dir    string         `json:"dir"`
	Config map[string]any `json:"config"` // the settings paracfs status shows, by name
	backing.Stats
}

// RestoreRequest commits version Rev of the managed file Path again, as
// its caller, who must be allowed to write the file and to read the
// version (backing.MayWrite, MayReadVersion). Base is the revision the
// caller saw as current (-1 if none): a commit since then makes it a
// conflict.
type RestoreRequest struct {
	Path string `json:"path"`
	Rev  int64  `json:"rev"`
	Base int64  `json:"base"`
}

// RestoreReply is the new revision; Changed is false when the file
// already had those bytes, and nothing was committed.
type RestoreReply struct {
	Revision int64 `json:"revision"`
	Changed  bool  `json:"changed"`
}

// LogPruneRequest removes the change log's entries stamped before Before
// (an RFC 3339 time), in the daemon, holding the log's append lock (see
// backing.PruneLog). Only root and the daemon's own user may ask.
type LogPruneRequest struct {
	Before string `json:"before"`
}

// LogPruneReply counts the entries removed and the lines kept.
type LogPruneReply struct {
	Removed int `json:"removed"`
	Kept    int `json:"kept"`
}

// RejectedApplyRequest commits the refused write kept as Kept (its name
// relative to DIR, under .paracfs/rejected/), as its caller, who must be
// the bytes' writer and allowed to write the file (backing.ApplyKept).
type RejectedApplyRequest struct {
	Kept string `json:"kept"`
}

// RejectedApplyReply is the file and its new revision or, when the write
// was refused again (the op itself succeeded), how: Refused is the
// refusal's op, and Kept where the bytes are kept now.
type RejectedApplyReply struct {
	Path     string `json:"path"`
	Revision int64  `json:"revision,omitempty"`
	Refused  string `json:"refused,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Errno    string `json:"errno,omitempty"`
	Kept     string `json:"kept,omitempty"`
}

// RejectedDropRequest removes the refused write kept as Kept, as its
// caller: the bytes' writer, the file's owner or root (backing.DropKept).
type RejectedDropRequest struct {
	Kept string `json:"kept"`
}

// RejectedDropReply names the file whose refused write was dropped.
type RejectedDropReply struct {
	Path string `json:"path"`
}

func (OpsRequest) Op() string           { return OpOps }
func (StatusRequest) Op() string        { return OpStatus }
func (RestoreRequest) Op() string       { return OpRestore }
func (LogPruneRequest) Op() string      { return OpLogPrune }
func (RejectedApplyRequest) Op() string { return OpRejectedApply }
func (RejectedDropRequest) Op() string  { return OpRejectedDrop }

func (OpsRequest) replyOf(OpsReply)                     {}
func (StatusRequest) replyOf(StatusReply)               {}
func (RestoreRequest) replyOf(RestoreReply)             {}
func (LogPruneRequest) replyOf(LogPruneReply)           {}
func (RejectedApplyRequest) replyOf(RejectedApplyReply) {}
func (RejectedDropRequest) replyOf(RejectedDropReply)   {}

// requestHead is what every request carries besides its op's fields.
type requestHead struct {
	Op      string `json:"op"`
	Version int    `json:"version,omitempty"` // 0: protocol 1
}

// Reply is a reply on the wire.
type Reply struct {
	OK      bool            `json:"ok"`
	Version int             `json:"version,omitempty"` // the daemon's ControlVersion; 0: protocol 1
	Result  json.RawMessage `json:"result,omitempty"`
	Error   string          `json:"error,omitempty"`
	Code    string          `json:"code,omitempty"` // CodeUnknownOp, CodeVersion; "" for the op's own errors
}

// EncodeRequest is req as the command writes it: its op and version, and
// its fields beside them.
func EncodeRequest[R any](req Request[R]) ([]byte, error) {
	head, err := json.Marshal(requestHead{Op: req.Op(), Version: ControlVersion})
	if err != nil {
		return nil, err
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	if len(body) < 2 || body[0] != '{' {
		return nil, fmt.Errorf("op %q: the request is not a JSON object: %s", req.Op(), body)
	}
	if bytes.Equal(body, []byte("{}")) {
		return head, nil
	}
	return append(append(head[:len(head)-1], ','), body[1:]...), nil
}

// ErrUnreadableReply is a reply that is not what the protocol says.
var ErrUnreadableReply = errors.New("an unreadable reply")

// DecodeReply reads the daemon's reply to a request of op. A refusal is
// the daemon's error as it says it, or a *SkewError when the daemon is of
// another version than the command and that is why.
func DecodeReply[R any](op string, b []byte) (R, error) {
	var res R
	var reply Reply
	if err := json.Unmarshal(b, &reply); err != nil {
		return res, fmt.Errorf("%w %q: %v", ErrUnreadableReply, b, err)
	}
	daemon := max(reply.Version, 1)
	if !reply.OK {
		skewed := reply.Code == CodeUnknownOp || reply.Code == CodeVersion ||
			reply.Version == 0 && !knownToProtocol1(op)
		if skewed {
			return res, &SkewError{Op: op, Daemon: daemon, Command: ControlVersion, Reason: reply.Error}
		}
		return res, errors.New(reply.Error)
	}
	if len(reply.Result) > 0 {
		if err := json.Unmarshal(reply.Result, &res); err != nil {
			return res, fmt.Errorf("%w to %s (protocol %d): %v", ErrUnreadableReply, op, daemon, err)
		}
	}
	return res, nil
}

// SkewError is a request refused because the daemon and the command speak
// different versions of the protocol: an op the daemon does not know, or
// a request newer than it.
type SkewError struct {
	Mountpoint string // filled in by the caller that knows it
	Op         string
	Daemon     int // the daemon's ControlVersion (1 when its reply has none)
	Command    int // the command's
	Reason     string
}

func (e *SkewError) Error() string {
	who := "the daemon"
	if e.Mountpoint != "" {
		who += " of " + e.Mountpoint
	}
	if e.Daemon < e.Command {
		return fmt.Sprintf("%s is an older paracfs (protocol %d, this command speaks %d) that cannot do %s: restart the mount",
			who, e.Daemon, e.Command, e.Op)
	}
	return fmt.Sprintf("%s (protocol %d) refused %s from this command (protocol %d): %s", who, e.Daemon, e.Op, e.Command, e.Reason)
}
