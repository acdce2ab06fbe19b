package main

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Series is one measured quantity of one system in one case: every raw
// sample, in its unit (nanoseconds for latencies).
type Series struct {
	Case   string    `json:"case"`
	Metric string    `json:"metric"`
	System string    `json:"system"`
	Unit   string    `json:"unit"`
	Raw    []float64 `json:"raw"`
	P50    float64   `json:"p50"`
	P99    float64   `json:"p99"`
	Mean   float64   `json:"mean"`
	Min    float64   `json:"min"`
	Max    float64   `json:"max"`
	N      int       `json:"n"`
	Note   string    `json:"note,omitempty"`
}

// Value is a single measured number (an RSS, a count, a throughput).
type Value struct {
	Case   string  `json:"case"`
	Metric string  `json:"metric"`
	System string  `json:"system"`
	Unit   string  `json:"unit"`
	Value  float64 `json:"value"`
	Note   string  `json:"note,omitempty"`
}

// summarize fills the order statistics of s from its raw samples.
func (s *Series) summarize() {
	s.N = len(s.Raw)
	if s.N == 0 {
		return
	}
	v := append([]float64(nil), s.Raw...)
	sort.Float64s(v)
	sum := 0.0
	for _, x := range v {
		sum += x
	}
	s.Mean = sum / float64(len(v))
	s.Min, s.Max = v[0], v[len(v)-1]
	s.P50 = percentile(v, 50)
	s.P99 = percentile(v, 99)
}

// percentile is the nearest-rank percentile of sorted values.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	if rank < 1 {
		rank = 1
	}
	if rank > len(sorted) {
		rank = len(sorted)
	}
	return sorted[rank-1]
}

// durations converts nanosecond samples.
func nanos(ds []time.Duration) []float64 {
	out := make([]float64, len(ds))
	for i, d := range ds {
		out[i] = float64(d.Nanoseconds())
	}
	return out
}

// fmtNs prints nanoseconds with a readable unit.
func fmtNs(ns float64) string {
	switch {
	case math.IsNaN(ns):
		return "-"
	case ns < 1e3:
		return fmt.Sprintf("%.0f ns", ns)
	case ns < 1e6:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	case ns < 1e9:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	default:
		return fmt.Sprintf("%.2f s", ns/1e9)
	}
}

// fmtVal prints a value in its unit.
func fmtVal(v float64, unit string) string {
	switch unit {
	case "ns":
		return fmtNs(v)
	case "MiB/s":
		return fmt.Sprintf("%.0f MiB/s", v)
	case "ops/s":
		return fmt.Sprintf("%.0f/s", v)
	case "MiB":
		return fmt.Sprintf("%.1f MiB", v)
	case "":
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.2f %s", v, unit)
	}
}
