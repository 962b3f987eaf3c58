package soak

import (
	"fmt"
	"slices"
	"time"
)

// series says how one measure is judged: it is flat when the median of the
// last third of the judged samples is at most the median of the first
// third times 1+rel, plus abs. Medians of thirds, not single readings, so
// that a garbage collection or a burst of reconnects does not decide.
type series struct {
	name     string
	unit     string
	rel, abs float64
	value    func(Sample) float64
}

func measures() []series {
	return []series{
		{"RSS", "MiB", 0.10, 4, func(s Sample) float64 { return float64(s.RSSKiB) / 1024 }},
		{"goroutines", "", 0.05, 10, func(s Sample) float64 { return float64(s.Goroutines) }},
		{"open fds", "", 0.05, 10, func(s Sample) float64 { return float64(s.FDs) }},
	}
}

// verdict is one series' judgement.
type verdict struct {
	series
	first, last, slope float64 // medians of the thirds; least-squares growth per minute
	n                  int
	flat               bool
}

func (v verdict) String() string {
	word := "flat"
	if !v.flat {
		word = "GROWING"
	}
	if v.n < 3 {
		return fmt.Sprintf("%s: not judged (%d samples after the warm-up; need 3)", v.name, v.n)
	}
	return fmt.Sprintf("%s: %s after the warm-up (%d samples): first-third median %.1f%s, last-third %.1f%s, trend %+.2f%s/min (bound +%.0f%% +%.0f%s)",
		v.name, word, v.n, v.first, v.unit, v.last, v.unit, v.slope, v.unit, 100*v.rel, v.abs, v.unit)
}

// judge judges every series over the samples taken after warmup.
func judge(samples []Sample, warmup time.Duration) []verdict {
	var judged []Sample
	for _, s := range samples {
		if s.At >= warmup {
			judged = append(judged, s)
		}
	}
	var out []verdict
	for _, m := range measures() {
		v := verdict{series: m, n: len(judged), flat: true}
		if len(judged) >= 3 {
			third := len(judged) / 3
			v.first = median(judged[:third], m.value)
			v.last = median(judged[len(judged)-third:], m.value)
			v.slope = slope(judged, m.value)
			v.flat = v.last <= v.first*(1+m.rel)+m.abs
		}
		out = append(out, v)
	}
	return out
}

func median(s []Sample, f func(Sample) float64) float64 {
	vs := make([]float64, len(s))
	for i, x := range s {
		vs[i] = f(x)
	}
	slices.Sort(vs)
	return vs[(len(vs)-1)/2] // the lower middle: one late spike does not decide
}

// slope is the least-squares growth of f per minute.
func slope(s []Sample, f func(Sample) float64) float64 {
	var n, sx, sy, sxx, sxy float64
	for _, x := range s {
		t, y := x.At.Minutes(), f(x)
		n, sx, sy, sxx, sxy = n+1, sx+t, sy+y, sxx+t*t, sxy+t*y
	}
	d := n*sxx - sx*sx
	if d == 0 {
		return 0
	}
	return (n*sxy - sx*sy) / d
}
