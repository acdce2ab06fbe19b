package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A power cut, simulated: DIR lives on an ext4 image on a loop device,
// mounted errors=remount-ro, and trigger_fs_error aborts its journal, which
// drops everything not yet on disk, as a cut does. Commits, refusals,
// deletes and a first commit of content written before the mount run
// through the mount until a random number of them were acknowledged; the
// cut lands while they go on. After e2fsck and a remount, every
// acknowledged commit is on disk with its history version and a log line
// (its own or a recover line written at start), the version from before
// the mount is kept, every acknowledged refusal's bytes are kept whole
// with their sha256, and deleted files stay deleted. One round in three
// starts without a change log, which the run then creates.
//
// PARACFS_POWERCUT_ROUNDS sets the number of cuts (20 by default).

type pcCommit struct {
	rel  string
	rev  int64
	data []byte
	by   string // what acknowledged it: close, fsync or rename
}

type pcState struct {
	mu       sync.Mutex
	commits  []pcCommit
	refused  [][]byte
	deleted  map[string]bool // acknowledged deletes not followed by a commit
	acks     int
	lastRev  map[string]int64
	lastData map[string][]byte
	unacked  map[string][]byte // the write under way when the cut came
	cutErr   error             // what that write got
	gone     string            // a delete under way when the cut came
	// cutting is set just before the cut: a delete or a refusal that
	// returns after it is the one under way, landed (or kept) or not. A
	// commit that succeeds after it must have landed all the same.
	cutting bool
}

func (s *pcState) ack() {
	s.acks++
}

func TestPowerCut(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root (loop devices)")
	}
	needTool(t, "mkfs.ext4", "losetup", "e2fsck")
	rounds := 20
	if v, err := strconv.Atoi(os.Getenv("PARACFS_POWERCUT_ROUNDS")); err == nil && v > 0 {
		rounds = v
	}
	seed := time.Now().UnixNano()
	t.Logf("seed %d, %d rounds", seed, rounds)
	rng := rand.New(rand.NewSource(seed))
	for i := 0; i < rounds; i++ {
		target := 3 + rng.Intn(40)
		if !t.Run(fmt.Sprintf("cut%02d-after%d", i, target), func(t *testing.T) { powerCutRound(t, rng.Int63(), target) }) {
			break
		}
	}
}

func powerCutRound(t *testing.T, seed int64, target int) {
	rng := rand.New(rand.NewSource(seed))
	base, err := os.MkdirTemp(runDir, "powercut-")
	if err != nil {
		t.Fatal(err)
	}
	img, disk := filepath.Join(base, "disk.img"), filepath.Join(base, "disk")
	os.Mkdir(disk, 0o755)
	if f, err := os.Create(img); err != nil {
		t.Fatal(err)
	} else if err := f.Truncate(64 << 20); err != nil {
		t.Fatal(err)
	} else {
		f.Close()
	}
	mustRun(t, base, "mkfs.ext4", "-q", "-F", "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1", img)
	loop := strings.TrimSpace(mustRun(t, base, "losetup", "-f", "--show", img).Stdout)
	t.Cleanup(func() {
		releaseDisk(t, disk)
		run(t, base, "losetup", "-d", loop)
		os.RemoveAll(base)
	})
	mountDisk := func() { mustRun(t, base, "mount", "-o", "errors=remount-ro", loop, disk) }
	mountDisk()

	p := &project{Root: disk, Dir: filepath.Join(disk, ".parac"), backingFd: -1, rootFd: -1}
	if err := copyTree("testdata/parac", p.Dir); err != nil {
		t.Fatal(err)
	}
	// One round in three starts without a log: the run creates it, and the
	// cut leaves it empty or shorter (delayed allocation).
	noLog := rng.Intn(3) == 0
	if noLog {
		if err := os.Remove(filepath.Join(p.Dir, logRel)); err != nil {
			t.Fatal(err)
		}
	}
	unix.Sync() // the project as it was before: on disk
	// Written just before the mount and never synced: its first commit
	// through the mount must keep it (as the version "before the mount").
	const preRel = "memory/knowledge/pre.md"
	pre := []byte(fmt.Sprintf("before the mount %d\n", seed))
	if err := os.WriteFile(filepath.Join(p.Dir, preRel), pre, 0o644); err != nil {
		t.Fatal(err)
	}
	mountWith(t, p, p.Root, "mount", p.Dir)

	st := &pcState{deleted: map[string]bool{}, lastRev: map[string]int64{}, lastData: map[string][]byte{}, unacked: map[string][]byte{}}
	reached := make(chan struct{})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		pcWorkload(p, rng, st, target, reached, stop, preRel)
	}()
	select {
	case <-reached:
	case <-done:
		t.Fatalf("the workload stopped after %d acknowledgments, before the cut", st.acks)
	}
	// A refusal reported after the cut may say that its bytes could not
	// be kept (the disk is read-only): only those before it must be.
	st.mu.Lock()
	refusedBefore := len(st.refused)
	st.mu.Unlock()
	dev := filepath.Base(loop)
	st.mu.Lock()
	st.cutting = true
	st.mu.Unlock()
	if err := os.WriteFile("/sys/fs/ext4/"+dev+"/trigger_fs_error", []byte("1\n"), 0); err != nil {
		t.Fatalf("trigger_fs_error: %v", err)
	}
	close(stop)
	<-done
	// The commit the cut interrupted is a refusal the daemon counts,
	// though the read-only disk takes no log line of it.
	// (A rename whose commit landed, and then the scratch file's removal
	// met the read-only disk, was counted as a commit.)
	if st.cutErr != nil && !errors.As(st.cutErr, new(errScratch)) {
		r := paracfs(t, p.Root, "status", "--wait", ownStatusWait, p.Dir)
		landed := fmt.Sprintf("commits %d ", len(st.commits)+1)
		if !strings.Contains(r.Stdout, "read_only_fs") && !strings.Contains(r.Stdout, "io_error") && !(strings.HasPrefix(st.cutErr.Error(), "rename ") && strings.Contains(r.Stdout, landed)) {
			t.Errorf("paracfs status after a commit failed with %v on the read-only disk shows no read_only_fs or io_error refusal:\n%s", st.cutErr, r)
		}
	}

	// The machine comes back: the daemon is gone, the disk is checked.
	if !releaseDisk(t, disk) {
		t.FailNow()
	}
	if r := run(t, base, "e2fsck", "-fy", loop); r.Code >= 4 {
		t.Fatalf("e2fsck: %s", r)
	}
	mountDisk()
	p.openBacking(t)
	t.Cleanup(func() { unix.Close(p.backingFd); unix.Close(p.rootFd) })
	mountWith(t, p, p.Root, "mount", p.Dir)

	st.mu.Lock()
	defer st.mu.Unlock()
	t.Logf("%d acknowledged: %d commits, %d refusals, %d deleted; the write under way at the cut: %v; started without a log: %v", st.acks, len(st.commits), len(st.refused), len(st.deleted), st.cutErr, noLog)
	// A commit that met the read-only disk is refused as such.
	if e := errnoOf(st.cutErr); st.cutErr != nil && e != syscall.EROFS && e != syscall.EIO {
		t.Errorf("a commit on the disk the cut left read-only: %v, want EROFS or EIO", st.cutErr)
	}

	// The files: each as its last acknowledged commit left it, deleted
	// ones gone.
	for rel, want := range st.lastData {
		if st.deleted[rel] {
			continue
		}
		got, err := os.ReadFile(p.backing(rel))
		if u, ok := st.unacked[rel]; ok && err == nil && bytes.Equal(got, u) {
			continue // the write the cut interrupted, landed whole
		}
		if rel == st.gone && os.IsNotExist(err) {
			continue // the delete the cut interrupted, landed
		}
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s after the cut: %q, %v; want its last acknowledged commit %q", rel, short(string(got)), err, short(string(want)))
		}
	}
	// A delete through the mount is finished a moment later (editors
	// delete and create again): once its log line is on disk, the file
	// stays gone; before, it may come back, whole, as last committed.
	lines := logLines(t, p.Dir)
	deleteLogged := map[string]bool{}
	for _, e := range lines {
		if e.Op == "delete" {
			deleteLogged[e.Path] = true
		}
	}
	for rel := range st.deleted {
		got, err := os.ReadFile(p.backing(rel))
		switch {
		case os.IsNotExist(err):
		case deleteLogged[rel]:
			t.Errorf("%s: its delete is in the log, but the file is back after the cut: %v", rel, err)
		case err != nil || !bytes.Equal(got, st.lastData[rel]):
			t.Errorf("%s (deleted, not yet finished) is back after the cut as %q, %v; want gone or %q", rel, short(string(got)), err, short(string(st.lastData[rel])))
		}
	}

	// The log: every acknowledged commit has its line, or a recover line
	// of a revision at least as new; every line is whole JSON.
	logged := map[string]map[int64]bool{}
	recovered := map[string]int64{}
	for _, e := range lines {
		if e.Revision == nil || e.Path == "" {
			continue
		}
		switch e.Op {
		case "commit", "create":
			if logged[e.Path] == nil {
				logged[e.Path] = map[int64]bool{}
			}
			logged[e.Path][*e.Revision] = true
		case "recover":
			recovered[e.Path] = max(recovered[e.Path], *e.Revision)
		}
	}
	for _, c := range st.commits {
		if !logged[c.rel][c.rev] && recovered[c.rel] < c.rev {
			t.Errorf("%s revision %d was acknowledged (by %s) but the log has neither its line nor a recover line", c.rel, c.rev, c.by)
		}
	}

	// The history: every acknowledged version is listed, whole.
	for _, c := range st.commits {
		got, err := os.ReadFile(p.backing(".paracfs/history/" + c.rel + "/" + strconv.FormatInt(c.rev, 10) + filepath.Ext(c.rel)))
		if err != nil || !bytes.Equal(got, c.data) {
			t.Errorf("history of %s revision %d (acknowledged by %s): %q, %v; want %q", c.rel, c.rev, c.by, short(string(got)), err, short(string(c.data)))
		}
	}
	for _, rel := range pcRels(st) {
		b, err := os.ReadFile(p.backing(".paracfs/history/" + rel + "/.index.jsonl"))
		if err != nil {
			t.Errorf("history index of %s: %v", rel, err)
			continue
		}
		listed := map[int64]string{}
		for _, v := range pcIndex(b) {
			listed[v.Rev] = v.SHA256
		}
		for _, c := range st.commits {
			if c.rel == rel && listed[c.rev] != sha256hex(c.data) {
				t.Errorf("history index of %s lists revision %d as %q, want sha256 %s\n%s", rel, c.rev, listed[c.rev], sha256hex(c.data), b)
			}
		}
	}
	// Every version any index lists is whole, the fixture's versions from
	// before the mount among them.
	hist := p.backing(".paracfs/history")
	filepath.Walk(hist, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.Name() != ".index.jsonl" {
			return nil
		}
		rel, _ := filepath.Rel(hist, filepath.Dir(path))
		b, _ := os.ReadFile(path)
		for _, v := range pcIndex(b) {
			got, err := os.ReadFile(filepath.Join(filepath.Dir(path), strconv.FormatInt(v.Rev, 10)+filepath.Ext(rel)))
			if err != nil || sha256hex(got) != v.SHA256 {
				t.Errorf("history of %s lists revision %d (sha256 %s), its bytes: %d, %v", rel, v.Rev, v.SHA256, len(got), err)
			}
		}
		return nil
	})
	for _, rel := range pcRels(st) {
		if rel == preRel || strings.HasPrefix(path.Base(rel), "new-") {
			continue
		}
		want, _ := os.ReadFile(filepath.Join("testdata/parac", rel))
		if got, err := os.ReadFile(p.backing(".paracfs/history/" + rel + "/0.md")); err != nil || !bytes.Equal(got, want) {
			t.Errorf("the version of %s from before the mount: %d bytes, %v; want the fixture's %d", rel, len(got), err, len(want))
		}
	}
	// The version from before the mount, when the file was committed.
	if _, ok := st.lastData[preRel]; ok {
		got, err := os.ReadFile(p.backing(".paracfs/history/" + preRel + "/0.md"))
		if err != nil || !bytes.Equal(got, pre) {
			t.Errorf("the version of %s from before the mount: %q, %v; want %q", preRel, got, err, pre)
		}
	}

	// The refusals: each one's bytes kept whole, with their sha256.
	kept := map[string]bool{}
	filepath.Walk(p.backing(".paracfs/rejected"), func(path string, fi os.FileInfo, err error) error {
		if err != nil || !fi.Mode().IsRegular() {
			return nil
		}
		b, _ := os.ReadFile(path)
		sum := make([]byte, 64)
		n, err := unix.Getxattr(path, "user.paracfs.sha256", sum)
		if err == nil && string(sum[:n]) == sha256hex(b) {
			kept[string(b)] = true
		}
		return nil
	})
	for _, r := range st.refused[:refusedBefore] {
		if !kept[string(r)] {
			t.Errorf("the refusal of %q was reported, but its bytes are not kept whole with their sha256", short(string(r)))
		}
	}
	if t.Failed() {
		t.Logf("log after the cut:\n%s", readFile(t, p.backing(logRel)))
	}
}

type pcVersion struct {
	Rev     int64  `json:"revision"`
	SHA256  string `json:"sha256"`
	Dropped bool   `json:"dropped"`
}

// pcIndex returns the versions a history index lists (a version listed
// again replaces the earlier line; a dropped one is gone).
func pcIndex(b []byte) map[int64]pcVersion {
	out := map[int64]pcVersion{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var v pcVersion
		if json.Unmarshal([]byte(line), &v) != nil {
			continue
		}
		if v.Dropped {
			delete(out, v.Rev)
		} else {
			out[v.Rev] = v
		}
	}
	return out
}

func pcRels(st *pcState) []string {
	seen := map[string]bool{}
	var out []string
	for _, c := range st.commits {
		if !seen[c.rel] {
			seen[c.rel] = true
			out = append(out, c.rel)
		}
	}
	return out
}

// pcWorkload commits, refuses and deletes through the mount, recording
// what was acknowledged, until stop; it closes reached once target
// operations were acknowledged.
func pcWorkload(p *project, rng *rand.Rand, st *pcState, target int, reached, stop chan struct{}, preRel string) {
	mds := []string{preRel, "agents/specs/coder.md", "agents/specs/reviewer.md", "memory/knowledge/architecture.md"}
	var created []string
	signalled := false
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		default:
		}
		payload := []byte(fmt.Sprintf("# write %d\n%s\n", n, strings.Repeat("x", rng.Intn(6000))))
		var rel string
		var err error
		how := 0
		kind := rng.Intn(10)
		if n == 0 {
			kind = 0 // the file from before the mount first
		}
		switch {
		case kind < 5: // a commit of a Markdown file
			rel = mds[rng.Intn(len(mds))]
			if n == 0 {
				rel = preRel
			}
			how = rng.Intn(3)
			err = pcCommitBy(p, rel, payload, n, how)
		case kind < 7: // a new file
			rel = fmt.Sprintf("memory/knowledge/new-%d.md", n)
			how = rng.Intn(3)
			err = pcCommitBy(p, rel, payload, n, how)
			if err == nil {
				created = append(created, rel)
			}
		case kind < 8: // a delete of a file made here
			if len(created) == 0 {
				continue
			}
			i := rng.Intn(len(created))
			rel = created[i]
			created = append(created[:i], created[i+1:]...)
			if os.Remove(p.path(rel)) != nil {
				return
			}
			st.mu.Lock()
			if st.cutting {
				st.gone = rel
				st.mu.Unlock()
				return
			}
			st.deleted[rel] = true
			st.ack()
			st.mu.Unlock()
		case kind < 9: // a stale revision: a conflict
			refused := []byte(fmt.Sprintf("revision: 1\nwrite: %d\n", n))
			err = os.WriteFile(p.path("memory/context/current_state.yaml"), refused, 0o644)
			if errnoOf(err) != syscall.EBUSY {
				return
			}
			st.mu.Lock()
			if st.cutting {
				st.mu.Unlock()
				return
			}
			st.refused = append(st.refused, refused)
			st.ack()
			st.mu.Unlock()
		default: // invalid YAML
			refused := []byte(fmt.Sprintf("name: [unclosed %d\n", n))
			err = os.WriteFile(p.path("project.yaml"), refused, 0o644)
			if errnoOf(err) != syscall.EBADMSG {
				return
			}
			st.mu.Lock()
			if st.cutting {
				st.mu.Unlock()
				return
			}
			st.refused = append(st.refused, refused)
			st.ack()
			st.mu.Unlock()
		}
		if kind < 7 {
			st.mu.Lock()
			if err != nil {
				// The cut: this write is not acknowledged; it may
				// have landed or not. A commit acknowledged after the
				// trigger is held to its word like any other: paracfs
				// checks the journal after each fsync (ext4 aborts it
				// before it turns read-only).
				st.unacked[rel], st.cutErr = payload, err
				st.mu.Unlock()
				return
			}
			// A file of the fixture has revision 0 before the mount, so
			// its first commit is 1; a new name's first commit is 0 (it
			// takes its content's revision, none here).
			prev, seen := st.lastRev[rel]
			r := prev + 1
			if !seen && strings.HasPrefix(path.Base(rel), "new-") {
				r = 0
			}
			st.lastRev[rel], st.lastData[rel] = r, payload
			delete(st.deleted, rel)
			st.commits = append(st.commits, pcCommit{rel, r, payload, pcHow[how]})
			st.ack()
			st.mu.Unlock()
		}
		if !signalled && st.acks >= target {
			signalled = true
			close(reached)
		}
	}
}

var pcHow = []string{"close", "fsync", "rename"}

// pcCommitBy commits payload to rel through the mount, acknowledged the
// way a writer may be told: by close() (how 0), by fsync() (1: the close
// after it commits nothing more), or by the rename() of a scratch file
// written beside it (2), as editors and `sed -i` do.
func pcCommitBy(p *project, rel string, payload []byte, n, how int) error {
	switch how {
	case 1:
		f, err := os.OpenFile(p.path(rel), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := f.Write(payload); err != nil {
			return err
		}
		return f.Sync()
	case 2:
		scratch := p.path(fmt.Sprintf("%s.scratch-%d", rel, n))
		if err := os.WriteFile(scratch, payload, 0o644); err != nil {
			return errScratch{err} // no commit yet: a plain file's write
		}
		return os.Rename(scratch, p.path(rel))
	}
	return os.WriteFile(p.path(rel), payload, 0o644)
}

// errScratch is the failure of a scratch file's write, before any commit.
type errScratch struct{ error }

func (e errScratch) Unwrap() error { return e.error }

// diskMounted reports whether something is mounted on dir.
func diskMounted(dir string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && unescapeMount(f[4]) == dir {
			return true
		}
	}
	return false
}

// releaseDisk undoes what a test mounted on disk, leaving nothing in the
// mount table: the paracfs mounts under it, their daemons (waited for),
// then disk itself, retried while the daemons' last descriptors go, and
// lazily if it stays busy (an error then). It reports whether disk was
// unmounted for good.
func releaseDisk(t *testing.T, disk string) bool {
	pids := daemonPids(disk)
	unmountAll(t, disk)
	for _, pid := range append(pids, daemonPids(disk)...) {
		if !waitGone(pid, 5*time.Second) {
			syscall.Kill(pid, syscall.SIGKILL)
			waitGone(pid, 5*time.Second)
		}
	}
	var r result
	for try := 0; try < 100 && diskMounted(disk); try++ {
		if r = run(t, "/", "umount", disk); r.Code == 0 {
			return true
		}
		killDaemons(disk)
		time.Sleep(100 * time.Millisecond)
	}
	if !diskMounted(disk) {
		return true
	}
	run(t, "/", "umount", "-l", disk)
	t.Errorf("umount %s: %s; unmounted lazily", disk, r)
	return false
}

// `paracfs rejected apply` never applies kept bytes a crash damaged: a
// kept copy cut to 0 bytes (what a power cut left before kept bytes were
// fsynced) or cut in the middle no longer matches its sha256, and apply
// refuses it, saying so, with the file and the kept copy untouched.
func TestRejectedApplyDamagedCopy(t *testing.T) {
	t.Parallel()
	p := newProject(t)
	mount(t, p)
	const rel = "project.yaml"
	before := readFile(t, p.path(rel))
	for _, cut := range []int{0, 9} {
		refused := []byte("name: [unclosed\nversion: 2\n")
		if err := os.WriteFile(p.path(rel), refused, 0o644); errnoOf(err) != syscall.EBADMSG {
			t.Fatalf("invalid write: %v, want EBADMSG", err)
		}
		row := rejectedFor(t, rejectedList(t, p), rel, "invalid")
		// What is left of it after the crash: valid YAML by itself.
		if err := os.WriteFile(p.backing(row.Kept), refused[:cut], 0o600); err != nil {
			t.Fatal(err)
		}
		r := paracfs(t, p.Root, "rejected", "apply", row.ID)
		if r.Code == 0 || !strings.Contains(r.Stderr, "sha256") {
			t.Errorf("paracfs rejected apply of a kept copy cut to %d bytes: %s; want a refusal naming the sha256", cut, r)
		}
		assertContent(t, p, rel, before)
		if got, err := os.ReadFile(p.backing(row.Kept)); err != nil || len(got) != cut {
			t.Errorf("the damaged kept copy after the refused apply: %d bytes, %v; want it left as it is", len(got), err)
		}
		paracfs(t, p.Root, "rejected", "drop", row.ID)
	}
}
