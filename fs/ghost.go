package fs

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	"github.com/paracfs/paracfs/backing"
)

// renameGrace is how long a managed name renamed away (or unlinked) stays
// visible to other processes, waiting for the renamer to create it again
// (an editor's save: rename x.yaml to x.yaml~, write x.yaml, remove
// x.yaml~; git: unlink, create). Once created again, it waits for that
// commit however long it takes.
const renameGrace = 500 * time.Millisecond

// An away name: renamed away (or unlinked) by owner, still in the backing
// directory (backing.RenameAway), hidden from owner, its parent, and the
// processes of its session started since (the next commands of the script
// or terminal that ran `rm x; git checkout -- x` must see x gone, as on a
// plain directory), shown to everyone else (readers already running
// included) until a commit replaces it or the grace period ends
// (backing.FinishRename).
type awayName struct {
	rel, to string // to is "" for an unlink
	owner   procKey
	up      []procKey // owner's parent, grandparent, ... (nearest first, init left out)
	session int       // owner's session; 0 if unknown
	since   uint64    // when it went away, in clock ticks since boot (as procKey.start)
	caller  backing.Caller
	ino     uint64
	timer   *time.Timer
}

type awayNames struct {
	mu sync.Mutex
	m  map[string]*awayName
}

func (k *awayNames) get(rel string) *awayName {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.m[rel]
}

func (k *awayNames) any() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m) > 0
}

// renameAway renames managed oldRel to scratch newRel, leaving oldRel
// visible to everyone but the renamer for a while.
func (r *Root) renameAway(ctx context.Context, oldRel, newRel string, c backing.Caller) error {
	owner, ok := procOf(c.Pid)
	if !ok {
		return r.d.Rename(oldRel, newRel, 0, c)
	}
	ino, err := r.d.RenameAway(oldRel, newRel, c)
	if err != nil {
		return err
	}
	r.holdAway(&awayName{rel: oldRel, to: newRel, owner: owner, up: ancestors(owner.tgid), session: sessionOf(owner.tgid), since: bootTicks(), caller: c, ino: ino})
	return nil
}

// maxUp is how many of the remover's ancestors see its removal at once:
// enough to reach the script that ran it through a tool's own processes
// (rsync's generator, under rsync, under the shell).
const maxUp = 4

// ancestors lists the processes that started pid: its parent first, up
// to maxUp of them, stopping at init.
func ancestors(pid int) []procKey {
	var up []procKey
	for len(up) < maxUp {
		pid = parentPid(pid)
		if pid <= 1 {
			break
		}
		p, ok := procOf(pid)
		if !ok {
			break
		}
		up = append(up, p)
	}
	return up
}

// removeAway unlinks managed rel, leaving it visible to everyone but the
// remover for a while.
func (r *Root) removeAway(rel string, c backing.Caller) error {
	owner, ok := procOf(c.Pid)
	if !ok {
		return r.d.Remove(rel, c)
	}
	st, err := r.d.Lstat(rel)
	if err != nil {
		return err
	}
	// The history must hold what the unlink takes before it is
	// answered: a version that cannot be kept refuses the unlink now,
	// not when the grace period ends.
	if err := r.d.KeepCurrent(rel, c); err != nil {
		return err
	}
	r.holdAway(&awayName{rel: rel, owner: owner, up: ancestors(owner.tgid), session: sessionOf(owner.tgid), since: bootTicks(), caller: c, ino: st.Ino})
	return nil
}

func (r *Root) holdAway(g *awayName) {
	oldRel := g.rel
	r.away.mu.Lock()
	if r.away.m == nil {
		r.away.m = map[string]*awayName{}
	}
	if old := r.away.m[oldRel]; old != nil {
		old.timer.Stop()
	}
	r.away.m[oldRel] = g
	g.timer = time.AfterFunc(renameGrace, func() { r.finishAway(g, false) })
	r.away.mu.Unlock()
}

// undoRenameAway handles a renamer putting back, unchanged, the file it
// renamed away (vim restoring x.yaml~ after a refused save): the away name
// still holds those very bytes, so the rename is undone, with no commit.
// Anything else renamed onto the away name is a commit.
func (r *Root) undoRenameAway(ctx context.Context, oldRel, newRel string) bool {
	g := r.away.get(newRel)
	if g == nil || g.to != oldRel || !r.hidden(ctx, newRel) {
		return false
	}
	if ok, err := r.d.UndoRenameAway(oldRel, newRel, g.ino); !ok || err != nil {
		return false
	}
	r.away.mu.Lock()
	if r.away.m[newRel] == g {
		delete(r.away.m, newRel)
		g.timer.Stop()
	}
	r.away.mu.Unlock()
	return true
}

// awayTo reports whether rel is the scratch name a managed file was
// renamed to, its grace period still running: the kernel moved the
// file's node there (a rename moves the node), so that node stays the
// name's, with the file's own inode number, although the backing file
// under rel is a copy. A rename back then finds the very node, as on a
// plain filesystem, however the name was looked up meanwhile (ls).
func (r *Root) awayTo(rel string) bool {
	if !r.away.any() {
		return false
	}
	r.away.mu.Lock()
	defer r.away.mu.Unlock()
	for _, g := range r.away.m {
		if g.to == rel {
			return true
		}
	}
	return false
}

// committed forgets an away name once a commit to it succeeded. A commit of
// the very bytes the away file holds changes nothing on disk, so without
// this the grace period would end by removing the file just written.
func (r *Root) committed(rel string) {
	if !r.away.any() {
		return
	}
	r.away.mu.Lock()
	defer r.away.mu.Unlock()
	if g := r.away.m[rel]; g != nil {
		g.timer.Stop()
		delete(r.away.m, rel)
	}
}

// undoRemoveAway: when the file that was to replace an unlinked managed
// name is refused (install, git checkout, cp across filesystems: unlink,
// then create), the unlink was part of that save and is undone, so the
// file is left as it was.
func (r *Root) undoRemoveAway(rel string) {
	r.away.mu.Lock()
	defer r.away.mu.Unlock()
	if g := r.away.m[rel]; g != nil && g.to == "" {
		g.timer.Stop()
		delete(r.away.m, rel)
	}
}

// freeFor makes rel free for the process that removed it (or its parent),
// before that process creates something other than a file there (mkdir,
// symlink, mknod, a directory renamed onto it): the away name ends at
// once, and other processes then see the new object. A file the remover
// created there and has not committed yet still holds the name.
func (r *Root) freeFor(ctx context.Context, rel string) {
	if !r.away.any() || !r.hidden(ctx, rel) || r.pendingAt(rel) {
		return
	}
	if g := r.away.get(rel); g != nil {
		g.timer.Stop()
		r.finishAway(g, true)
	}
}

// finishAwayUnder finishes at once the away names at or below rel, before
// rel (a directory) is removed or renamed.
func (r *Root) finishAwayUnder(rel string) {
	if !r.away.any() {
		return
	}
	r.away.mu.Lock()
	var due []*awayName
	for p, g := range r.away.m {
		if p == rel || strings.HasPrefix(p, rel+"/") {
			g.timer.Stop()
			due = append(due, g)
		}
	}
	r.away.mu.Unlock()
	for _, g := range due {
		r.finishAway(g, true)
	}
}

// finishAway ends an away name's grace: the rename is finished unless the
// name was committed again meanwhile. A name the renamer is still writing
// (created through the mount, not committed yet) waits longer, unless
// the mount is going away (now).
func (r *Root) finishAway(g *awayName, now bool) {
	if !now && r.pendingAt(g.rel) {
		r.away.mu.Lock()
		if r.away.m[g.rel] == g {
			g.timer.Reset(renameGrace)
		}
		r.away.mu.Unlock()
		return
	}
	r.away.mu.Lock()
	if r.away.m[g.rel] != g {
		r.away.mu.Unlock()
		return
	}
	delete(r.away.m, g.rel)
	r.away.mu.Unlock()
	if err := r.d.FinishRename(g.rel, g.to, g.ino, g.caller); err == nil {
		r.nodeAt(g.rel).dirChanged() // the backing file leaves its directory now
		if g.to != "" {
			r.nodeAt(g.to).dirChanged()
		}
		if n := r.nodeAt(g.rel); n != nil {
			r.inval <- func() { n.NotifyEntry(g.rel[strings.LastIndexByte(g.rel, '/')+1:]) }
		}
	}
}

// FinishRenames finishes every pending rename away, at unmount.
func (r *Root) FinishRenames() {
	r.away.mu.Lock()
	var all []*awayName
	for _, g := range r.away.m {
		g.timer.Stop()
		all = append(all, g)
	}
	r.away.mu.Unlock()
	for _, g := range all {
		r.finishAway(g, true)
	}
}

// hidden reports whether rel is an away name that the caller renamed away:
// for that process it is gone, as rename promised.
func (r *Root) hidden(ctx context.Context, rel string) bool {
	g := r.away.get(rel)
	if g == nil {
		return false
	}
	fc, ok := fuse.FromContext(ctx)
	if !ok {
		return false
	}
	if p, ok := procOf(int(fc.Pid)); !ok || !g.sees(p) {
		return false
	}
	st, err := r.d.Lstat(rel)
	if err != nil || st.Ino != g.ino {
		r.away.mu.Lock()
		if r.away.m[rel] == g {
			delete(r.away.m, rel) // committed again: nothing to hide
			g.timer.Stop()
		}
		r.away.mu.Unlock()
		return false
	}
	return true
}

// sees reports whether process p sees the name gone at once, as on a
// plain directory: the remover; the processes that started it (the
// script, which may have exec'd its last command, as bash -c does); and,
// started since the removal, a later command of the same script or
// terminal: the processes of the remover's session or, where /proc shows
// no session (0: a session whose leader lives outside this pid
// namespace, as in containers and CI runners), those descending from the
// remover's ancestors. Everyone else sees the name for the grace period.
func (g *awayName) sees(p procKey) bool {
	if p == g.owner {
		return true
	}
	for _, a := range g.up {
		if p == a {
			return true
		}
	}
	if p.start < g.since {
		return false
	}
	s := sessionOf(p.tgid)
	if s != g.session {
		return false
	}
	if s > 0 {
		return true
	}
	return descendsFrom(p.tgid, g.up)
}

// descendsFrom reports whether process pid was started, directly or
// through its parents, by one of the processes in anc.
func descendsFrom(pid int, anc []procKey) bool {
	for i := 0; i < maxAncestry && pid > 1; i++ {
		pid = parentPid(pid)
		for _, a := range anc {
			if pid == a.tgid {
				start, ok := startTime(pid)
				return ok && start == a.start
			}
		}
	}
	return false
}

// maxAncestry bounds the walk up a process's parents.
const maxAncestry = 32

// bootTicks is the time since boot in the clock ticks (USER_HZ, 100 a
// second) that /proc gives a process's start time in.
func bootTicks() uint64 {
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts) != nil {
		return ^uint64(0) // no process counts as started since
	}
	return uint64(ts.Nano()) / 1e7
}

// nodeAt returns the parent node of rel if the kernel knows it.
func (r *Root) nodeAt(rel string) *Node {
	n := r.root
	parts := strings.Split(rel, "/")
	for _, p := range parts[:len(parts)-1] {
		ch := n.GetChild(p)
		if ch == nil {
			return nil
		}
		cn, ok := ch.Operations().(*Node)
		if !ok {
			return nil
		}
		n = cn
	}
	return n
}

// pendingAt reports whether rel is a file created through the mount that
// has not committed yet.
func (r *Root) pendingAt(rel string) bool {
	parent := r.nodeAt(rel)
	if parent == nil {
		return false
	}
	ch := parent.GetChild(rel[strings.LastIndexByte(rel, '/')+1:])
	if ch == nil {
		return false
	}
	cn, ok := ch.Operations().(*Node)
	return ok && cn.isPending()
}

// Shutdown finishes what the mount left pending (renames away still in
// their grace period). Call it once the server has stopped.
func (n *Node) Shutdown() { n.r.FinishRenames() }
