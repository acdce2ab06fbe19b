package revision

import "fmt"

// InvalidError reports content refused by validation. Reason is one human
// line, such as "yaml: line 3: mapping values are not allowed in this
// context" or "duplicate key \"a\" at line 5".
type InvalidError struct {
	Reason string
}

func (e *InvalidError) Error() string { return "invalid content: " + e.Reason }

// TooLargeError reports content larger than Limits.MaxSize.
type TooLargeError struct {
	Size, Max int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("content too large: %d bytes, the limit is %d", e.Size, e.Max)
}

// ConflictError reports a write derived from an older revision than the
// file's current one. Base is the revision the write was derived from.
type ConflictError struct {
	Current, Base int64
	Reason        string
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("revision conflict: write is based on revision %d, current revision is %d (%s)",
		e.Base, e.Current, e.Reason)
}

func invalidf(format string, args ...any) *InvalidError {
	return &InvalidError{Reason: fmt.Sprintf(format, args...)}
}
