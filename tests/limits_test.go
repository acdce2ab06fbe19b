package tests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/paracfs/paracfs/backing"
)

// storeBytes sums the sizes of the history's objects and the kept refused
// writes in the backing directory.
func storeBytes(t *testing.T, p *project) int64 {
	t.Helper()
	var n int64
	for _, dir := range []string{".paracfs/objects", ".paracfs/rejected"} {
		filepath.Walk(p.backing(dir), func(path string, fi os.FileInfo, err error) error {
			if err == nil && fi.Mode().IsRegular() {
				n += fi.Size()
			}
			return nil
		})
	}
	return n
}

// --store-max-size bounds .paracfs: past it the oldest history versions
// are pruned (the newest stays, and is restorable), a prune line says so,
// and a refusal whose bytes would pass it keeps nothing and says why.
func TestLimitStore(t *testing.T) {
	p := newProject(t)
	const bound = 64 << 10
	mount(t, p, "--store-max-size", "64KiB")
	const rel = "memory/knowledge/architecture.md"
	var last []byte
	for i := 0; i < 12; i++ {
		last = append([]byte(fmt.Sprintf("# version %d\n", i)), bytes.Repeat([]byte{'a' + byte(i)}, 16<<10)...)
		if err := os.WriteFile(p.path(rel), last, 0o644); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		if n := storeBytes(t, p); n > bound {
			t.Fatalf("after commit %d, .paracfs holds %d bytes, past --store-max-size %d", i, n, bound)
		}
	}
	vs := history(t, p, rel)
	if len(vs) == 0 || len(vs) > 4 {
		t.Errorf("history of %s after 12 commits of 16 KiB under a 64 KiB bound: %d versions, want 1 to 4", rel, len(vs))
	}
	if got := readFile(t, historyFile(p, rel, 12)); !bytes.Equal(got, last) {
		t.Errorf("the newest version is not kept whole: %d bytes", len(got))
	}
	pruned := false
	for _, e := range logLines(t, p.Dir) {
		if e.Op == "prune" && strings.Contains(e.Description, "store_max_size") {
			pruned = true
		}
	}
	if !pruned {
		t.Errorf("no prune line in the log after the store passed its bound")
	}

	// A refusal of 70 KiB cannot be kept under a 64 KiB bound.
	big := append([]byte("name: [\n"), bytes.Repeat([]byte("x"), 70<<10)...)
	err := os.WriteFile(p.path("project.yaml"), big, 0o644)
	if errnoOf(err) != syscall.EBADMSG {
		t.Fatalf("invalid write: %v, want EBADMSG", err)
	}
	es := forPath(logLines(t, p.Dir), "project.yaml")
	if len(es) == 0 || es[len(es)-1].Kept != "" || !strings.Contains(es[len(es)-1].Reason, "could not be kept") {
		t.Errorf("the refusal's log line: %v; want no kept file and a reason saying the bytes could not be kept", es)
	}
	if n := storeBytes(t, p); n > bound {
		t.Errorf(".paracfs holds %d bytes after a refusal, past the bound %d", n, bound)
	}
}

// log_max_size in paracfs.yaml rotates the change log.
func TestLimitLogRotationConfig(t *testing.T) {
	p := newProject(t)
	if err := os.WriteFile(p.path("paracfs.yaml"), []byte("log_max_size: 8KiB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mount(t, p)
	for i := 0; i < 40; i++ {
		if err := os.WriteFile(p.path("memory/knowledge/architecture.md"), []byte(fmt.Sprintf("# %d\n%s\n", i, strings.Repeat("z", 300))), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat(p.backing(logRel + ".1")); err != nil {
		t.Errorf("after 40 commits with log_max_size: 8KiB, no rotated log: %v", err)
	}
	if st, err := os.Stat(p.backing(logRel)); err != nil || st.Size() > 16<<10 {
		t.Errorf("the change log after rotation: %v, %v", st, err)
	}
}

// The defaults are documented in the flags' help.
func TestLimitDefaults(t *testing.T) {
	r := paracfs(t, ".", "mount", "--help")
	for _, want := range []string{"--log-max-size string", `(default "64MiB")`, "--store-max-size string", `(default "256MiB")`} {
		if !strings.Contains(r.Stdout+r.Stderr, want) {
			t.Errorf("paracfs mount --help does not show %q:\n%s", want, r.Stdout+r.Stderr)
		}
	}
}

// --staging-max-size bounds the memory writes staged on open handles
// take, all together: a write past it fails with ENOSPC, its close too,
// the file stays as it was and the log says why; the others commit.
func TestLimitStaging(t *testing.T) {
	p := newProject(t)
	mount(t, p, "--staging-max-size", "1MiB")
	rels := []string{"agents/specs/coder.md", "agents/specs/reviewer.md", "memory/knowledge/architecture.md"}
	before := readFile(t, p.path(rels[2]))
	var files []*os.File
	var werr []error
	for i, rel := range rels {
		f, err := os.OpenFile(p.path(rel), os.O_WRONLY|os.O_TRUNC, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		_, err = f.Write(bytes.Repeat([]byte{'a' + byte(i)}, 400<<10))
		werr = append(werr, err)
	}
	if werr[0] != nil || werr[1] != nil {
		t.Errorf("writes within the bound: %v", werr[:2])
	}
	if errnoOf(werr[2]) != syscall.ENOSPC {
		t.Errorf("a write past the staging bound: %v, want ENOSPC", werr[2])
	}
	var cerr []error
	for _, f := range files {
		cerr = append(cerr, f.Close())
	}
	if cerr[0] != nil || cerr[1] != nil {
		t.Errorf("closes within the bound: %v", cerr[:2])
	}
	if errnoOf(cerr[2]) != syscall.ENOSPC {
		t.Errorf("close of the handle past the bound: %v, want ENOSPC", cerr[2])
	}
	assertContent(t, p, rels[2], before)
	es := forPath(logLines(t, p.Dir), rels[2])
	if len(es) == 0 || es[len(es)-1].Op != "no_space" || !strings.Contains(es[len(es)-1].Reason, "staging_max_size") {
		t.Errorf("log lines of %s: %v; want a no_space refusal naming staging_max_size", rels[2], es)
	}
	// The bound counts open handles only: once closed, room again.
	if err := os.WriteFile(p.path(rels[2]), bytes.Repeat([]byte("c"), 400<<10), 0o644); err != nil {
		t.Errorf("a write once the other handles closed: %v", err)
	}
}

// Read handles beyond the descriptor limit less --fd-reserve fail with
// EMFILE, and commits go on meanwhile: they keep descriptors of their own.
func TestLimitDescriptors(t *testing.T) {
	needTool(t, "prlimit")
	p := newProject(t)
	t.Cleanup(func() { unmountAll(t, p.Root) })
	if r := run(t, p.Root, "prlimit", "--nofile=512:512", paracfsBin, "mount", "--fd-reserve", "256", p.Dir); r.Code != 0 || !isMounted(p.Dir) {
		t.Fatalf("paracfs mount under a 512-descriptor limit: %s", r)
	}
	if pid := p.daemonPid(t); pid > 0 {
		p.addPid(pid)
	}
	const rel = "agents/specs/coder.md"
	var open []*os.File
	defer func() {
		for _, f := range open {
			f.Close()
		}
	}()
	var failed error
	for i := 0; i < 400; i++ {
		f, err := os.Open(p.path(rel))
		if err != nil {
			failed = err
			break
		}
		open = append(open, f)
	}
	if errnoOf(failed) != syscall.EMFILE || len(open) > 256 {
		t.Fatalf("after %d read handles: %v; want EMFILE at most at the 257th", len(open), failed)
	}
	for i := 0; i < 5; i++ {
		if err := os.WriteFile(p.path("memory/knowledge/architecture.md"), []byte(fmt.Sprintf("# %d\n", i)), 0o644); err != nil {
			t.Fatalf("commit %d while read handles fill their budget: %v", i, err)
		}
	}
	for _, f := range open {
		f.Close()
	}
	open = nil
	f, err := os.Open(p.path(rel))
	if err != nil {
		t.Errorf("a read handle once the others closed: %v", err)
	} else {
		f.Close()
	}

	// The other handles that hold a descriptor of the daemon's count too:
	// appenders to the change log, and files made under names paracfs
	// does not manage.
	for _, kind := range []struct {
		name string
		open func(i int) (*os.File, error)
	}{
		{"change log appenders", func(int) (*os.File, error) { return os.OpenFile(p.path(logRel), os.O_WRONLY|os.O_APPEND, 0) }},
		{"new unmanaged files", func(i int) (*os.File, error) {
			return os.OpenFile(p.path(fmt.Sprintf("memory/knowledge/scratch-%d.txt", i)), os.O_WRONLY|os.O_CREATE, 0o644)
		}},
	} {
		var failed error
		for i := 0; i < 600; i++ {
			f, err := kind.open(i)
			if err != nil {
				failed = err
				break
			}
			open = append(open, f)
		}
		if errnoOf(failed) != syscall.EMFILE || len(open) > 256 {
			t.Errorf("%s: %d opened, then %v; want EMFILE at most at the 257th", kind.name, len(open), failed)
		}
		for i := 0; i < 3; i++ {
			if err := os.WriteFile(p.path("memory/knowledge/architecture.md"), []byte(fmt.Sprintf("# %s %d\n", kind.name, i)), 0o644); err != nil {
				t.Errorf("commit %d while %d %s are open: %v", i, len(open), kind.name, err)
			}
		}
		for _, f := range open {
			f.Close()
		}
		open = nil
	}
}

// Each bound's key is accepted in paracfs.yaml, by `paracfs check` and by
// a commit of the file through the mount, and a bad value is refused with
// a line naming the key.
func TestLimitConfigKeys(t *testing.T) {
	p := newProject(t)
	for _, c := range []struct{ good, bad string }{
		{"store_max_size: 1MiB", "store_max_size: lots"},
		{"log_max_size: 0", "log_max_size: -5"},
		{"staging_max_size: 64MiB", "staging_max_size: 100"},
		{"fd_reserve: 64", "fd_reserve: many"},
	} {
		key := strings.SplitN(c.good, ":", 2)[0]
		if err := os.WriteFile(p.path("paracfs.yaml"), []byte(c.good+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := paracfs(t, p.Root, "check", p.Dir); r.Code != 0 {
			t.Errorf("paracfs check with %q: %s", c.good, r)
		}
		if err := os.WriteFile(p.path("paracfs.yaml"), []byte(c.bad+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if r := paracfs(t, p.Root, "check", p.Dir); r.Code == 0 || !strings.Contains(r.Stderr, "key "+key+":") {
			t.Errorf("paracfs check with %q: %s; want a failure naming the key", c.bad, r)
		}
	}
	os.Remove(p.path("paracfs.yaml"))
	mount(t, p)
	for _, c := range []struct{ good, bad string }{
		{"store_max_size: 1MiB\nstaging_max_size: 2MiB\nfd_reserve: 64\nlog_max_size: 1MiB\n", "staging_max_size: 2 MiB please\n"},
	} {
		if err := os.WriteFile(p.path("paracfs.yaml"), []byte(c.good), 0o644); err != nil {
			t.Errorf("a commit of paracfs.yaml setting every bound: %v", err)
		}
		err := os.WriteFile(p.path("paracfs.yaml"), []byte(c.bad), 0o644)
		es := forPath(logLines(t, p.Dir), "paracfs.yaml")
		if errnoOf(err) != syscall.EBADMSG || len(es) == 0 || es[len(es)-1].Op != "invalid" || !strings.Contains(es[len(es)-1].Reason, "staging_max_size") {
			t.Errorf("a commit of paracfs.yaml with %q: %v, log %v; want EBADMSG and a reason naming the key", c.bad, err, es)
		}
	}
	// The bounds committed are in force: 3 MiB staged past the 2 MiB bound.
	f, err := os.OpenFile(p.path("agents/specs/coder.md"), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, werr := f.Write(bytes.Repeat([]byte("s"), 3<<20))
	f.Close()
	if errnoOf(werr) != syscall.ENOSPC {
		t.Errorf("a 3 MiB write under staging_max_size: 2MiB from paracfs.yaml: %v, want ENOSPC", werr)
	}
}

// The daemon's memory stays near the staging bound whatever the writers
// stage: 40 handles each writing 15 MiB under a 64 MiB bound. Before the
// bound, the same took a daemon to 1.26 GB.
func TestLimitStagingMemory(t *testing.T) {
	p := newProject(t)
	const bound = 64 << 20
	mount(t, p, "--staging-max-size", "64MiB")
	pid := p.daemonPid(t)
	status := func() (rss, hwm int64) {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(b), "\n") {
			var kb int64
			if n, _ := fmt.Sscanf(line, "VmRSS: %d kB", &kb); n == 1 {
				rss = kb << 10
			}
			if n, _ := fmt.Sscanf(line, "VmHWM: %d kB", &kb); n == 1 {
				hwm = kb << 10
			}
		}
		return rss, hwm
	}
	start, _ := status()
	chunk := bytes.Repeat([]byte("m"), 1<<20)
	var files []*os.File
	full, refused := 0, 0
	for i := 0; i < 40; i++ {
		f, err := os.OpenFile(p.path(fmt.Sprintf("memory/knowledge/big-%d.md", i)), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
		var werr error
		for j := 0; j < 15 && werr == nil; j++ {
			_, werr = f.Write(chunk)
		}
		switch {
		case werr == nil:
			full++
		case errnoOf(werr) == syscall.ENOSPC:
			refused++
		default:
			t.Errorf("handle %d: %v, want ENOSPC past the bound", i, werr)
		}
	}
	_, hwm := status()
	for _, f := range files {
		f.Close()
	}
	figure(t, "staging: 40 handles x 15 MiB under a 64 MiB bound: %d staged whole, %d refused with ENOSPC; daemon RSS %d MiB at start, peak %d MiB (race build %v)", full, refused, start>>20, hwm>>20, raceEnabled())
	if full == 0 || full > bound/(15<<20) || refused == 0 {
		t.Errorf("%d handles staged 15 MiB whole, %d refused: want at most %d whole under a 64 MiB bound", full, refused, bound/(15<<20))
	}
	// The race detector's shadow memory multiplies what each byte costs.
	if !raceEnabled() && hwm-start > 2*bound+32<<20 {
		t.Errorf("the daemon's peak RSS grew by %d MiB under a %d MiB staging bound, want at most %d MiB", (hwm-start)>>20, bound>>20, (2*bound+32<<20)>>20)
	}
}

// At the machine's descriptor limit (20000 here, as where the daemon ran
// out of descriptors with 20k read handles open) and the default
// fd_reserve, read handles get EMFILE before the daemon's descriptors run
// out, and commits and new files go on meanwhile.
func TestLimitDescriptors20k(t *testing.T) {
	needTool(t, "prlimit")
	const limit, want = 20000, 20000 - backing.DefaultFdReserve
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil || rl.Max < want+200 {
		t.Skipf("this process may open %d descriptors, fewer than the %d the test holds", rl.Max, want+200)
	}
	rl.Cur = rl.Max
	syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
	p := newProject(t)
	t.Cleanup(func() { unmountAll(t, p.Root) })
	if r := run(t, p.Root, "prlimit", fmt.Sprintf("--nofile=%d:%d", limit, limit), paracfsBin, "mount", p.Dir); r.Code != 0 || !isMounted(p.Dir) {
		t.Fatalf("paracfs mount under a %d-descriptor limit: %s", limit, r)
	}
	if pid := p.daemonPid(t); pid > 0 {
		p.addPid(pid)
	}
	const rel = "agents/specs/coder.md"
	var open []*os.File
	defer func() {
		for _, f := range open {
			f.Close()
		}
	}()
	var failed error
	for len(open) < want+100 {
		f, err := os.Open(p.path(rel))
		if err != nil {
			failed = err
			break
		}
		open = append(open, f)
	}
	figure(t, "descriptors: under a %d limit and the default fd_reserve, %d read handles opened, then %v", limit, len(open), failed)
	if errnoOf(failed) != syscall.EMFILE || len(open) != want {
		t.Fatalf("after %d read handles: %v; want EMFILE at the %dth", len(open), failed, want+1)
	}
	for i := 0; i < 5; i++ {
		if err := os.WriteFile(p.path("memory/knowledge/architecture.md"), []byte(fmt.Sprintf("# %d\n", i)), 0o644); err != nil {
			t.Fatalf("commit %d while %d read handles are open: %v", i, len(open), err)
		}
		if err := os.WriteFile(p.path(fmt.Sprintf("memory/knowledge/new-%d.md", i)), []byte("new\n"), 0o644); err != nil {
			t.Fatalf("new file %d while %d read handles are open: %v", i, len(open), err)
		}
	}
	if err := os.WriteFile(p.path("project.yaml"), []byte("name: [\n"), 0o644); errnoOf(err) != syscall.EBADMSG {
		t.Errorf("an invalid write while the read handles are at their bound: %v, want EBADMSG (refused and kept)", err)
	}
}

// Revisions never wrap: a stamp forged at int64 max on the backing file
// (user.paracfs.rev, as a commit writes it, matching the file) or a
// `revision:` field at int64 max written into a committed file while
// unmounted is not believed.
// The file counts as changed behind the mount's back, logged once as
// external; the commits after it go on from a small revision, and none of
// them logs another external line.
func TestRevisionForgedAtInt64Max(t *testing.T) {
	p := newProject(t)
	const md, yml = "memory/knowledge/architecture.md", "memory/context/forged.yaml"
	mount(t, p)
	if err := os.WriteFile(p.path(md), []byte("# one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.path(yml), []byte("revision: 0\na: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if r := paracfs(t, p.Root, "unmount", p.Dir); r.Code != 0 {
		t.Fatalf("unmount: %s", r)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(p.backing(md), &st); err != nil {
		t.Fatal(err)
	}
	forged := fmt.Sprintf("9223372036854775807 %s %d %d", sha256hex([]byte("# one\n")), st.Size, st.Mtim.Sec*1e9+st.Mtim.Nsec)
	if err := syscall.Setxattr(p.backing(md), "user.paracfs.rev", []byte(forged), 0); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.backing(yml), []byte("revision: 9223372036854775807\na: 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mount(t, p)
	n := len(logLines(t, p.Dir))
	for i := 1; i <= 4; i++ {
		if err := os.WriteFile(p.path(md), []byte(fmt.Sprintf("# commit %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p.path(yml), []byte(fmt.Sprintf("a: %d\n", i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, rel := range []string{md, yml} {
		if r := rev(t, p.path(rel)); r < 0 || r > 10 {
			t.Errorf("%s after 4 commits on a forged revision: revision %d, want a small one", rel, r)
		}
		external, last := 0, int64(-1)
		for _, e := range forPath(logSince(t, p.Dir, n), rel) {
			if e.Revision != nil && *e.Revision < 0 {
				t.Errorf("a negative revision in the log: %s", e.Raw)
			}
			switch e.Op {
			case "external":
				external++
			case "commit", "create":
				if *e.Revision <= last {
					t.Errorf("%s: revision %d after %d", rel, *e.Revision, last)
				}
				last = *e.Revision
			}
		}
		if external != 1 {
			t.Errorf("%s: %d external lines after a forged revision and 4 commits, want 1", rel, external)
		}
	}
}

// A large file's commit line stays small: values past a size are logged
// as their length and sha256 (a 5.5 MB JSON once wrote a 14 MB line).
func TestLimitLogLineOfLargeFile(t *testing.T) {
	p := newProject(t)
	mount(t, p)
	const rel = "memory/context/big.json"
	doc := func(name string) []byte {
		var b strings.Builder
		b.WriteString(`{"items": [`)
		for i := 0; i < 60000; i++ {
			if i > 0 {
				b.WriteString(", ")
			}
			n := strings.Repeat("x", 40)
			if i == 0 {
				n = name
			}
			fmt.Fprintf(&b, `{"id": %d, "name": %q, "tags": ["a", "b", "c"]}`, i, n)
		}
		b.WriteString("]}")
		return []byte(b.String())
	}
	for _, name := range []string{"first", "second"} {
		if err := os.WriteFile(p.path(rel), doc(name), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	es := forPath(logLines(t, p.Dir), rel)
	if len(es) != 2 {
		t.Fatalf("log lines of %s: %d, want 2", rel, len(es))
	}
	for _, e := range es {
		if len(e.Raw) > 4096 {
			t.Errorf("the log line of a %d-byte commit is %d bytes, want a few hundred", *e.Size, len(e.Raw))
		}
	}
	figure(t, "log line of a %d-byte JSON commit that changed one value deep in it: %d bytes", *es[1].Size, len(es[1].Raw))
}
