package revision

import "fmt"

// Check decides whether a write may be committed. current is the file's
// current revision; base is the revision the write was derived from, or -1
// when unknown; doc is the written content. It returns the new revision,
// always current+1, and whether the content's revision scalar must be
// stamped with it (Doc.Stamped).
//
// When the content carries a revision r: r == current is accepted and
// stamped (the writer kept the field); r == current+1 is accepted as is (the
// writer bumped it); r < current is a *ConflictError (the content is stale);
// r > current+1 is an *InvalidError. Independently, a known base other than
// current is a *ConflictError. Content without the field is never stamped.
func Check(current, base int64, doc *Doc) (next int64, stamp bool, err error) {
	next = current + 1
	if doc != nil && doc.HasRev {
		switch r := doc.Rev; {
		case r > next:
			return next, false, invalidf("revision %d is ahead of current revision %d", r, current)
		case r < current:
			return next, false, &ConflictError{Current: current, Base: r,
				Reason: fmt.Sprintf("the content carries revision %d", r)}
		case r == current:
			stamp = true
		}
	}
	if base >= 0 && base != current {
		return next, false, &ConflictError{Current: current, Base: base,
			Reason: fmt.Sprintf("the writer last saw revision %d", base)}
	}
	return next, stamp, nil
}
