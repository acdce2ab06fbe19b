package main

import (
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// Target is one bar of issue 5, judged on one run.
type Target struct {
	Name   string  `json:"name"`
	Value  float64 `json:"value"`
	Op     string  `json:"op"` // "<=" or ">="
	Limit  float64 `json:"limit"`
	Unit   string  `json:"unit"` // "x" for ratios
	Pass   bool    `json:"pass"`
	Detail string  `json:"detail"`
}

func (b *Bench) target(name string, value float64, op string, limit float64, unit, detail string) {
	pass := false
	switch op {
	case "<=":
		pass = value <= limit
	case ">=":
		pass = value >= limit
	}
	if math.IsNaN(value) || math.IsInf(value, 0) {
		pass = false
	}
	b.res.Targets = append(b.res.Targets, &Target{Name: name, Value: value, Op: op, Limit: limit, Unit: unit, Pass: pass, Detail: detail})
}

func fmtTarget(v float64, unit string) string {
	switch unit {
	case "x":
		return fmt.Sprintf("%.2f×", v)
	case "ms":
		return fmt.Sprintf("%.1f ms", v)
	case "MiB":
		return fmt.Sprintf("%.1f MiB", v)
	}
	return fmt.Sprintf("%.2f %s", v, unit)
}

func (b *Bench) printTargets() {
	if len(b.res.Targets) == 0 {
		return
	}
	t := &table{title: "Targets (issue 5): a MISS is a finding, not a failure", head: []string{"", "target", "measured", "bar", "detail"}, left: map[int]bool{1: true, 4: true}}
	pass := 0
	for _, x := range b.res.Targets {
		verdict := "MISS"
		if x.Pass {
			verdict = "PASS"
			pass++
		}
		op := map[string]string{"<=": "≤ ", ">=": "≥ "}[x.Op]
		t.rows = append(t.rows, []string{verdict, x.Name, fmtTarget(x.Value, x.Unit), op + fmtTarget(x.Limit, x.Unit), x.Detail})
	}
	t.notes = append(t.notes, fmt.Sprintf("%d of %d targets met", pass, len(b.res.Targets)))
	b.printTable(t)
}

// table is one block of the printed report.
type table struct {
	title string
	left  map[int]bool // left-aligned columns besides the first
	head  []string
	rows  [][]string
	notes []string
}

func (t *table) add(cells ...string) { t.rows = append(t.rows, cells) }

func (b *Bench) printTable(t *table) {
	width := make([]int, len(t.head))
	all := append([][]string{t.head}, t.rows...)
	for _, r := range all {
		for i, c := range r {
			if i < len(width) && utf8.RuneCountInString(c) > width[i] {
				width[i] = utf8.RuneCountInString(c)
			}
		}
	}
	b.printf("\n%s\n", t.title)
	for _, r := range all {
		var sb strings.Builder
		sb.WriteString("  ")
		for i, c := range r {
			pad := strings.Repeat(" ", width[i]-utf8.RuneCountInString(c))
			if i == 0 || t.left[i] {
				sb.WriteString(c + pad)
			} else {
				sb.WriteString(pad + c)
			}
			sb.WriteString("  ")
		}
		b.printf("%s\n", strings.TrimRight(sb.String(), " "))
	}
	for _, n := range t.notes {
		b.printf("  %s\n", n)
	}
}

// ratio is a/b, NaN when b is zero.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

func fmtRatio(r float64) string {
	if math.IsNaN(r) {
		return "-"
	}
	return fmt.Sprintf("%.2f×", r)
}
