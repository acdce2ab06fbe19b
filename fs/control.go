package fs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
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
//
// A request is {"op": NAME, ...op's fields}; a reply is {"ok": true,
// "result": ...} or {"ok": false, "error": "..."}.

// ControlRequest is one decoded request.
type ControlRequest struct {
	Op  string
	Raw json.RawMessage // the whole request, for the op to decode its fields
}

// ControlFunc answers one request op.
type ControlFunc func(ctx context.Context, r *Root, c backing.Caller, req ControlRequest) (any, error)

type controlOp struct {
	fn ControlFunc
	// owner: only the daemon's own user (and root) may run it.
	owner bool
}

var (
	controlMu  sync.Mutex
	controlOps = map[string]controlOp{}
)

// RegisterControl adds a control op. ownerOnly ops are refused (EPERM) to
// callers other than root and the user the daemon runs as.
func RegisterControl(op string, ownerOnly bool, fn ControlFunc) {
	controlMu.Lock()
	defer controlMu.Unlock()
	if _, dup := controlOps[op]; dup {
		panic("paracfs: control op registered twice: " + op)
	}
	controlOps[op] = controlOp{fn: fn, owner: ownerOnly}
}

func init() {
	RegisterControl("ops", false, func(ctx context.Context, r *Root, c backing.Caller, req ControlRequest) (any, error) {
		controlMu.Lock()
		defer controlMu.Unlock()
		var names []string
		for k := range controlOps {
			names = append(names, k)
		}
		sort.Strings(names)
		return names, nil
	})
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
	return &controlHandle{r: n.r, caller: n.r.caller(ctx)}, fuse.FOPEN_DIRECT_IO, 0
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

type controlReply struct {
	OK     bool   `json:"ok"`
	Result any    `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
}

// answer runs the request; the reply always ends with a newline.
func (h *controlHandle) answer(ctx context.Context) []byte {
	var reply controlReply
	result, err := h.run(ctx)
	if err != nil {
		reply.Error = err.Error()
	} else {
		reply.OK, reply.Result = true, result
	}
	b, err := json.Marshal(reply)
	if err != nil {
		b, _ = json.Marshal(controlReply{Error: "encoding the reply: " + err.Error()})
	}
	return append(b, '\n')
}

func (h *controlHandle) run(ctx context.Context) (any, error) {
	var head struct {
		Op string `json:"op"`
	}
	if len(h.req) == 0 {
		return nil, fmt.Errorf("empty request: write one JSON object such as {\"op\":\"ops\"} before reading")
	}
	if err := json.Unmarshal(h.req, &head); err != nil {
		return nil, fmt.Errorf("the request is not a JSON object: %v", err)
	}
	controlMu.Lock()
	op, ok := controlOps[head.Op]
	controlMu.Unlock()
	if !ok {
		return nil, fmt.Errorf("unknown op %q (this daemon may be older than the command: remount)", head.Op)
	}
	if op.owner && h.caller.Uid != 0 && int(h.caller.Uid) != os.Geteuid() {
		return nil, fmt.Errorf("op %q: only root and the user running the daemon (uid %d) may do this", head.Op, os.Geteuid())
	}
	return op.fn(ctx, h.r, h.caller, ControlRequest{Op: head.Op, Raw: h.req})
}
