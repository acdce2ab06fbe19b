package fs

import "strings"

// Changed drops the kernel's cached entry, attributes and data of rel,
// which changed in the backing directory behind the kernel's back (another
// mount's commit, applied from the store). It is called outside any
// request handler.
func (n *Node) Changed(rel string) {
	r := n.r
	parent := r.nodeAt(rel)
	if parent == nil {
		return
	}
	name := rel[strings.LastIndexByte(rel, '/')+1:]
	if ch := parent.GetChild(name); ch != nil {
		r.invalidate(ch)
	}
	parent.NotifyEntry(name)
}
