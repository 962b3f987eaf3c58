package soak

import (
	"testing"
	"time"
)

func TestJudge(t *testing.T) {
	mk := func(rss []int64) []Sample {
		var out []Sample
		for i, r := range rss {
			out = append(out, Sample{At: time.Duration(i) * 10 * time.Second, RSSKiB: r * 1024, Goroutines: 40, FDs: 30})
		}
		return out
	}
	tests := []struct {
		name string
		rss  []int64 // MiB, one sample per 10 s
		flat bool
	}{
		{"flat with noise", []int64{5, 30, 31, 29, 32, 30, 31, 30, 29, 31}, true},
		{"warm-up growth ignored", []int64{5, 20, 30, 30, 30, 30, 31, 30, 30, 30}, true},
		{"steady leak", []int64{30, 30, 32, 34, 36, 38, 40, 42, 44, 46}, false},
		{"one spike at the end is not a trend", []int64{30, 30, 30, 30, 30, 30, 30, 30, 30, 80}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vs := judge(mk(tt.rss), 20*time.Second)
			if vs[0].flat != tt.flat {
				t.Fatalf("RSS flat = %v, want %v: %v", vs[0].flat, tt.flat, vs[0])
			}
			for _, v := range vs[1:] {
				if !v.flat {
					t.Fatalf("%s judged growing: %v", v.name, v)
				}
			}
		})
	}
}

func TestSlope(t *testing.T) {
	s := []Sample{{At: 0, Goroutines: 10}, {At: time.Minute, Goroutines: 20}, {At: 2 * time.Minute, Goroutines: 30}}
	if got := slope(s, func(x Sample) float64 { return float64(x.Goroutines) }); got != 10 {
		t.Fatalf("slope = %v, want 10 per minute", got)
	}
}
