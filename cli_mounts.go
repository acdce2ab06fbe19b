package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/paracfs/paracfs/backing"
)

// fsType is how paracfs mounts show in /proc/self/mountinfo.
const fsType = "fuse.paracfs"

// mountEntry is one paracfs mount from /proc/self/mountinfo.
type mountEntry struct {
	Dir        string // the backing directory (the FUSE source)
	Mountpoint string
}

// paracfsMounts lists the paracfs mounts the kernel knows.
func paracfsMounts() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 0 || sep+2 >= len(fields) || len(fields) < 5 {
			continue
		}
		if fields[sep+1] != fsType {
			continue
		}
		out = append(out, mountEntry{Dir: unescape(fields[sep+2]), Mountpoint: unescape(fields[4])})
	}
	return out, sc.Err()
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// mountAt returns the paracfs mount whose mountpoint is p.
func mountAt(p string) (mountEntry, bool) {
	ms, _ := paracfsMounts()
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Mountpoint == p {
			return ms[i], true
		}
	}
	return mountEntry{}, false
}

// isStale reports a mountpoint whose daemon died ("Transport endpoint is
// not connected").
func isStale(p string) bool {
	var st syscall.Stat_t
	return errors.Is(syscall.Stat(p, &st), syscall.ENOTCONN)
}

// findParac returns the nearest .parac directory at or above the cwd.
func findParac() (string, error) {
	cwd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for dir := cwd; ; dir = filepath.Dir(dir) {
		if filepath.Base(dir) == ".parac" {
			return dir, nil
		}
		cand := filepath.Join(dir, ".parac")
		if st, err := os.Stat(cand); (err == nil && st.IsDir()) || isStale(cand) {
			return cand, nil
		}
		if dir == "/" {
			return "", usageError{fmt.Sprintf("no .parac directory at or above %s: name DIR", cwd)}
		}
	}
}

// dirOperand is DIR, the operand at i made absolute, or the nearest .parac
// when there is none.
func dirOperand(args []string, i int) (string, error) {
	if len(args) <= i {
		return findParac()
	}
	return absDir(args[i])
}

// absDir makes p absolute and clean, with symlinks resolved, so that a
// mount is found whatever path names it, without resolving through a
// mount: the last component is only read as a link (readlink asks nothing
// of a mount's daemon, which may hang), never looked up inside.
func absDir(p string) (string, error) {
	a, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	a = filepath.Clean(a)
	for range 40 {
		if parent, err := filepath.EvalSymlinks(filepath.Dir(a)); err == nil {
			a = filepath.Join(parent, filepath.Base(a))
		}
		target, err := os.Readlink(a)
		if err != nil {
			return a, nil // not a symlink (or missing: the caller says so)
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(a), target)
		}
		a = filepath.Clean(target)
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", p)
}

// daemonState is what a running daemon writes to .paracfs/daemon.json
// (backing.StateFile).
type daemonState struct {
	Pid        int       `json:"pid"`
	Dir        string    `json:"dir"`
	Mountpoint string    `json:"mountpoint"`
	Started    string    `json:"started"`
	Config     anyConfig `json:"config"`
}

type anyConfig map[string]any

func readState(mountpoint string) (daemonState, error) {
	var s daemonState
	b, err := readMeta(mountpoint, backing.MetaDir+"/"+backing.StateFile)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}
