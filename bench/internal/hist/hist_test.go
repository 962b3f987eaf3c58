package hist

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestQuantileExactSmall(t *testing.T) {
	var h H
	for v := 1; v <= 100; v++ { // 1..100 ns, all in exact buckets
		h.Record(time.Duration(v))
	}
	tests := []struct {
		q    float64
		want time.Duration
	}{
		{0, 1}, {0.01, 1}, {0.5, 50}, {0.505, 51}, {0.9, 90}, {0.99, 99}, {0.999, 100}, {1, 100},
	}
	for _, tt := range tests {
		if got := h.Quantile(tt.q); got != tt.want {
			t.Errorf("Quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
	if h.Count() != 100 || h.Max() != 100 || h.Mean() != 50 {
		t.Errorf("count %d max %v mean %v", h.Count(), h.Max(), h.Mean())
	}
}

// Against a sorted sample, every quantile is within the bucket width.
func TestQuantileRelativeError(t *testing.T) {
	tests := []struct {
		name string
		gen  func(r *rand.Rand) time.Duration
	}{
		{"uniform µs", func(r *rand.Rand) time.Duration { return time.Duration(r.Int64N(int64(10 * time.Millisecond))) }},
		{"exponential", func(r *rand.Rand) time.Duration { return time.Duration(r.ExpFloat64() * float64(300*time.Microsecond)) }},
		{"seconds", func(r *rand.Rand) time.Duration { return time.Second + time.Duration(r.Int64N(int64(time.Minute))) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var h H
			var all []time.Duration
			for range 100_000 {
				d := tt.gen(r)
				h.Record(d)
				all = append(all, d)
			}
			slices.Sort(all)
			for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
				rank := int(float64(len(all))*q+0.999999) - 1
				want := all[max(rank, 0)]
				got := h.Quantile(q)
				if diff := float64(got-want) / float64(want); diff > 1.0/128 || diff < -1.0/128 {
					t.Errorf("q%v: got %v, exact %v (%.2f%% off)", q, got, want, 100*diff)
				}
			}
		})
	}
}

func TestIndexValueRoundTrip(t *testing.T) {
	for _, v := range []uint64{0, 1, 127, 128, 129, 255, 256, 1000, 123456, 1 << 40, 1<<63 - 1} {
		i := index(v)
		if i < 0 || i >= buckets {
			t.Fatalf("index(%d) = %d out of range", v, i)
		}
		mid := value(i)
		if d := float64(mid) - float64(v); d > float64(v)/128+1 || -d > float64(v)/128+1 {
			t.Errorf("value(index(%d)) = %d, too far", v, mid)
		}
	}
	for i := 1; i < buckets; i++ {
		if value(i) <= value(i-1) {
			t.Fatalf("bucket %d not above %d: %d ≤ %d", i, i-1, value(i), value(i-1))
		}
	}
}

func TestMergeAndEmpty(t *testing.T) {
	var a, b, empty H
	if empty.Quantile(0.99) != 0 || empty.Mean() != 0 {
		t.Error("empty histogram not zero")
	}
	a.Record(10 * time.Microsecond)
	b.Record(-5)
	b.Record(time.Millisecond)
	a.Merge(&b)
	a.Merge(&empty)
	if a.Count() != 3 || a.Quantile(0) != 0 || a.Max() != time.Millisecond {
		t.Errorf("merged: count %d min %v max %v", a.Count(), a.Quantile(0), a.Max())
	}
}
