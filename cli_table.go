package main

import (
	"io"
	"strings"
	"unicode/utf8"
)

// table aligns rows of columns for a terminal, two spaces apart; the last
// column is never padded. Empty columns shared by every row are left out.
// Colours are applied after padding, so escape sequences never skew the
// widths.
type table struct {
	rows   [][]string
	colors [][]string // per cell: an SGR sequence or ""
}

func (t *table) add(cells []string, colors []string) {
	t.rows = append(t.rows, cells)
	t.colors = append(t.colors, colors)
}

// widths returns each column's width, -1 for a column empty in every row.
func (t *table) widths() []int {
	n := 0
	for _, r := range t.rows {
		n = max(n, len(r))
	}
	w := make([]int, n)
	for i := range w {
		w[i] = -1
	}
	for _, r := range t.rows {
		for i, c := range r {
			if c != "" {
				w[i] = max(w[i], utf8.RuneCountInString(c))
			}
		}
	}
	return w
}

// write prints the rows with color on or off, widening the columns to at
// least min (which it updates, so that a followed stream stays aligned).
func (t *table) write(out io.Writer, color bool, min []int) []int {
	w := t.widths()
	for i := range w {
		if i < len(min) && min[i] > w[i] {
			w[i] = min[i]
		}
	}
	for ri, r := range t.rows {
		var b strings.Builder
		last := -1
		for i := range r {
			if w[i] >= 0 {
				last = i
			}
		}
		first := true
		for i, c := range r {
			if w[i] < 0 {
				continue
			}
			if !first {
				b.WriteString("  ")
			}
			first = false
			var sgr string
			if t.colors[ri] != nil && i < len(t.colors[ri]) {
				sgr = t.colors[ri][i]
			}
			b.WriteString(paint(color, sgr, c))
			if i != last {
				b.WriteString(strings.Repeat(" ", w[i]-utf8.RuneCountInString(c)))
			}
		}
		io.WriteString(out, strings.TrimRight(b.String(), " ")+"\n")
	}
	t.rows, t.colors = t.rows[:0], t.colors[:0]
	return w
}
