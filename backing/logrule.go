package backing

// The change log's one rule through the mount: bytes may be added at its
// end (AppendLog), and nothing else is done to it or to a directory on its
// way. Every way to reach the log asks AppendOnly: fs for writes,
// truncates and opens, this package for commits, removals and renames. fs
// only maps the answer to an errno.

// LogChange is something done to the change log other than an append.
type LogChange int

const (
	LogWrite    LogChange = iota // a write at an offset: an append only at the log's end
	LogTruncate                  // a truncate, or an open with O_TRUNC
	LogReplace                   // a commit of whole new content over the log
	LogRemove                    // an unlink of the log, or an rmdir of a directory holding it
	LogRename                    // a rename of the log or onto it, or of a directory holding it
)

// verb says what a change would have done, in the refusal's reason.
func (ch LogChange) verb() string {
	switch ch {
	case LogWrite:
		return "rewritten"
	case LogTruncate:
		return "truncated"
	case LogReplace:
		return "replaced"
	case LogRemove:
		return "removed"
	}
	return "renamed or replaced"
}

// AppendOnly decides whether ch, done by c to rel, keeps to the change
// log's rule. rel is the log ("" names it too), or the directory on its
// way that ch acts on (HoldsLog). at and end place a write or a truncate: the offset written
// at, or the size truncated to, and the log's end as the caller sees it.
// A write at the end is an append and a truncate to it changes nothing:
// both are allowed (nil). Anything else, and any change whose end is not
// known (end < 0), is refused: the refusal is logged and counted, and
// returned (append_only, EPERM).
func (d *Dir) AppendOnly(ch LogChange, rel string, at, end int64, c Caller) error {
	if (ch == LogWrite || ch == LogTruncate) && end >= 0 && at == end {
		return nil
	}
	return d.refuseLogChange(ch, rel, c, nil)
}

// refuseLogChange refuses ch with the rule's one reason; data, when not
// nil, are the bytes of a commit over the log, kept like any refused
// write's.
func (d *Dir) refuseLogChange(ch LogChange, rel string, c Caller, data []byte) error {
	log := d.Config().LogPath
	what := "it"
	if rel != log && rel != "" {
		what = rel + ", which holds it,"
	}
	reason := "the change log is append-only through the mount: " + what + " cannot be " + ch.verb()
	return d.refuse(&Refusal{Op: OpAppendOnly, Path: log, Reason: reason}, c, data, d.peekRevision(log))
}
