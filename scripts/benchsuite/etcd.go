package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// caseEtcd is the etcd store's case (docs/etcd.md): on a 3-member etcd
// cluster started on free 127.0.0.1 ports, a 4 KiB commit through a
// --store mount against its two parts measured in the same run: the same
// commit through a mount without a store (the local floor) and a bare
// etcd transaction of the same bytes from Go (compare mod_revision, put).
// Then the propagation time: from a commit's return on one mount to its
// bytes being read on a second mount of the same prefix. It is not in the
// default set of cases: it needs the etcd binary (scripts/setup installs
// Debian's etcd-server).
func (b *Bench) caseEtcd() error {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		b.printf("\n9. etcd store: skipped: no etcd binary on PATH (scripts/setup installs etcd-server)\n")
		return nil
	}
	n, warm, rounds, nprop := b.n(300, 20), b.n(20, 3), b.n(6, 2), b.n(200, 10)
	cl, err := startCluster(bin, b.dir("etcd", "cluster"))
	if cl != nil {
		defer cl.stop()
	}
	if err != nil {
		return err
	}
	url := "etcd://" + strings.Join(cl.endpoints, ",") + "/bench"

	const rel = "notes/measure.md"
	body := bytes.Repeat([]byte("a line of notes, 32 bytes long.\n"), 128) // 4 KiB
	content := func(i int64) []byte { return append([]byte(fmt.Sprintf("%08d\n", i)), body[9:]...) }
	mk := func(name string) (string, error) {
		d := b.dir("etcd", name)
		if err := os.MkdirAll(filepath.Join(d, "notes"), 0o755); err != nil {
			return "", err
		}
		return d, os.WriteFile(filepath.Join(d, rel), content(0), 0o644)
	}
	localDir, err := mk("local")
	if err != nil {
		return err
	}
	storeDir, err := mk("store-a")
	if err != nil {
		return err
	}
	local, err := b.mountParacfs(localDir, rel)
	if err != nil {
		return err
	}
	defer b.unmount(local)
	// Commits are timed with one machine on the store: a second one on
	// this host would apply each of them on the same disk and CPUs.
	sa, err := b.mountParacfs(storeDir, rel, "--store", url, "--store-name", "a")
	if err != nil {
		return err
	}
	defer b.unmount(sa)

	cli, err := clientv3.New(clientv3.Config{Endpoints: cl.endpoints, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	var i int64
	writer := func(name, path string) *contender {
		return &contender{name: name, batch: loop(func() (time.Duration, error) {
			i++
			t0 := time.Now()
			err := os.WriteFile(path, content(i), 0o644)
			return time.Since(t0), err
		})}
	}
	var bareRev int64
	bare := &contender{name: "etcd txn (Go)", batch: loop(func() (time.Duration, error) {
		i++
		val := string(content(i))
		t0 := time.Now()
		resp, err := cli.Txn(context.Background()).
			If(clientv3.Compare(clientv3.ModRevision("bare/measure.md"), "=", bareRev)).
			Then(clientv3.OpPut("bare/measure.md", val)).Commit()
		d := time.Since(t0)
		if err != nil {
			return 0, err
		}
		if !resp.Succeeded {
			return 0, fmt.Errorf("bare transaction: the compare failed")
		}
		bareRev = resp.Header.Revision
		return d, nil
	})}
	lc, sc := writer("paracfs, no store", filepath.Join(localDir, rel)), writer("paracfs --store", filepath.Join(storeDir, rel))
	cs := []*contender{lc, bare, sc}
	if err := interleave(cs, warm, n, rounds); err != nil {
		return err
	}

	// Propagation: a second machine on the same prefix.
	bDir := b.dir("etcd", "store-b")
	sb, err := b.mountParacfs(bDir, rel, "--store", url, "--store-name", "b")
	if err != nil {
		return err
	}
	defer b.unmount(sb)
	var prop []time.Duration
	for k := 0; k < nprop; k++ {
		i++
		want := content(i)
		if err := os.WriteFile(filepath.Join(storeDir, rel), want, 0o644); err != nil {
			return err
		}
		t0 := time.Now()
		for {
			if got, err := os.ReadFile(filepath.Join(bDir, rel)); err == nil && bytes.Equal(got, want) {
				break
			}
			if time.Since(t0) > time.Minute {
				b.fail("etcd: commit %d on machine a never reached machine b", i)
				return nil
			}
			time.Sleep(50 * time.Microsecond)
		}
		prop = append(prop, time.Since(t0))
	}
	got, err := os.ReadFile(filepath.Join(bDir, rel))
	if err != nil || !bytes.Equal(got, content(i)) {
		b.fail("etcd: machine b does not hold the last commit (%v)", err)
	}

	t := &table{
		title: fmt.Sprintf("9. etcd store: commit of a 4 KiB file, %d× in a row (%d rounds, interleaved), on a 3-member cluster on 127.0.0.1", n, rounds),
		head:  []string{"system", "p50", "p99", "mean"},
	}
	ser := map[string]*Series{}
	for _, c := range cs {
		s := b.series("etcd", "latency", c.name, "ns", nanos(c.lat))
		ser[c.name] = s
		t.add(c.name, fmtNs(s.P50), fmtNs(s.P99), fmtNs(s.Mean))
	}
	sum := ser["paracfs, no store"].P50 + ser["etcd txn (Go)"].P50
	t.add("no store + etcd txn", fmtNs(sum), "", "")
	ps := b.series("etcd", "propagation", "paracfs --store", "ns", nanos(prop))
	t.add(fmt.Sprintf("propagation a → b (n=%d)", nprop), fmtNs(ps.P50), fmtNs(ps.P99), fmtNs(ps.Mean))
	r := ratio(ser["paracfs --store"].P50, sum)
	t.notes = append(t.notes,
		fmt.Sprintf("paracfs --store / (no store + etcd txn) = %s (p50)", fmtRatio(r)),
		"propagation: from the commit's return on machine a to its bytes read on machine b (polled every 50 µs); one host, one disk for all members")
	b.printTable(t)
	b.target("etcd store commit p50 vs local commit + bare etcd txn", r, "<=", 1.3, "x",
		fmt.Sprintf("%s vs %s + %s", fmtNs(ser["paracfs --store"].P50), fmtNs(ser["paracfs, no store"].P50), fmtNs(ser["etcd txn (Go)"].P50)))
	return nil
}

// etcdCluster is the case's 3-member cluster.
type etcdCluster struct {
	endpoints []string
	cmds      []*exec.Cmd
	done      []chan struct{}
}

// startCluster starts 3 members on free 127.0.0.1 ports, data and logs in
// dir, and waits until each says it is healthy.
func startCluster(bin, dir string) (*etcdCluster, error) {
	var ls []net.Listener
	var ports []int
	for k := 0; k < 6; k++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	var initial []string
	for m := 0; m < 3; m++ {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", m, ports[2*m+1]))
	}
	c := &etcdCluster{}
	for m := 0; m < 3; m++ {
		client, peer := fmt.Sprintf("http://127.0.0.1:%d", ports[2*m]), fmt.Sprintf("http://127.0.0.1:%d", ports[2*m+1])
		logf, err := os.Create(filepath.Join(dir, fmt.Sprintf("m%d.log", m)))
		if err != nil {
			return c, err
		}
		cmd := exec.Command(bin, "--name", fmt.Sprintf("m%d", m), "--data-dir", filepath.Join(dir, fmt.Sprintf("m%d.data", m)),
			"--listen-client-urls", client, "--advertise-client-urls", client,
			"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new", "--initial-cluster-token", "paracfs-bench")
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		err = cmd.Start()
		logf.Close()
		if err != nil {
			return c, fmt.Errorf("starting etcd: %v", err)
		}
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		c.cmds, c.done = append(c.cmds, cmd), append(c.done, done)
		c.endpoints = append(c.endpoints, fmt.Sprintf("127.0.0.1:%d", ports[2*m]))
	}
	hc := http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(time.Minute)
	for _, ep := range c.endpoints {
		for {
			var h struct {
				Health string `json:"health"`
			}
			resp, err := hc.Get("http://" + ep + "/health")
			if err == nil {
				json.NewDecoder(resp.Body).Decode(&h)
				resp.Body.Close()
			}
			if h.Health == "true" {
				break
			}
			if time.Now().After(deadline) {
				return c, fmt.Errorf("etcd member at %s not healthy after a minute (logs in %s)", ep, dir)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return c, nil
}

// stop stops the members (SIGTERM, then SIGKILL) and waits for them.
func (c *etcdCluster) stop() {
	for _, cmd := range c.cmds {
		cmd.Process.Signal(syscall.SIGTERM)
	}
	for k, done := range c.done {
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			c.cmds[k].Process.Kill()
			<-done
		}
	}
}
