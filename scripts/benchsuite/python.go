package main

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"time"
)

//go:embed paracle_style.py
var paracleStyle []byte

// pyServer is one long-running Python process doing paracle-style saves
// on request, so that interpreter start-up is never timed.
type pyServer struct {
	cmd *exec.Cmd
	in  io.WriteCloser
	out *bufio.Reader
}

func (b *Bench) startPython() (*pyServer, error) {
	cmd := exec.Command(b.cfg.Python, b.pyFile, "serve")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &pyServer{cmd: cmd, in: in, out: bufio.NewReader(out)}, nil
}

type pyAnswer struct {
	LatNs   []int64 `json:"lat_ns"`
	Size    int     `json:"size"`
	StartNs int64   `json:"start_ns"`
	EndNs   int64   `json:"end_ns"`
	Retries int     `json:"retries"`
}

func (p *pyServer) call(cmd map[string]any) (*pyAnswer, error) {
	j, _ := json.Marshal(cmd)
	if _, err := p.in.Write(append(j, '\n')); err != nil {
		return nil, fmt.Errorf("python: %w", err)
	}
	line, err := p.out.ReadBytes('\n')
	if err != nil {
		return nil, fmt.Errorf("python exited: %w", err)
	}
	var a pyAnswer
	if err := json.Unmarshal(line, &a); err != nil {
		return nil, fmt.Errorf("python said %q: %w", line, err)
	}
	return &a, nil
}

func (p *pyServer) close() {
	p.call(map[string]any{"op": "quit"})
	p.in.Close()
	p.cmd.Wait()
}

// pySaver is a contender doing paracle-style saves of path.
func pySaver(p *pyServer, name, path string, fsync bool, size *int) *contender {
	rev := int64(1)
	return &contender{name: name, batch: func(k int) ([]time.Duration, error) {
		a, err := p.call(map[string]any{"op": "commit", "path": path, "n": k, "fsync": fsync, "start": rev})
		if err != nil {
			return nil, err
		}
		rev += int64(k)
		*size = a.Size
		out := make([]time.Duration, len(a.LatNs))
		for i, ns := range a.LatNs {
			out[i] = time.Duration(ns)
		}
		return out, nil
	}}
}
