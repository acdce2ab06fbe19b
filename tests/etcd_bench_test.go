package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// TestEtcdMeasure measures, in one run on one 3-member cluster: a commit
// of 4 KiB through a --store mount, a bare etcd transaction of the same
// bytes from Go, and the same commit through a mount without a store
// (the local floor); then the time from a commit's return on one mount to
// its bytes being read on another. A measurement, not a test: it asserts
// nothing of the times, and runs only with PARACFS_ETCD_MEASURE=1.
func TestEtcdMeasure(t *testing.T) {
	if os.Getenv("PARACFS_ETCD_MEASURE") == "" {
		t.Skip("a measurement: set PARACFS_ETCD_MEASURE=1 to run it (docs/etcd.md reports it)")
	}
	c := startEtcdCluster(t)
	// Commits are measured with one machine mounted: a second one on this
	// same host would apply each commit on the same disk and CPUs.
	ps := etcdMachines(t, c, "measure", 1)
	plain := newProject(t)
	mount(t, plain)
	const n = 300
	body := bytes.Repeat([]byte("a line of notes, 32 bytes long.\n"), 128) // 4 KiB
	content := func(i int) []byte { return append([]byte(fmt.Sprintf("%08d\n", i)), body[9:]...) }

	commits := func(path string) []time.Duration {
		var out []time.Duration
		for i := 0; i < n; i++ {
			t0 := time.Now()
			if err := os.WriteFile(path, content(i), 0o644); err != nil {
				t.Fatal(err)
			}
			out = append(out, time.Since(t0))
		}
		return out
	}
	local := commits(plain.path("measure.md"))
	store := commits(ps[0].path("measure.md"))

	var eps []string
	for _, m := range c.members {
		eps = append(eps, fmt.Sprintf("127.0.0.1:%d", m.client))
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 10 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	var bare []time.Duration
	var last int64
	for i := 0; i < n; i++ {
		t0 := time.Now()
		resp, err := cli.Txn(context.Background()).
			If(clientv3.Compare(clientv3.ModRevision("bare/measure.md"), "=", last)).
			Then(clientv3.OpPut("bare/measure.md", string(content(i)))).Commit()
		if err != nil || !resp.Succeeded {
			t.Fatalf("bare transaction: %v", err)
		}
		bare = append(bare, time.Since(t0))
		last = resp.Header.Revision
	}

	second := newProject(t)
	mount(t, second, "--store", c.url("measure"), "--store-name", "machine1")
	ps = append(ps, second)
	var prop []time.Duration
	for i := n; i < n+100; i++ {
		want := content(i)
		if err := os.WriteFile(ps[0].path("measure.md"), want, 0o644); err != nil {
			t.Fatal(err)
		}
		t0 := time.Now()
		for {
			if b, err := os.ReadFile(ps[1].path("measure.md")); err == nil && bytes.Equal(b, want) {
				break
			}
			if time.Since(t0) > etcdWait {
				t.Fatalf("commit %d never reached machine1", i)
			}
		}
		prop = append(prop, time.Since(t0))
	}
	q := func(ds []time.Duration, p float64) time.Duration {
		s := slices.Clone(ds)
		slices.Sort(s)
		return s[int(p*float64(len(s)-1))].Round(10 * time.Microsecond)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n%-44s %10s %10s\n", "4 KiB, n="+fmt.Sprint(n), "p50", "p99")
	fmt.Fprintf(&b, "%-44s %10s %10s\n", "commit through a mount, no store (floor)", q(local, .5), q(local, .99))
	fmt.Fprintf(&b, "%-44s %10s %10s\n", "bare etcd transaction from Go", q(bare, .5), q(bare, .99))
	fmt.Fprintf(&b, "%-44s %10s %10s\n", "commit through a --store mount", q(store, .5), q(store, .99))
	fmt.Fprintf(&b, "%-44s %10s %10s\n", "propagation to another mount (n=100)", q(prop, .5), q(prop, .99))
	ratio := float64(q(store, .5)) / float64(q(local, .5)+q(bare, .5))
	fmt.Fprintf(&b, "store commit p50 / (floor p50 + bare txn p50) = %.2f\n", ratio)
	t.Log(b.String())
}
