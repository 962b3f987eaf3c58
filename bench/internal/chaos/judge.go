package chaos

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"gateway/bench/internal/mixed"
	"gateway/bench/internal/rig"
)

// Bounds the short mode holds the gateway to.
const (
	maxGetFailRatio = 0.001           // idempotent GETs failed, over the run
	wsCloseBound    = 2 * time.Second // a WebSocket on a killed upstream is closed within
	reconnectBound  = time.Second     // and reopened, first try, within
)

// Result is the judged run.
type Result struct {
	Phases                    []PhaseResult
	Gets, GetsFailed          int
	Posts, PostsFailed        int
	PostDuplicates            []string // ids an upstream saw more than once
	PostsAnsweredNotLogged    int      // 2xx POSTs no upstream logged
	Mismatches                int      // 2xx answers carrying another request's id
	WSOnKilled                []WSEnd  // the WebSockets open on b when it was killed
	SSEEnded, SSEReopenFailed int
	Duration                  time.Duration
}

// PhaseResult is what one fault did.
type PhaseResult struct {
	Phase
	// BreakerOpen is when b's breaker was seen open; OffB when the gateway
	// sent b its last request before the fault ended (zero: it never
	// stopped). Ejected is the earlier: the fault's requests stopped
	// reaching b, through the breaker or through selection's failure
	// penalty.
	BreakerOpen, OffB, Ejected time.Time
	Gets, GetsFailed           int
	// FailedAfterEject counts the GETs started once traffic was off b that
	// failed on b or on no known upstream; FailedOnA those that failed on
	// a (a healthy upstream stalled: a busy machine, not the fault).
	FailedAfterEject, FailedOnA int
	Failures                    map[string]int // by status or error
	PostsFailed                 int
	WSClosed                    map[int]int // close codes of the WebSockets on b that ended in the phase
	SSEEnded                    int
}

// WSEnd is how a WebSocket on the killed upstream ended and came back.
type WSEnd struct {
	CloseCode   int
	ClosedAfter time.Duration // from the SIGKILL
	Reopened    bool          // the next attempt opened
	ReopenAfter time.Duration // from the close to the greeting of the new connection
	ReopenErr   string        // why the next attempt failed
}

// judge turns the records into a Result.
func judge(c Config, r *rig.Rig, phases []Phase, tr *mixed.Traffic, samples []sample) (*Result, error) {
	reqs, streams := tr.Requests(), tr.Streams()
	res := &Result{}
	if len(phases) > 0 {
		res.Duration = phases[len(phases)-1].End.Sub(phases[0].Start)
	}
	met, err := upstreamsMet(r)
	if err != nil {
		return nil, err
	}
	for _, ph := range phases {
		res.Phases = append(res.Phases, judgePhase(ph, reqs, streams, samples, met))
	}
	logged, err := readIDs(r)
	if err != nil {
		return nil, err
	}
	for _, q := range reqs {
		res.count(q, logged)
	}
	for id, n := range logged {
		if n > 1 {
			res.PostDuplicates = append(res.PostDuplicates, id)
		}
	}
	sort.Strings(res.PostDuplicates)
	for _, s := range streams {
		if !s.WS && !s.Opened.IsZero() {
			res.SSEEnded++
		}
		if !s.WS && s.Opened.IsZero() {
			res.SSEReopenFailed++
		}
	}
	if len(phases) > 0 && phases[0].Name == "kill" {
		res.WSOnKilled = wsOnKilled(phases[0].Start, streams)
	}
	return res, nil
}

// count adds one request to the run's totals.
func (res *Result) count(q mixed.Request, logged map[string]int) {
	if q.Mismatch {
		res.Mismatches++
	}
	if !q.Post {
		res.Gets++
		if !q.OK() {
			res.GetsFailed++
		}
		return
	}
	res.Posts++
	if !q.OK() {
		res.PostsFailed++
	} else if logged[q.ID] == 0 {
		res.PostsAnsweredNotLogged++
	}
}

func judgePhase(ph Phase, reqs []mixed.Request, streams []mixed.Stream, samples []sample, met map[string]string) PhaseResult {
	pr := PhaseResult{Phase: ph, Failures: map[string]int{}, WSClosed: map[int]int{}}
	pr.BreakerOpen, pr.OffB = breakerOpen(ph, samples), offB(ph, samples)
	pr.Ejected = earliest(pr.BreakerOpen, pr.OffB)
	for _, q := range reqs {
		if q.Start.Before(ph.Start) || !q.Start.Before(ph.End) {
			continue
		}
		if q.Post {
			if !q.OK() {
				pr.PostsFailed++
			}
			continue
		}
		pr.Gets++
		if q.OK() {
			continue
		}
		pr.GetsFailed++
		pr.Failures[failure(q)]++
		if !pr.Ejected.IsZero() && !q.Start.Before(pr.Ejected) {
			if met[q.ID] == "a" {
				pr.FailedOnA++
			} else {
				pr.FailedAfterEject++
			}
		}
	}
	for _, s := range streams {
		if s.Opened.IsZero() || s.Ended.Before(ph.Start) || !s.Ended.Before(ph.End) {
			continue
		}
		if s.WS && s.Upstream == "b" {
			pr.WSClosed[s.CloseCode]++
		}
		if !s.WS {
			pr.SSEEnded++
		}
	}
	return pr
}

// earliest is the earlier of two times, zero meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

// offB is the first reading during the fault after which b's request
// count did not grow until the fault ended; zero when it grew to the end.
func offB(ph Phase, samples []sample) time.Time {
	var at time.Time
	last := -1.0
	for _, s := range samples {
		if s.at.Before(ph.Start) || s.at.After(ph.Heal) {
			continue
		}
		if s.attempts != last {
			at, last = s.at, s.attempts
		}
	}
	if !at.IsZero() && samplesAfter(samples, at, ph.Heal) < 2 {
		return time.Time{} // grew until the end: never off
	}
	return at
}

// samplesAfter counts the readings in (from, to].
func samplesAfter(samples []sample, from, to time.Time) int {
	n := 0
	for _, s := range samples {
		if s.at.After(from) && !s.at.After(to) {
			n++
		}
	}
	return n
}

// breakerOpen is when b's breaker was first seen open after the fault
// began: its trips counter above the last reading before the fault, or its
// state open.
func breakerOpen(ph Phase, samples []sample) time.Time {
	base := -1.0
	for _, s := range samples {
		if s.at.Before(ph.Start) {
			base = s.trips
			continue
		}
		if s.at.After(ph.End) {
			break
		}
		if s.state == 2 || (base >= 0 && s.trips > base) {
			return s.at
		}
	}
	return time.Time{}
}

// failure names how a request failed.
func failure(q mixed.Request) string {
	if q.Err != "" {
		return "error"
	}
	return fmt.Sprint(q.Status)
}

// wsOnKilled finds the WebSockets open on b at the kill and how each ended
// and came back.
func wsOnKilled(kill time.Time, streams []mixed.Stream) []WSEnd {
	var out []WSEnd
	for i, s := range streams {
		if !s.WS || s.Upstream != "b" || s.Opened.IsZero() || s.Opened.After(kill) || s.Ended.Before(kill) {
			continue
		}
		e := WSEnd{CloseCode: s.CloseCode, ClosedAfter: s.Ended.Sub(kill)}
		for _, n := range streams[i+1:] {
			if n.WS && n.Client == s.Client {
				e.Reopened, e.ReopenErr = !n.Opened.IsZero(), n.Err
				if e.Reopened {
					e.ReopenAfter = n.Opened.Sub(s.Ended)
				}
				break
			}
		}
		out = append(out, e)
	}
	return out
}

// upstreamsMet reads the gateway's access log: for each request id, the
// name of the upstream its last attempt went to ("" when none).
func upstreamsMet(r *rig.Rig) (map[string]string, error) {
	f, err := os.Open(r.GatewayLog())
	if err != nil {
		return nil, fmt.Errorf("reading the gateway's access log: %w", err)
	}
	defer f.Close()
	names := map[string]string{}
	for _, u := range r.Upstreams {
		names[u.Proxy.Addr()] = u.Name
	}
	met := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg       string `json:"msg"`
			RequestID string `json:"requestId"`
			Upstream  string `json:"upstream"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Msg != "request" {
			continue
		}
		for addr, name := range names {
			if strings.Contains(line.Upstream, addr) {
				met[line.RequestID] = name
			}
		}
	}
	return met, sc.Err()
}

// readIDs counts the POST ids every upstream logged, over all its
// incarnations.
func readIDs(r *rig.Rig) (map[string]int, error) {
	n := map[string]int{}
	for _, u := range r.Upstreams {
		f, err := os.Open(u.IDs)
		if err != nil {
			return nil, fmt.Errorf("reading the POST ids of upstream %s: %w", u.Name, err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			n[sc.Text()]++
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Broken is one bound the run broke.
type Broken struct {
	Bound string // its name, as -xfail takes it
	What  string
}

func (b Broken) String() string { return b.Bound + ": " + b.What }

// boundNames are the names of the bounds, for -xfail.
var boundNames = []string{"get-after-eject", "get-ratio", "post-duplicate", "post-unlogged", "mismatch", "ws-close", "ws-reopen", "ws-unchecked"}

// Broken lists every bound the run broke.
func (res *Result) Broken() []Broken {
	var out []Broken
	add := func(bound, format string, args ...any) {
		out = append(out, Broken{bound, fmt.Sprintf(format, args...)})
	}
	for _, p := range res.Phases {
		if p.FailedAfterEject > 0 {
			add("get-after-eject", "fault %s: %d GETs failed after traffic was off b", p.Name, p.FailedAfterEject)
		}
	}
	if res.Gets == 0 {
		add("get-ratio", "no GET was sent")
	} else if ratio := float64(res.GetsFailed) / float64(res.Gets); ratio > maxGetFailRatio {
		add("get-ratio", "%d of %d GETs failed (%.3f%%, bound %.1f%%)", res.GetsFailed, res.Gets, 100*ratio, 100*maxGetFailRatio)
	}
	if len(res.PostDuplicates) > 0 {
		add("post-duplicate", "%d POSTs reached an upstream more than once (e.g. %s)", len(res.PostDuplicates), res.PostDuplicates[0])
	}
	if res.PostsAnsweredNotLogged > 0 {
		add("post-unlogged", "%d POSTs answered 2xx that no upstream received", res.PostsAnsweredNotLogged)
	}
	if res.Mismatches > 0 {
		add("mismatch", "%d answers carried another request's id", res.Mismatches)
	}
	if len(res.Phases) > 0 && res.Phases[0].Name == "kill" && len(res.WSOnKilled) == 0 {
		add("ws-unchecked", "no WebSocket was open on b when it was killed")
	}
	for _, e := range res.WSOnKilled {
		if (e.CloseCode != 1001 && e.CloseCode != 1011) || e.ClosedAfter > wsCloseBound {
			add("ws-close", "WebSocket on the killed upstream closed with %d after %v (want 1001 or 1011 within %v)",
				e.CloseCode, e.ClosedAfter.Round(time.Millisecond), wsCloseBound)
		}
		if !e.Reopened || e.ReopenAfter > reconnectBound {
			add("ws-reopen", "WebSocket on the killed upstream: the reconnect at once %s (want open at the first try within %v)",
				reopenText(e), reconnectBound)
		}
	}
	return out
}

func reopenText(e WSEnd) string {
	if !e.Reopened {
		return "was refused: " + e.ReopenErr
	}
	return "took " + e.ReopenAfter.Round(time.Millisecond).String()
}
