package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// yamlDoc is a valid YAML mapping of exactly size bytes (size >= 128)
// with a top-level revision field: a project-state-like document padded
// by a trailing comment.
func yamlDoc(size int, rev int64, seed int) []byte {
	var b bytes.Buffer
	b.Grow(size)
	fmt.Fprintf(&b, "revision: %d\nproject: bench-%d\nphase:\n  id: phase_3\n  progress: %d%%\nitems:\n", rev, seed, rev%100)
	for i := 0; ; i++ {
		item := fmt.Sprintf("  - id: %d\n    text: \"item %d of file %d, a line of realistic state\"\n", i, i, seed)
		if b.Len()+len(item) > size-16 {
			break
		}
		b.WriteString(item)
	}
	pad := size - b.Len() - 3 // "# " and "\n"
	b.WriteString("# ")
	b.Write(bytes.Repeat([]byte{'x'}, pad))
	b.WriteByte('\n')
	return b.Bytes()
}

// mdDoc is a Markdown file of exactly size bytes.
func mdDoc(size int, seed int) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Note %d\n\n", seed)
	for b.Len() < size {
		b.WriteString("Some prose about the state of the project, as agents write it. ")
	}
	out := b.Bytes()[:size]
	out[size-1] = '\n'
	return out
}

// counterDoc is the file the contended case increments.
func counterDoc(rev, count int64) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "revision: %d\ncount: %d\n", rev, count)
	b.WriteString("notes: \"" + string(bytes.Repeat([]byte{'n'}, 3000)) + "\"\n")
	return b.Bytes()
}

// writeTree creates dirs directories of files managed files each under
// root (d000/f0000.yaml ...): seven in ten YAML, the others Markdown,
// each about size bytes.
func writeTree(root string, dirs, files, size int) error {
	for d := 0; d < dirs; d++ {
		dir := filepath.Join(root, fmt.Sprintf("d%03d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for f := 0; f < files; f++ {
			seed := d*files + f
			var name string
			var data []byte
			if f%10 < 7 {
				name, data = fmt.Sprintf("f%04d.yaml", f), yamlDoc(size, 0, seed)
			} else {
				name, data = fmt.Sprintf("f%04d.md", f), mdDoc(size, seed)
			}
			if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}
