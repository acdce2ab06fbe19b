package fs

import "strings"

// Changed drops the kernel's cached attributes and data of rel, which
// changed in the backing directory behind the kernel's back (another
// mount's commit, applied from the store), and queues dropping its cached
// entry (a file created or removed there). It is called outside any
// request handler, but under P's lock: the entry, whose invalidation
// takes the directory's lock in the kernel, is left to the invalidator.
func (n *Node) Changed(rel string) {
	r := n.r
	parent := r.nodeAt(rel)
	if parent == nil {
		return
	}
	parent.dirChanged() // treated as a real change, whatever the other mount's writer did
	name := rel[strings.LastIndexByte(rel, '/')+1:]
	if ch := parent.GetChild(name); ch != nil {
		r.invalidate(ch)
	}
	select {
	case r.inval <- func() { parent.NotifyEntry(name) }:
	default: // queue full: the entry times out by itself (entryTimeout)
	}
}
