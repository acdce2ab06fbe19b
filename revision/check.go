package revision

import "fmt"

// Check decides whether a write to a name that has committed versions may
// be committed. current is the name's current revision; base is the
// revision the write was derived from (what its writer last read through
// the mount, or the revision at open of a handle opened without O_TRUNC),
// or -1 when unknown; doc is the written content; carried says whether the
// current version's own content carries revision current in its field (the
// usual case). It returns the new revision, always current+1, and whether
// the content's revision scalar must be stamped with it (Doc.Stamped).
//
// A known base other than current is a *ConflictError. When the content
// carries a revision r: r > current+1 is an *InvalidError (no such revision
// was ever read); r < current is a *ConflictError (the content is stale),
// unless the writer read the current version (base == current) and that
// version does not carry its revision in its field (a writer dropped the
// field, or a restore left the restored version's number): the writer's
// field then says nothing of what it read (paracle after the field was
// dropped loads 0 and writes revision 1). Where the current content does
// carry its revision, an older field from a writer that also read it is
// still a stale copy (rsync reading its basis file, an r+ handle). Accepted
// content whose field is not already current+1 is stamped; content without
// the field never is.
//
// A stale write whose bytes are a version of the name is a restore,
// which only the caller can tell (it holds the history): see Restores.
func Check(current, base int64, doc *Doc, carried bool) (next int64, stamp bool, err error) {
	next = current + 1
	if doc != nil && doc.HasRev {
		switch r := doc.Rev; {
		case r > next:
			return next, false, invalidf("revision %d is ahead of current revision %d", r, current)
		case r < current && (base != current || carried):
			return next, false, &ConflictError{Current: current, Base: r,
				Reason: fmt.Sprintf("the content carries revision %d", r)}
		}
		stamp = doc.Rev != next
	}
	if base >= 0 && base != current {
		return next, false, &ConflictError{Current: current, Base: base,
			Reason: fmt.Sprintf("the writer last saw revision %d", base)}
	}
	return next, stamp, nil
}

// First is the revision a name with no committed version takes at its
// first commit: the one its content carries, or 0. The content is
// committed as written, so a copy of a file lands byte-identical and a new
// file written with paracle's initial `revision: 0` reads revision 0.
func First(doc *Doc) int64 {
	if doc != nil && doc.HasRev {
		return doc.Rev
	}
	return 0
}

// Restores reports whether a write that is stale by its content's
// revision field, or by its base, may be taken as a restore of the
// version whose bytes it carries: an older version committed again
// as the next revision (a git checkout, a stash pop, a backup copied
// back). Only a writer that did not derive its bytes from a stale read
// restores: its base is unknown (it never read the file through the
// mount: cp, tar, git writing from its object store) or current (it read
// the current version, so only its content's field is old). A writer whose
// base is a stale revision computed its bytes from that copy; that they
// equal a version is a coincidence that would undo a commit (two
// writers making the same change from the same read, the second after a
// third writer's commit), so it stays a conflict. The current version is
// no restore either: writing it again changes nothing.
func Restores(current, base, kept int64) bool {
	return kept < current && MayRestore(current, base)
}

// MayRestore reports whether a write with this base may be a restore of
// some version (see Restores): its base is unknown or current.
func MayRestore(current, base int64) bool {
	return base < 0 || base == current
}

// Older reports whether doc carries a revision older than current: the
// write is stale by its field alone, and may be a restore.
func Older(current int64, doc *Doc) bool {
	return doc != nil && doc.HasRev && doc.Rev < current
}
