package streams

import (
	"errors"
	"fmt"
	"io"
	"time"

	"gateway/bench/internal/proc"
	md "gateway/bench/internal/report"
)

// report is one run's results.
type report struct {
	cfg            Config
	mode, target   string
	opened, failed int
	firstErr       error
	openTime       time.Duration
	dropped        int64
	before, after  proc.Sample
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
	fmt.Fprintf(w, "  %s RSS: %.1f MiB idle -> %.1f MiB held (peak %.1f MiB): %.2f KiB per connection\n",
		r.target, mib(r.before.RSSKiB), mib(r.after.RSSKiB), mib(r.peakRSS), r.perConnKiB())
	fmt.Fprintf(w, "  delivery delay: p50 %v  p90 %v  p99 %v  p99.9 %v  max %v  (%d messages in %v, %.0f/s)\n",
		quantile(r.delays, 0.50), quantile(r.delays, 0.90), quantile(r.delays, 0.99), quantile(r.delays, 0.999),
		quantile(r.delays, 1), r.messages, r.window.Round(time.Millisecond), float64(r.messages)/r.window.Seconds())
	perMsg := r.perMessage()
	fmt.Fprintf(w, "  %s CPU: %v over the window (%.1f%% of one core): %v per message\n",
		r.target, r.cpu, 100*r.cpu.Seconds()/r.window.Seconds(), perMsg)
}

func mib(kib int64) float64 { return float64(kib) / 1024 }

// summary tabulates the runs, one row each.
func summary(reps []*report) md.Table {
	t := md.Table{
		Title:  "Long-lived connections",
		Header: []string{"mode", "target", "held", "KiB/conn", "p50", "p99", "p99.9", "msg/s", "CPU/msg", "failed", "dropped"},
		Right:  []bool{false, false, true, true, true, true, true, true, true, true, true},
	}
	for _, r := range reps {
		t.Rows = append(t.Rows, []string{r.mode, r.target, fmt.Sprint(r.opened), fmt.Sprintf("%.2f", r.perConnKiB()),
			fmt.Sprint(quantile(r.delays, 0.5)), fmt.Sprint(quantile(r.delays, 0.99)), fmt.Sprint(quantile(r.delays, 0.999)),
			fmt.Sprintf("%.0f", float64(r.messages)/r.window.Seconds()), fmt.Sprint(r.perMessage()),
			fmt.Sprint(r.failed), fmt.Sprint(r.dropped)})
	}
	return t
}

// perConnKiB is the proxy's RSS growth per held connection.
func (r *report) perConnKiB() float64 {
	return float64(r.after.RSSKiB-r.before.RSSKiB) / float64(max(r.opened, 1))
}

// perMessage is the proxy's CPU per message over the window.
func (r *report) perMessage() time.Duration {
	if r.messages == 0 {
		return 0
	}
	return r.cpu / time.Duration(r.messages)
}

// smokeCheck fails unless every run held all n connections, lost none and
// delivered messages.
func smokeCheck(reps []*report, n int) error {
	var errs []error
	for _, r := range reps {
		if r.opened != n || r.failed != 0 || r.dropped != 0 || r.messages == 0 {
			errs = append(errs, fmt.Errorf("%s via %s: opened %d of %d, failed %d, dropped %d, %d messages (first failure: %v)",
				r.mode, r.target, r.opened, n, r.failed, r.dropped, r.messages, r.firstErr))
		}
	}
	return errors.Join(errs...)
}
