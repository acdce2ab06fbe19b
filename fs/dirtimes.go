package fs

import (
	"context"
	"sync"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// A directory's times, as the mount shows them (docs/commit.md,
// "Directory times").
//
// A write to an existing file on a plain filesystem (an O_TRUNC open of an
// existing name, an append, ftruncate, a write without truncation) leaves
// the file's directory alone: its mtime and ctime stay. A commit is a temp
// file created beside P and renamed over it, which moves the backing
// directory's mtime and ctime. The mount hides that move: for each
// directory it keeps a shadow, the backing directory's times after such a
// commit and the times it showed before, and while the backing directory
// still has exactly those times, getattr shows the earlier ones.
//
// Any real change to the directory made through the mount (a create,
// mkdir, unlink, rmdir, rename in or out, link, symlink, mknod, a new
// file's commit, chmod/chown/utimens or an xattr of the directory itself,
// a commit applied from another mount, a control op) drops the shadow
// explicitly: ext4's times are coarse (a jiffy), so a real change made in
// the same tick as the commit could leave the times equal, and equality
// alone would hide it. A change behind the mount's back moves the backing
// times and so ends the shadow by itself (unless it lands in the same tick,
// or while an in-place commit of that directory is under way).
//
// The state lives in the directory's node: it goes when the kernel forgets
// the directory, and a restart of the daemon forgets it, after which the
// directory shows the backing times. The backing directory, seen with the
// mount away, shows the real ones.
type dirTimes struct {
	mu   sync.Mutex
	gen  uint64 // real changes finished
	busy int    // real changes under way
	// shadow: while the backing directory has times backing, show shown.
	shadow *dirShadow
	// In-place commits under way: while no real change began since
	// flightGen, the directory shows flightShown (its times before the
	// first of them), so that a stat between a commit's rename and its
	// end does not see the rename either.
	inflight    int
	flightGen   uint64
	flightShown dirStamp
}

// dirStamp is a directory's mtime and ctime.
type dirStamp struct{ mtime, ctime unix.Timespec }

// dirShadow: while the backing directory has times backing, it shows
// shown; with ownCtime, only the mtimes count and the ctime shown is the
// backing one (the directory itself was renamed since: that moved its
// ctime, not its mtime).
type dirShadow struct {
	backing, shown dirStamp
	ownCtime       bool
}

// show returns what the directory shows for backing times real, and
// whether the shadow still holds.
func (s *dirShadow) show(real dirStamp) (dirStamp, bool) {
	if s.ownCtime {
		if s.backing.mtime != real.mtime {
			return real, false
		}
		return dirStamp{s.shown.mtime, real.ctime}, true
	}
	return s.shown, s.backing == real
}

func stampOf(st *unix.Stat_t) dirStamp { return dirStamp{st.Mtim, st.Ctim} }

func attrStamp(a *fuse.Attr) dirStamp {
	return dirStamp{
		unix.Timespec{Sec: int64(a.Mtime), Nsec: int64(a.Mtimensec)},
		unix.Timespec{Sec: int64(a.Ctime), Nsec: int64(a.Ctimensec)},
	}
}

func (s dirStamp) fill(a *fuse.Attr) {
	a.Mtime, a.Mtimensec = uint64(s.mtime.Sec), uint32(s.mtime.Nsec)
	a.Ctime, a.Ctimensec = uint64(s.ctime.Sec), uint32(s.ctime.Nsec)
}

// times returns n's record, making it on first use.
func (n *Node) times() *dirTimes {
	if t := n.dt.Load(); t != nil {
		return t
	}
	n.dt.CompareAndSwap(nil, &dirTimes{})
	return n.dt.Load()
}

// shownLocked is what the directory shows when the backing one has real.
func (t *dirTimes) shownLocked(real dirStamp) dirStamp {
	switch {
	case t.busy > 0:
		return real
	case t.inflight > 0 && t.flightGen == t.gen:
		return t.flightShown
	case t.shadow != nil:
		if shown, ok := t.shadow.show(real); ok {
			return shown
		}
	}
	return real
}

// showDirTimes puts into out, which holds the backing directory's
// attributes, the times the directory shows.
func (n *Node) showDirTimes(out *fuse.Attr) {
	t := n.dt.Load()
	if t == nil || out.Mode&unix.S_IFMT != unix.S_IFDIR {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if real := attrStamp(out); t.inflight > 0 || t.shadow != nil {
		t.shownLocked(real).fill(out)
	}
}

// dirChanging is called on a directory before a real change to it made
// through the mount; the function it returns, once the change is done
// (made or failed).
func (n *Node) dirChanging() func() {
	t := n.times()
	t.mu.Lock()
	t.busy++
	t.shadow = nil
	t.mu.Unlock()
	return func() {
		t.mu.Lock()
		t.busy--
		t.gen++
		t.shadow = nil
		t.mu.Unlock()
	}
}

// dirChanged is called on a directory after a real change made outside a
// request (a commit from another mount, a control op, a rename away that
// its grace period finished).
func (n *Node) dirChanged() {
	if n == nil {
		return
	}
	t := n.dt.Load()
	if t == nil {
		return // nothing shown but the backing times
	}
	t.mu.Lock()
	t.gen++
	t.shadow = nil
	t.mu.Unlock()
}

// dirReplacing is dirChanging for a change that may leave the backing
// directory as it was although the name was made anew: a file created
// through the mount (or put back after an unlink) whose commit finds the
// very bytes already committed changes nothing on disk, and an unlink of a
// managed file removes the backing file only after its grace period. On a
// plain filesystem the directory's mtime and ctime move, so when ok (the
// change was made) and the backing times did not move, the directory shows
// the time of the change.
func (n *Node) dirReplacing() func(ok bool) {
	rel := n.rel()
	before, err := n.r.d.Lstat(rel)
	done := n.dirChanging()
	return func(ok bool) {
		done()
		if !ok || err != nil {
			return
		}
		after, err := n.r.d.Lstat(rel)
		if err != nil || stampOf(&after.Stat_t) != stampOf(&before.Stat_t) {
			return
		}
		now := unix.NsecToTimespec(time.Now().UnixNano())
		t := n.times()
		t.mu.Lock()
		if t.busy == 0 {
			t.shadow = &dirShadow{backing: stampOf(&after.Stat_t), shown: dirStamp{now, now}}
		}
		t.mu.Unlock()
		// The kernel may cache the directory's attributes from before;
		// dropping attributes only is safe from inside a request.
		n.NotifyContent(-1, 0)
	}
}

// parentDir is the directory node that holds n, or nil.
func (n *Node) parentDir() *Node {
	_, p := n.Parent()
	if p == nil {
		return nil
	}
	pn, _ := p.Operations().(*Node)
	return pn
}

// dirWrite is called on a managed file's node before a commit of it; the
// function it returns, after the commit, with whether it succeeded.
// inPlace says the writer opened the file by an existing name (O_TRUNC,
// O_APPEND, a write without truncation, ftruncate): on a plain filesystem
// that leaves the directory's times alone, so the directory keeps showing
// the times it showed before the commit (unless a real change to it began
// meanwhile). A file created anew is a real change (dirReplacing).
func (n *Node) dirWrite(inPlace bool) func(ok bool) {
	p := n.parentDir()
	if p == nil {
		return func(bool) {}
	}
	d := n.r.d
	if inPlace {
		if _, err := d.Lstat(n.rel()); err != nil {
			inPlace = false // gone meanwhile: the commit makes the name anew
		}
	}
	if !inPlace {
		return p.dirReplacing()
	}
	dirRel := p.rel()
	t := p.times()
	t.mu.Lock()
	st, err := d.Lstat(dirRel)
	if err != nil {
		t.mu.Unlock()
		return func(bool) {}
	}
	before := t.shownLocked(stampOf(&st.Stat_t))
	if t.inflight == 0 || t.flightGen != t.gen {
		t.flightGen, t.flightShown = t.gen, before
	}
	t.inflight++
	gen := t.gen
	t.mu.Unlock()
	return func(bool) {
		t.mu.Lock()
		defer t.mu.Unlock()
		t.inflight--
		if t.gen != gen || t.busy > 0 {
			return // a real change began meanwhile: the backing times stand
		}
		if st, err := d.Lstat(dirRel); err == nil {
			t.shadow = &dirShadow{backing: stampOf(&st.Stat_t), shown: before}
		}
	}
}

// renamedDirs is called at the end of a rename of name (in n) to newName
// (in np): a directory moved (or exchanged) changed its own ctime, not
// its mtime, which keeps showing what it showed.
func (n *Node) renamedDirs(name string, np *Node, newName string) {
	for _, ch := range []*fs.Inode{n.GetChild(name), np.GetChild(newName)} {
		if ch == nil {
			continue
		}
		if cn, ok := ch.Operations().(*Node); ok {
			cn.dirRenamed()
		}
	}
}

// dirRenamed is dirChanged for a directory that was itself renamed: a
// shadow keeps its mtime, and shows the backing ctime from now on.
func (n *Node) dirRenamed() {
	t := n.dt.Load()
	if t == nil {
		return
	}
	t.mu.Lock()
	t.gen++
	if t.shadow != nil {
		s := *t.shadow
		s.ownCtime = true
		t.shadow = &s
	}
	t.mu.Unlock()
}

// createChange is called before a create of name in n; the function it
// returns, after it, with whether it succeeded. Opening an existing name
// with O_CREAT changes nothing.
func (n *Node) createChange(ctx context.Context, name string) func(ok bool) {
	rel := join(n.rel(), name)
	if _, err := n.r.d.Lstat(rel); err == nil && !n.r.hidden(ctx, rel) {
		return func(bool) {}
	}
	return n.dirReplacing() // a managed file reaches the backing directory at its commit
}
