package backing

import (
	"bytes"
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/revision"
)

// An append (Write.Append: a handle opened with O_APPEND) is a commit like
// any other, of the content current under P's lock with the appended
// bytes after it. Concurrent appenders therefore never lose a line, and
// an append never conflicts with another commit: its base is, by
// definition, whatever is current.

// validate parses w's bytes for their kind and checks the configured
// rules: a refusal is recorded (and the bytes kept) here.
func (d *Dir) validate(w Write, kind revision.Kind) (*revision.Doc, []byte, error) {
	parsed := w.Data
	if hasFields(kind) {
		parsed = bytes.Clone(w.Data) // the doc outlives this call, in d.committed
	}
	doc, err := revision.Parse(kind, parsed, d.Config().Limits)
	if err != nil {
		return nil, nil, d.refuse(refusalFrom(w.Path, err), w.Caller, d.keptOf(w), d.peekRevision(w.Path))
	}
	if err := d.checkRules(w.Path, doc); err != nil {
		return nil, nil, d.refuse(&Refusal{Op: OpInvalid, Path: w.Path, Reason: err.Error()}, w.Caller, d.keptOf(w), d.peekRevision(w.Path))
	}
	return doc, parsed, nil
}

// keptOf is what a refusal of w keeps: its bytes, or for an append, the
// file it would have made (the committed content, read without the lock,
// and the appended bytes), so that `paracfs rejected apply` puts back a
// whole file.
func (d *Dir) keptOf(w Write) []byte {
	if !w.Append {
		return w.Data
	}
	cur, _, err := d.ReadFile(w.Path)
	if err != nil && err != unix.ENOENT {
		return w.Data
	}
	return append(cur, w.Data...)
}

// appendTo turns an append into the write of the whole new content, under
// P's lock: cur's bytes (read in full here for JSONL and Markdown) and
// then w.Data. YAML and JSON are validated as a whole; an append to JSONL
// whose committed content lacks its final newline is validated with the
// line it completes. doc is the appended bytes' own doc, nil for YAML and
// JSON.
func (d *Dir) appendTo(w Write, pfd int, leaf string, kind revision.Kind, cur *current, doc *revision.Doc) (Write, *revision.Doc, []byte, error) {
	if cur.exists && int64(len(cur.data)) != cur.st.Size {
		fd, err := unix.Openat(pfd, leaf, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
		if err != nil {
			return w, nil, nil, fmt.Errorf("%s: %w", w.Path, err)
		}
		cur.data, err = readAllFd(fd, cur.st.Size, d.Config().Limits.MaxSize)
		unix.Close(fd)
		if err != nil {
			return w, nil, nil, fmt.Errorf("%s: %w", w.Path, err)
		}
	}
	appended := w.Data
	w.Data = make([]byte, 0, len(cur.data)+len(appended))
	w.Data = append(append(w.Data, cur.data...), appended...)
	w.Base, w.Unstamped, w.Append = cur.rev, nil, false
	if int64(len(w.Data)) > d.Config().Limits.MaxSize {
		return w, nil, nil, d.refuse(&Refusal{Op: OpTooLarge, Path: w.Path,
			Reason: fmt.Sprintf("the append makes the file %d bytes, over the %d-byte limit", len(w.Data), d.Config().Limits.MaxSize)},
			w.Caller, w.Data, cur.rev)
	}
	torn := len(cur.data) > 0 && cur.data[len(cur.data)-1] != '\n'
	if doc != nil && !(kind == revision.JSONL && torn) {
		return w, doc, w.Data, nil
	}
	parsed := w.Data
	if hasFields(kind) {
		parsed = bytes.Clone(w.Data)
	}
	whole, err := revision.Parse(kind, parsed, d.Config().Limits)
	if err != nil {
		return w, nil, nil, d.refuse(refusalFrom(w.Path, err), w.Caller, w.Data, cur.rev)
	}
	if err := d.checkRules(w.Path, whole); err != nil {
		return w, nil, nil, d.refuse(&Refusal{Op: OpInvalid, Path: w.Path, Reason: err.Error()}, w.Caller, w.Data, cur.rev)
	}
	return w, whole, parsed, nil
}
