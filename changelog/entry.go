// Package changelog reads and writes paracfs's change log: one JSON object
// per line (JSONL), shared with paracle, whose own state_changes.jsonl it
// extends.
//
// Every line carries paracle's fields (timestamp, process_id, change_type,
// description, old_value, new_value, revision) followed by the fields paracfs
// adds (path, op, uid, command, old_revision, size, sha256, keys, and for
// refused writes reason, errno and kept). Lines are appended with a single
// write(2) on an O_APPEND descriptor, so concurrent appenders never
// interleave inside a line; readers skip lines that are not valid JSON, so a
// torn or foreign line never hides the rest of the log.
//
// The package imports only the standard library.
package changelog

import (
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// Entry is one line of the change log. paracle's fields come first, in
// paracle's order, then the fields paracfs adds; the JSON keys are written in
// this order.
//
// Entries written by paracle itself carry only paracle's fields, and their
// timestamps may lack a UTC offset (see ParseTime).
type Entry struct {
	// Timestamp is ISO 8601 with a UTC offset and microseconds, as made by
	// the Timestamp function: 2026-11-27T23:53:45.653104+00:00.
	Timestamp string `json:"timestamp"`
	// ProcessID is the process that made the change (the writer, not the
	// daemon, for commits through the mount).
	ProcessID int `json:"process_id"`
	// ChangeType is paracle's category of the change (e.g. "progress").
	ChangeType string `json:"change_type"`
	// Description is a human-readable sentence.
	Description string `json:"description"`
	// OldValue and NewValue are paracle's before/after values.
	OldValue any `json:"old_value"`
	NewValue any `json:"new_value"`
	// Revision is the file's revision after the change (null when unknown).
	Revision *int64 `json:"revision"`

	// Path is the managed file, relative to the mounted directory.
	Path string `json:"path,omitempty"`
	// Op is what happened: see the Op* constants (ops.go).
	Op string `json:"op,omitempty"`
	// UID is the writer's user id.
	UID *uint32 `json:"uid,omitempty"`
	// Command is the writer's process name.
	Command string `json:"command,omitempty"`
	// OldRevision is the revision before the change (or, for a conflict,
	// the base the write was derived from).
	OldRevision *int64 `json:"old_revision,omitempty"`
	// Size is the size in bytes of the new content.
	Size *int64 `json:"size,omitempty"`
	// SHA256 is the hex SHA-256 of the new content.
	SHA256 string `json:"sha256,omitempty"`
	// Keys holds, for YAML and JSON files, the changed keys (dotted paths)
	// with their old and new values.
	Keys map[string]KeyChange `json:"keys,omitempty"`
	// From is the source path of a rename.
	From string `json:"from,omitempty"`
	// Reason says why a write was refused.
	Reason string `json:"reason,omitempty"`
	// Errno is the error returned to the writer, e.g. "EBUSY".
	Errno string `json:"errno,omitempty"`
	// Kept is where the refused bytes were kept.
	Kept string `json:"kept,omitempty"`
	// Machine is the mount that made the change, on a DIR shared through
	// a store (paracfs mount --store): its --store-name or hostname.
	Machine string `json:"machine,omitempty"`

	// Raw is the line as read, without its newline. Last and Scan fill it;
	// Append ignores it.
	Raw []byte `json:"-"`
}

// KeyChange is the old and new value of one changed key. A nil Old means the
// key was added (or was null), a nil New that it was removed (or set to null).
// Hidden means the values are left out (a file other users may not read):
// the key is written as {"hidden": true}.
type KeyChange struct {
	Old    any  `json:"old"`
	New    any  `json:"new"`
	Hidden bool `json:"hidden,omitempty"`
}

// MarshalJSON writes a hidden change without its values.
func (c KeyChange) MarshalJSON() ([]byte, error) {
	if c.Hidden {
		return []byte(`{"hidden":true}`), nil
	}
	type plain KeyChange
	return json.Marshal(plain(c))
}

// timestampLayout is paracle's format: Python's datetime.isoformat() of an
// aware datetime, always with microseconds and a numeric offset (never "Z").
const timestampLayout = "2006-01-02T15:04:05.000000-07:00"

// Timestamp formats t for Entry.Timestamp: ISO 8601 with microseconds and a
// numeric UTC offset, e.g. 2026-11-27T23:53:45.653104+00:00. t is converted
// to UTC first, so every line paracfs writes has the same offset.
func Timestamp(t time.Time) string {
	return t.UTC().Format(timestampLayout)
}

// Layouts accepted by ParseTime. When parsing, Go accepts a fractional second
// after the seconds field even if the layout has none, so these cover both.
var (
	offsetLayouts = []string{
		"2006-01-02T15:04:05Z07:00",
		"2006-01-02T15:04:05Z0700",
		"2006-01-02T15:04:05Z07",
	}
	naiveLayouts = []string{
		"2006-01-02T15:04:05",
		"2006-01-02T15:04",
		"2006-01-02",
	}
)

// ParseTime parses an Entry.Timestamp. It accepts ISO 8601 date-times with
// or without a UTC offset ("+00:00", "+0000", "+00" or "Z") and with or
// without fractional seconds; a space may stand for the "T", as Python's
// str(datetime) writes it. A timestamp without an offset (paracle writes
// naive ones) is taken as UTC.
func ParseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if len(s) > 10 && s[10] == ' ' {
		s = s[:10] + "T" + s[11:]
	}
	for _, l := range offsetLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, nil
		}
	}
	for _, l := range naiveLayouts {
		if t, err := time.ParseInLocation(l, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, errors.New("changelog: bad timestamp " + quoteShort(s))
}

// hasOffset reports whether the timestamp s ends with a UTC offset or "Z".
// Only such timestamps are trusted to order entries (see Last).
func hasOffset(s string) bool {
	s = strings.TrimSpace(s)
	if len(s) <= 10 {
		return false
	}
	t := s[10:] // the time part: no '-' or '+' in it unless it is an offset
	return strings.HasSuffix(t, "Z") || strings.ContainsAny(t, "+-")
}

// Time returns the entry's parsed Timestamp (see ParseTime).
func (e *Entry) Time() (time.Time, error) {
	return ParseTime(e.Timestamp)
}

// quoteShort quotes s for an error message, cut to a sane length.
func quoteShort(s string) string {
	const max = 64
	if len(s) > max {
		s = s[:max] + "..."
	}
	return "\"" + Sanitize(s) + "\""
}
