package fs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"syscall"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/paracfs/paracfs/backing"
)

// The control file (.paracfs/control) is how the paracfs command talks to a
// running daemon: it opens the file read-write, writes one JSON request,
// and reads one JSON reply from offset 0. The request is answered at the
// first read, by the daemon, with the caller's identity as the kernel gives
// it. Everything else under .paracfs/ is read-only through the mount; work
// on it (pruning the log, dropping a refused write, ...) goes through here.
// The ops, their requests and replies, and the versions are in
// control_api.go.

// controlOp is one op in the daemon's table.
type controlOp struct {
	name string
	// owner: only the daemon's own user (and root) may run it.
	owner bool
	// run decodes the request (the whole JSON object) and answers it.
	run func(ctx context.Context, r *Root, c backing.Caller, raw []byte) (any, error)
}

// handle makes the table entry of the op whose request is a Q: the
// request is decoded into a Q before fn sees it.
func handle[Q Request[R], R any](owner bool, fn func(ctx context.Context, r *Root, c backing.Caller, q Q) (R, error)) controlOp {
	var zero Q
	name := zero.Op()
	return controlOp{name: name, owner: owner, run: func(ctx context.Context, r *Root, c backing.Caller, raw []byte) (any, error) {
		var q Q
		if err := json.Unmarshal(raw, &q); err != nil {
			return nil, fmt.Errorf("op %q: bad request: %v", name, err)
		}
		return fn(ctx, r, c, q)
	}}
}

// controlOps is the daemon's table of ops, made for each open of the
// control file. Owner ops are refused to callers other than root and the
// user the daemon runs as.
func controlOps() map[string]controlOp {
	t := map[string]controlOp{}
	for _, op := range []controlOp{
		handle(false, controlStatus),
		handle(false, controlRestore),
		handle(true, controlLogPrune),
		handle(false, controlRejectedApply),
		handle(false, controlRejectedDrop),
		handle(false, func(context.Context, *Root, backing.Caller, OpsRequest) (OpsReply, error) {
			return slices.Sorted(maps.Keys(t)), nil
		}),
	} {
		t[op.name] = op
	}
	return t
}

// controlAttr shows the control file as 0666 through the mount: anyone
// who can enter the mount may ask, and each op checks who asks. Its
// backing file is the daemon user's, 0600, so nobody can write to it while
// DIR is not mounted.
func controlAttr(rel string, out *fuse.Attr) {
	if rel == backing.ControlFile {
		out.Mode = syscall.S_IFREG | 0o666
		out.Size = 0
	}
}

// Dir returns the backing directory the mount serves, for control ops.
func (r *Root) Dir() *backing.Dir { return r.d }

// controlHandle is one open of the control file.
type controlHandle struct {
	r      *Root
	caller backing.Caller
	ops    map[string]controlOp

	mu      sync.Mutex
	req     []byte
	reply   []byte
	replied bool
}

var (
	_ = (fs.FileReader)((*controlHandle)(nil))
	_ = (fs.FileWriter)((*controlHandle)(nil))
	_ = (fs.FileFlusher)((*controlHandle)(nil))
)

func (n *Node) openControl(ctx context.Context) (fs.FileHandle, uint32, syscall.Errno) {
	return &controlHandle{r: n.r, caller: n.r.caller(ctx), ops: controlOps()}, fuse.FOPEN_DIRECT_IO, 0
}

func (h *controlHandle) Write(ctx context.Context, data []byte, off int64) (uint32, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.replied {
		return 0, syscall.EINVAL // one request per open
	}
	if off != int64(len(h.req)) {
		return 0, syscall.EINVAL
	}
	if len(h.req)+len(data) > 1<<20 {
		return 0, syscall.EFBIG
	}
	h.req = append(h.req, data...)
	return uint32(len(data)), 0
}

func (h *controlHandle) Read(ctx context.Context, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.replied {
		h.reply = h.answer(ctx)
		h.replied = true
	}
	if off >= int64(len(h.reply)) {
		return fuse.ReadResultData(nil), 0
	}
	end := off + int64(len(dest))
	if end > int64(len(h.reply)) {
		end = int64(len(h.reply))
	}
	return fuse.ReadResultData(h.reply[off:end]), 0
}

func (h *controlHandle) Flush(ctx context.Context) syscall.Errno { return 0 }

// answer runs the request; the reply always ends with a newline.
func (h *controlHandle) answer(ctx context.Context) []byte {
	reply := Reply{Version: ControlVersion}
	result, err := h.run(ctx)
	if err == nil {
		reply.Result, err = json.Marshal(result)
		if err != nil {
			err = fmt.Errorf("encoding the reply: %v", err)
		}
	}
	if err != nil {
		reply.Result, reply.Error = nil, err.Error()
		var ce *codeError
		if errors.As(err, &ce) {
			reply.Code = ce.code
		}
	} else {
		reply.OK = true
	}
	b, _ := json.Marshal(reply) // a Reply always encodes
	return append(b, '\n')
}

// codeError is a refusal whose reply carries a code (control_api.go).
type codeError struct {
	code string
	msg  string
}

func (e *codeError) Error() string { return e.msg }

func (h *controlHandle) run(ctx context.Context) (any, error) {
	var head requestHead
	if len(h.req) == 0 {
		return nil, fmt.Errorf("empty request: write one JSON object such as {\"op\":\"ops\"} before reading")
	}
	if err := json.Unmarshal(h.req, &head); err != nil {
		return nil, fmt.Errorf("the request is not a JSON object: %v", err)
	}
	if head.Version > ControlVersion {
		return nil, &codeError{CodeVersion, fmt.Sprintf("op %q: the request is of protocol %d, and this daemon speaks %d (it is an older paracfs): restart the mount",
			head.Op, head.Version, ControlVersion)}
	}
	op, ok := h.ops[head.Op]
	if !ok {
		return nil, &codeError{CodeUnknownOp, fmt.Sprintf("unknown op %q (this daemon may be older than the command: remount)", head.Op)}
	}
	if op.owner && h.caller.Uid != 0 && int(h.caller.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("op %q: only root and the user running the daemon (uid %d) may do this", head.Op, os.Geteuid())
	}
	return op.run(ctx, h.r, h.caller, h.req)
}
