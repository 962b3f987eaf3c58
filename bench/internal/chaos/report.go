package chaos

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"gateway/bench/internal/report"
)

// Markdown writes the run's tables: one row per fault, the totals, and the
// WebSockets of the killed upstream.
func (res *Result) Markdown(w io.Writer) {
	t := report.Table{
		Title:  "Chaos: faults on upstream b under mixed traffic (times from the fault's start; recover from its end)",
		Header: []string{"fault", "what", "b in use", "breaker open", "traffic off b", "recover", "GETs", "GETs failed", "after eject", "after eject, on a", "failures", "POSTs failed", "WS on b closed", "SSE ended"},
		Right:  []bool{false, false, false, true, true, true, true, true, true, true, false, true, false, true},
	}
	for _, p := range res.Phases {
		t.Rows = append(t.Rows, []string{
			p.Name, p.What, fmt.Sprint(p.InUse), since(p.Start, p.BreakerOpen), since(p.Start, p.OffB), since(p.Heal, p.Recovered),
			fmt.Sprint(p.Gets), fmt.Sprint(p.GetsFailed), fmt.Sprint(p.FailedAfterEject), fmt.Sprint(p.FailedOnA),
			counts(p.Failures), fmt.Sprint(p.PostsFailed), codes(p.WSClosed), fmt.Sprint(p.SSEEnded),
		})
	}
	_ = t.Markdown(w)
	fmt.Fprintln(w, "recover \"never\": b answered no GET within -recover-wait of the fault's end; the harness then re-added it (SIGHUP, new base path) so that the next fault met it in rotation. \"b in use\": b answered a GET in the second before the fault.")
	fmt.Fprintln(w)
	ratio := 0.0
	if res.Gets > 0 {
		ratio = 100 * float64(res.GetsFailed) / float64(res.Gets)
	}
	_ = report.Table{
		Title:  fmt.Sprintf("Totals over %v", res.Duration.Round(time.Second)),
		Header: []string{"measure", "value"},
		Right:  []bool{false, true},
		Rows: [][]string{
			{"GETs failed", fmt.Sprintf("%d of %d (%.3f%%)", res.GetsFailed, res.Gets, ratio)},
			{"POSTs failed (not retried by design)", fmt.Sprintf("%d of %d", res.PostsFailed, res.Posts)},
			{"POSTs an upstream received twice", fmt.Sprint(len(res.PostDuplicates))},
			{"POSTs answered 2xx that no upstream received", fmt.Sprint(res.PostsAnsweredNotLogged)},
			{"answers carrying another request's id", fmt.Sprint(res.Mismatches)},
			{"SSE streams ended and reopened", fmt.Sprint(res.SSEEnded)},
			{"SSE reopen attempts refused", fmt.Sprint(res.SSEReopenFailed)},
		},
	}.Markdown(w)
	ws := report.Table{
		Title:  "WebSockets open on b when it was killed",
		Header: []string{"close code", "closed after", "reopened", "reopen took"},
		Right:  []bool{true, true, false, true},
	}
	for _, e := range res.WSOnKilled {
		reopen := dur(e.ReopenAfter)
		if !e.Reopened {
			reopen = "failed: " + e.ReopenErr
		}
		ws.Rows = append(ws.Rows, []string{fmt.Sprint(e.CloseCode), dur(e.ClosedAfter), fmt.Sprint(e.Reopened), reopen})
	}
	_ = ws.Markdown(w)
}

// since formats b−a, or "never" when b is zero.
func since(a, b time.Time) string {
	if b.IsZero() {
		return "never"
	}
	return dur(b.Sub(a))
}

func dur(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// counts formats a tally as "502×3 504×1".
func counts(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s×%d ", k, m[k])
	}
	if b.Len() == 0 {
		return "-"
	}
	return strings.TrimSpace(b.String())
}

// codes formats close codes as counts.
func codes(m map[int]int) string {
	s := map[string]int{}
	for k, v := range m {
		s[fmt.Sprint(k)] = v
	}
	return counts(s)
}
