package upstream

import (
	"math"
	"testing"
	"time"
)

func TestPeakEWMAObserve(t *testing.T) {
	const tau = float64(10 * time.Second)
	ms := func(v float64) float64 { return v * float64(time.Millisecond) }
	type obs struct {
		after   time.Duration // time since the previous observation
		rtt     float64
		penalty float64 // > 0: a failed attempt
	}
	tests := []struct {
		name string
		obs  []obs
		want float64
	}{
		{"first sample is adopted", []obs{{0, ms(100), 0}}, ms(100)},
		{"first sample of zero", []obs{{time.Second, 0, 0}}, 0},
		{"spike is adopted at once", []obs{{0, ms(100), 0}, {time.Second, ms(300), 0}}, ms(300)},
		{"improvement after tau weighs 1-1/e", []obs{{0, ms(300), 0}, {10 * time.Second, ms(100), 0}},
			ms(300)*math.Exp(-1) + ms(100)*(1-math.Exp(-1))},
		{"improvement with no time passed is ignored", []obs{{0, ms(300), 0}, {0, ms(100), 0}}, ms(300)},
		{"long quiet then sample nearly replaces", []obs{{0, ms(300), 0}, {time.Hour, ms(10), 0}}, ms(10)},
		{"fast failure after tau weighs the penalty 1-1/e", []obs{{0, ms(100), 0}, {10 * time.Second, ms(1), ms(1000)}},
			ms(100)*math.Exp(-1) + ms(1000)*(1-math.Exp(-1))},
		{"fast failure with no time passed holds the cost", []obs{{0, ms(100), 0}, {0, ms(1), ms(1000)}}, ms(100)},
		{"slow failure adopts its latency as a peak", []obs{{0, ms(100), 0}, {time.Second, ms(500), ms(1000)}}, ms(500)},
		{"failure above the penalty is adopted", []obs{{0, ms(100), 0}, {time.Second, ms(2000), ms(1000)}}, ms(2000)},
		{"first sample as a failure costs the penalty", []obs{{0, ms(7), ms(1000)}}, ms(1000)},
		{"failures in a row approach the penalty", []obs{{0, ms(10), 0}, {time.Minute, ms(1), ms(1000)}}, ms(1000)*(1-math.Exp(-6)) + ms(10)*math.Exp(-6)},
		{"a sample stamped before the last one only adds peaks", []obs{{0, ms(100), 0}, {-5 * time.Second, ms(50), 0}}, ms(100)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e peakEWMA
			e.init()
			var now int64 = 1000
			for _, o := range tt.obs {
				now += int64(o.after)
				e.observe(now, o.rtt, tau, o.penalty)
			}
			got, sampled := e.at(now, tau)
			if !sampled {
				t.Fatal("sampled = false after observations")
			}
			if math.Abs(got-tt.want) > 1e-6*max(1, tt.want) {
				t.Errorf("cost = %.6gms, want %.6gms", got/1e6, tt.want/1e6)
			}
		})
	}
}

func TestPeakEWMADecaysBetweenSamples(t *testing.T) {
	const tau = float64(10 * time.Second)
	var e peakEWMA
	e.init()
	if _, sampled := e.at(0, tau); sampled {
		t.Fatal("new EWMA reports sampled")
	}
	e.observe(0, 200e6, tau, 0)
	tests := []struct {
		at   time.Duration
		want float64
	}{
		{0, 200e6},
		{-time.Second, 200e6}, // a reading before the stamp does not grow the cost
		{10 * time.Second, 200e6 * math.Exp(-1)},
		{30 * time.Second, 200e6 * math.Exp(-3)},
	}
	for _, tt := range tests {
		got, _ := e.at(int64(tt.at), tau)
		if math.Abs(got-tt.want) > 1e-3 {
			t.Errorf("at(%s) = %g, want %g", tt.at, got, tt.want)
		}
	}
}
