package changelog

import (
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Format renders e as one human-readable line for a terminal, fields
// separated by two spaces, empty ones left out:
//
//	2026-11-28 00:53:45  commit  memory/context/current_state.yaml  r4→5  vim[4121]  keys: current_phase
//	2026-11-28 00:54:02  conflict  roadmap/roadmap.yaml  r3→3  python3[977]  stale revision (EBUSY) kept: .paracfs/refused/...
//	2026-11-19 09:12:03  progress  r9  [4121]  Updated phase progress from 30% to 35%
//
// The time is in the local zone at second precision (a timestamp that does
// not parse is shown as written); the op is paracle's change_type for
// paracle's own entries; a rename shows "from → path"; the revision shows
// old→new when both are known; the last field is the reason a write was
// refused, with errno and where its bytes were kept; for paracfs's own
// lines about a file the changed top-level keys; or else the description. Control characters are escaped, so that a hostile file name
// cannot break the line or drive the terminal.
func Format(e *Entry) string {
	var f []string
	for _, c := range Fields(e) {
		if c != "" {
			f = append(f, c)
		}
	}
	return strings.Join(f, "  ")
}

// The columns of Fields.
const (
	ColTime = iota
	ColOp
	ColPath
	ColRev
	ColWho
	ColWhy
	NumCols
)

// Fields returns Format's fields as columns (ColTime ... ColWhy), with ""
// for an empty one, so that a caller can align them as a table. Every
// field is sanitized.
func Fields(e *Entry) []string {
	f := make([]string, NumCols)
	if t, err := ParseTime(e.Timestamp); err == nil {
		f[ColTime] = LocalTime(t)
	} else if e.Timestamp != "" {
		f[ColTime] = e.Timestamp
	} else {
		f[ColTime] = "-"
	}
	switch {
	case e.Op != "":
		f[ColOp] = e.Op
	case e.ChangeType != "":
		f[ColOp] = e.ChangeType
	default:
		f[ColOp] = "-"
	}
	switch {
	case e.From != "" && e.Path != "":
		f[ColPath] = e.From + " → " + e.Path
	case e.From != "":
		f[ColPath] = e.From + " →"
	case e.Path != "":
		f[ColPath] = e.Path
	}
	switch {
	case e.OldRevision != nil && e.Revision != nil:
		f[ColRev] = "r" + strconv.FormatInt(*e.OldRevision, 10) + "→" + strconv.FormatInt(*e.Revision, 10)
	case e.Revision != nil:
		f[ColRev] = "r" + strconv.FormatInt(*e.Revision, 10)
	case e.OldRevision != nil:
		f[ColRev] = "r" + strconv.FormatInt(*e.OldRevision, 10) + "→"
	}
	if e.Command != "" || e.ProcessID != 0 {
		who := e.Command
		if e.ProcessID != 0 {
			who += "[" + strconv.Itoa(e.ProcessID) + "]"
		}
		f[ColWho] = who
	}
	var why string
	switch {
	case e.Reason != "":
		why = e.Reason
		if e.Errno != "" {
			why += " (" + e.Errno + ")"
		}
	case e.Errno != "":
		why = e.Errno
	case e.Op != "" && e.Path != "":
		// paracfs's own description restates the fields above; the
		// changed keys say more.
		if len(e.Keys) > 0 {
			keys := make([]string, 0, len(e.Keys))
			for k := range e.Keys {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			why = "keys: " + strings.Join(keys, ", ")
		}
	default:
		why = e.Description
	}
	if e.Kept != "" {
		if why != "" {
			why += " "
		}
		why += "kept: " + e.Kept
	}
	f[ColWhy] = why
	for i := range f {
		f[i] = Sanitize(f[i])
	}
	return f
}

// LocalTime is how the table shows a time: local, to the second.
func LocalTime(t time.Time) string { return t.Local().Format("2006-01-02 15:04:05") }

// Sanitize escapes control characters (C0, DEL, C1), invalid UTF-8 and
// Unicode format characters (bidi overrides) as Go escapes, leaving other
// text as it is: text from a file name, a command line or a reason can
// then not drive the terminal it is printed on.
func Sanitize(s string) string {
	clean := true
	for _, r := range s {
		if needsEscape(r) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\x` + strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case needsEscape(r):
			q := strconv.QuoteRuneToASCII(r)
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(r rune) bool {
	return r == utf8.RuneError || unicode.IsControl(r) || unicode.In(r, unicode.Cf)
}
