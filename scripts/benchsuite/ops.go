package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// The client side of every case: the same syscalls against each system,
// timed from the caller's side. Phases split one operation so that the
// report can say where its time goes.

// contender is one system of a case, run in batches so that systems
// can take turns (rounds) instead of one running entirely after another.
type contender struct {
	name   string
	batch  func(k int) ([]time.Duration, error)
	lat    []time.Duration
	phases map[string][]time.Duration
	order  []string // phase names in order
}

func (c *contender) phase(name string, d time.Duration) {
	if c.phases == nil {
		c.phases = map[string][]time.Duration{}
	}
	if _, ok := c.phases[name]; !ok {
		c.order = append(c.order, name)
	}
	c.phases[name] = append(c.phases[name], d)
}

// loop makes a batch function from one timed operation.
func loop(op func() (time.Duration, error)) func(k int) ([]time.Duration, error) {
	return func(k int) ([]time.Duration, error) {
		out := make([]time.Duration, 0, k)
		for i := 0; i < k; i++ {
			d, err := op()
			if err != nil {
				return out, err
			}
			out = append(out, d)
		}
		return out, nil
	}
}

// interleave runs warm untimed and n timed operations of every contender,
// in rounds whose order rotates, so slow drift of the machine (other
// load, the disk's state) spreads over all systems alike.
func interleave(cs []*contender, warm, n, rounds int) error {
	for _, c := range cs {
		if warm > 0 {
			if _, err := c.batch(warm); err != nil {
				return fmt.Errorf("%s (warm-up): %w", c.name, err)
			}
			for k := range c.phases {
				c.phases[k] = nil
			}
		}
	}
	if rounds < 1 {
		rounds = 1
	}
	for r := 0; r < rounds; r++ {
		k := n / rounds
		if r == rounds-1 {
			k = n - k*(rounds-1)
		}
		for j := range cs {
			c := cs[(r+j)%len(cs)]
			lat, err := c.batch(k)
			c.lat = append(c.lat, lat...)
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
		}
	}
	return nil
}

func writeAll(fd int, data []byte) error {
	for len(data) > 0 {
		n, err := unix.Write(fd, data)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// readAll reads fd to its end with buf-sized reads; it returns the bytes
// read (into out when out is not nil).
func readAll(fd int, buf []byte, out *[]byte) (int, error) {
	total := 0
	for {
		n, err := unix.Read(fd, buf)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return total, err
		}
		if n == 0 {
			return total, nil
		}
		if out != nil {
			*out = append(*out, buf[:n]...)
		}
		total += n
	}
}

// plainWrite is open(O_TRUNC)+write+close: what a tool does to save a
// file. On paracfs, close is the commit.
func plainWrite(c *contender, path string, data []byte) (time.Duration, error) {
	t0 := time.Now()
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_TRUNC|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return 0, fmt.Errorf("open %s: %w", path, err)
	}
	t1 := time.Now()
	if err := writeAll(fd, data); err != nil {
		unix.Close(fd)
		return 0, fmt.Errorf("write %s: %w", path, err)
	}
	t2 := time.Now()
	if err := unix.Close(fd); err != nil {
		return 0, fmt.Errorf("close %s: %w", path, err)
	}
	t3 := time.Now()
	c.phase("open", t1.Sub(t0))
	c.phase("write", t2.Sub(t1))
	c.phase("close", t3.Sub(t2))
	return t3.Sub(t0), nil
}

// floorWrite is a paracfs commit's disk work done natively: flock P.lock,
// write a temp file beside P, fsync it, rename it over P, fsync the
// directory, unlock.
func floorWrite(c *contender, path string, data []byte) (time.Duration, error) {
	t0 := time.Now()
	unlock, err := lockFile(path + ".lock")
	if err != nil {
		return 0, err
	}
	t1 := time.Now()
	tmp, err := replaceDurably(c, path, data)
	if err != nil {
		unlock()
		return 0, fmt.Errorf("%s: %w", tmp, err)
	}
	t5 := time.Now()
	unlock()
	t6 := time.Now()
	if c != nil {
		c.phase("lock", t1.Sub(t0))
		c.phase("unlock", t6.Sub(t5))
	}
	return t6.Sub(t0), nil
}

var tmpSeq int

// replaceDurably writes data to a temp file beside path, fsyncs it,
// renames it over path and fsyncs the directory.
func replaceDurably(c *contender, path string, data []byte) (string, error) {
	tmpSeq++
	dir, base := filepath.Split(path)
	tmp := filepath.Join(dir, ".floor-tmp."+base+"."+strconv.Itoa(os.Getpid())+"."+strconv.Itoa(tmpSeq))
	t1 := time.Now()
	fd, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return tmp, err
	}
	if err := writeAll(fd, data); err != nil {
		unix.Close(fd)
		unix.Unlink(tmp)
		return tmp, err
	}
	t2 := time.Now()
	if err := unix.Fsync(fd); err != nil {
		unix.Close(fd)
		unix.Unlink(tmp)
		return tmp, err
	}
	unix.Close(fd)
	t3 := time.Now()
	if err := unix.Rename(tmp, path); err != nil {
		unix.Unlink(tmp)
		return tmp, err
	}
	t4 := time.Now()
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return tmp, err
	}
	err = unix.Fsync(dfd)
	unix.Close(dfd)
	t5 := time.Now()
	if c != nil {
		c.phase("write tmp", t2.Sub(t1))
		c.phase("fsync", t3.Sub(t2))
		c.phase("rename", t4.Sub(t3))
		c.phase("dir fsync", t5.Sub(t4))
	}
	return tmp, err
}

// lockFile takes flock(LOCK_EX) on a lock file, as paracfs and paracle do.
func lockFile(path string) (unlock func(), err error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CREAT|unix.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("flock %s: %w", path, err)
	}
	return func() {
		unix.Flock(fd, unix.LOCK_UN)
		unix.Close(fd)
	}, nil
}

// readFile is open+read+close with 128 KiB reads (cat's size).
func readFile(path string, buf []byte) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	n, err := readAll(fd, buf, nil)
	unix.Close(fd)
	return n, err
}

// readBytes reads a whole file.
func readBytes(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	var out []byte
	_, err = readAll(fd, make([]byte, 128<<10), &out)
	return out, err
}
