package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/paracfs/paracfs/backing"
	"github.com/paracfs/paracfs/revision"
)

// The commit without FUSE: the daemon's own packages driven in this
// process, so that a paracfs commit splits into what the commit itself
// costs and what reaching it through the kernel costs. It also gives a
// Go (pprof) CPU profile of the commit path without touching the daemon.

// inprocCommitter commits through backing.Commit on a directory of its own.
func (b *Bench) inprocCommitter(rel string, initial []byte) (*contender, func(), error) {
	dir := b.dir("commit", "inproc")
	if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(rel)), 0o755); err != nil {
		return nil, nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, rel), initial, 0o644); err != nil {
		return nil, nil, err
	}
	d, err := backing.Open(dir, backing.Config{LockTimeout: 10 * time.Second, Limits: revision.DefaultLimits(), LogPath: backing.DefaultLogPath})
	if err != nil {
		return nil, nil, err
	}
	caller := backing.Caller{Pid: os.Getpid(), Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid()), Command: "benchsuite"}
	rev := int64(0)
	c := &contender{name: "backing.Commit (in process)"}
	c.batch = loop(func() (time.Duration, error) {
		rev++
		data := yamlDoc(4096, rev, 1)
		t0 := time.Now()
		res, err := d.Commit(backing.Write{Path: rel, Data: data, Base: -1, Caller: caller})
		el := time.Since(t0)
		if err == nil && res.Rev != rev {
			err = fmt.Errorf("in-process commit made revision %d, want %d", res.Rev, rev)
		}
		return el, err
	})
	return c, func() { d.Close() }, nil
}

// parser is a contender timing revision.Parse of the 4 KiB YAML file: the
// validation every commit does on the new bytes, and again on the
// current ones.
func parser() *contender {
	data := yamlDoc(4096, 1, 1)
	lim := revision.DefaultLimits()
	return &contender{name: "revision.Parse (in process)", batch: loop(func() (time.Duration, error) {
		t0 := time.Now()
		_, err := revision.Parse(revision.YAML, data, lim)
		return time.Since(t0), err
	})}
}

// pprofOf writes a Go CPU profile of k more in-process commits.
func (b *Bench) pprofOf(c *contender, k int) (string, error) {
	if err := os.MkdirAll(b.profDir, 0o755); err != nil {
		return "", err
	}
	file := filepath.Join(b.profDir, "commit-inprocess.pprof")
	f, err := os.Create(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return "", err
	}
	_, err = c.batch(k)
	pprof.StopCPUProfile()
	return file, err
}
