package httpsuite

import (
	"slices"
	"time"
)

// Summary is one target's figures for one scenario and load: the median
// of each over the rounds (each figure's own median, so a row need not be
// one round), errors summed.
type Summary struct {
	Scenario   string  `json:"scenario"`
	Load       string  `json:"load"`
	Target     string  `json:"target"`
	Rounds     int     `json:"rounds"`
	RPS        float64 `json:"rps"`
	P50        float64 `json:"p50Ms"`
	P99        float64 `json:"p99Ms"`
	P999       float64 `json:"p999Ms"`
	CPUPerReq  float64 `json:"cpuUsPerReq"`
	CPUMin     float64 `json:"cpuUsPerReqMin"`
	CPUMax     float64 `json:"cpuUsPerReqMax"`
	UserPerReq float64 `json:"userUsPerReq"`
	SysPerReq  float64 `json:"sysUsPerReq"`
	CPUCores   float64 `json:"cpuCores"`
	PeakRSSMiB float64 `json:"peakRssMiB"`
	Failures   uint64  `json:"failures"` // non-2xx, errors and missed, all rounds
	// VsNginx is CPUPerReq ÷ nginx's in the same scenario and load; 0
	// without nginx.
	VsNginx float64 `json:"cpuVsNginx"`
}

// summaries groups rounds by scenario, load and target, in the order
// first seen, and takes the medians.
func summaries(rounds []Round) []Summary {
	type key struct{ scenario, load, target string }
	var order []key
	groups := map[key][]Round{}
	for _, r := range rounds {
		k := key{r.Scenario, r.Load, r.Target}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	var out []Summary
	for _, k := range order {
		out = append(out, summarize1(groups[k]))
	}
	for i := range out {
		for _, n := range out {
			if n.Target == "nginx" && n.Scenario == out[i].Scenario && n.Load == out[i].Load && n.CPUPerReq > 0 {
				out[i].VsNginx = out[i].CPUPerReq / n.CPUPerReq
			}
		}
	}
	return out
}

// summarize1 takes the medians of one group of rounds.
func summarize1(rs []Round) Summary {
	col := func(f func(Round) float64) []float64 {
		out := make([]float64, len(rs))
		for i, r := range rs {
			out[i] = f(r)
		}
		return out
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	cpu := col(func(r Round) float64 { return r.CPUPerReq })
	s := Summary{
		Scenario: rs[0].Scenario, Load: rs[0].Load, Target: rs[0].Target, Rounds: len(rs),
		RPS:        median(col(func(r Round) float64 { return r.RPS })),
		P50:        median(col(func(r Round) float64 { return ms(r.Result.Latency.P50) })),
		P99:        median(col(func(r Round) float64 { return ms(r.Result.Latency.P99) })),
		P999:       median(col(func(r Round) float64 { return ms(r.Result.Latency.P999) })),
		CPUPerReq:  median(cpu),
		CPUMin:     slices.Min(cpu),
		CPUMax:     slices.Max(cpu),
		UserPerReq: median(col(func(r Round) float64 { return r.UserPerReq })),
		SysPerReq:  median(col(func(r Round) float64 { return r.SysPerReq })),
		CPUCores:   median(col(func(r Round) float64 { return r.CPUCores })),
		PeakRSSMiB: median(col(func(r Round) float64 { return float64(r.PeakRSSKiB) / 1024 })),
	}
	for _, r := range rs {
		s.Failures += r.Result.Failures()
	}
	return s
}

// median is the middle value of xs (the mean of the two middle ones for
// an even count); 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}
