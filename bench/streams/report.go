package main

import (
	"fmt"
	"io"
	"time"
)

// report is one run's results.
type report struct {
	cfg            config
	mode, target   string
	opened, failed int
	firstErr       error
	openTime       time.Duration
	dropped        int64
	before, after  procSample
	peakRSS        int64 // KiB, sampled each second in the window
	window         time.Duration
	cpu            time.Duration // target CPU over the window
	delays         []int64       // histogram counts
	messages       int64         // received in the window
}

func (r *report) print(w io.Writer) {
	c := r.cfg
	fmt.Fprintf(w, "\n%s via %s: %d connections held (opened %d in %v, failed %d, dropped %d), %.3g msg/s each\n",
		r.mode, r.target, r.opened, r.opened, r.openTime.Round(time.Millisecond), r.failed, r.dropped, c.rate)
	if r.firstErr != nil {
		fmt.Fprintf(w, "  first failure: %v\n", r.firstErr)
	}
	growth := r.after.rssKiB - r.before.rssKiB
	fmt.Fprintf(w, "  %s RSS: %.1f MiB idle -> %.1f MiB held (peak %.1f MiB): %.2f KiB per connection\n",
		r.target, mib(r.before.rssKiB), mib(r.after.rssKiB), mib(r.peakRSS), float64(growth)/float64(r.opened))
	fmt.Fprintf(w, "  delivery delay: p50 %v  p90 %v  p99 %v  p99.9 %v  max %v  (%d messages in %v, %.0f/s)\n",
		quantile(r.delays, 0.50), quantile(r.delays, 0.90), quantile(r.delays, 0.99), quantile(r.delays, 0.999),
		quantile(r.delays, 1), r.messages, r.window.Round(time.Millisecond), float64(r.messages)/r.window.Seconds())
	perMsg := time.Duration(0)
	if r.messages > 0 {
		perMsg = r.cpu / time.Duration(r.messages)
	}
	fmt.Fprintf(w, "  %s CPU: %v over the window (%.1f%% of one core): %v per message\n",
		r.target, r.cpu, 100*r.cpu.Seconds()/r.window.Seconds(), perMsg)
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
