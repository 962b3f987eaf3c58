// Package mixed drives steady mixed traffic through the gateway for the
// chaos and soak suites: GETs and POSTs at fixed rates (open loop: a slow
// answer does not slow the sending), Server-Sent Events streams and
// WebSocket connections held open and reopened at once when they end. It
// records every outcome with its time and the upstream that answered
// (the X-Upstream header of package faultup) for the suites to judge.
//
// The clients never retry: a failure the gateway lets through is seen.
package mixed

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"gateway/bench/internal/faultup"
)

// Config is the traffic to drive.
type Config struct {
	Base     string  // the gateway, "http://host:port"
	Service  string  // the service the upstreams are configured under
	GetRate  float64 // GETs per second
	PostRate float64 // POSTs per second
	SSE      int     // streams held open
	WS       int     // WebSocket connections held open
	// WSEvery is the interval between a WebSocket's messages.
	WSEvery time.Duration
	// Timeout bounds each GET and POST (the client's own patience).
	Timeout time.Duration
	// RunID prefixes the POST ids, so that runs sharing an id file do not
	// collide.
	RunID string
}

// Request is the outcome of one GET or POST.
type Request struct {
	Post bool
	ID   string // the id sent in faultup.HeaderID
	// Mismatch is set when a 2xx answer carried another request's id.
	Mismatch   bool
	Start, End time.Time
	Status     int    // 0 when no answer came
	Err        string // the transport error, when no answer came
	Upstream   string // the X-Upstream of the answer
}

// OK reports whether the request got a 2xx answer.
func (r Request) OK() bool { return r.Err == "" && r.Status >= 200 && r.Status < 300 }

// Traffic is a running load. Its records are read once Stop returned.
type Traffic struct {
	cfg    Config
	client *fasthttp.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
	seq    atomic.Int64

	mu       sync.Mutex
	requests []Request
	streams  []Stream
	lastOK   map[string]time.Time // by upstream: the latest start of a GET it answered 2xx
	inflight atomic.Int64
}

// Start starts the traffic; it runs until Stop or ctx ends.
func Start(ctx context.Context, cfg Config) *Traffic {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.WSEvery <= 0 {
		cfg.WSEvery = 200 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(ctx)
	t := &Traffic{cfg: cfg, cancel: cancel, lastOK: map[string]time.Time{}, client: &fasthttp.Client{
		MaxConnsPerHost:           1024,
		MaxIdemponentCallAttempts: 1,
		ReadTimeout:               cfg.Timeout,
		WriteTimeout:              cfg.Timeout,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
	}}
	if cfg.GetRate > 0 {
		t.wg.Go(func() { t.pace(ctx, cfg.GetRate, false) })
	}
	if cfg.PostRate > 0 {
		t.wg.Go(func() { t.pace(ctx, cfg.PostRate, true) })
	}
	for i := range cfg.SSE {
		t.wg.Go(func() { t.holdSSE(ctx, i) })
	}
	for i := range cfg.WS {
		t.wg.Go(func() { t.holdWS(ctx, i) })
	}
	return t
}

// Stop ends the traffic and waits for every request and stream to end.
func (t *Traffic) Stop() {
	t.cancel()
	t.wg.Wait()
	t.client.CloseIdleConnections()
}

// Requests returns the GET and POST outcomes, in the order they ended.
func (t *Traffic) Requests() []Request {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Request(nil), t.requests...)
}

// Streams returns the stream events, in the order they happened.
func (t *Traffic) Streams() []Stream {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]Stream(nil), t.streams...)
}

// pace sends a request every 1/rate seconds, each in its own goroutine,
// until ctx ends.
func (t *Traffic) pace(ctx context.Context, rate float64, post bool) {
	every := time.Duration(float64(time.Second) / rate)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.wg.Go(func() { t.record(t.do(post)) })
	}
}

// do sends one GET or POST and returns its outcome.
func (t *Traffic) do(post bool) Request {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	r := Request{Post: post}
	kind := "g"
	if post {
		kind = "p"
	}
	r.ID = fmt.Sprintf("%s-%s%d", t.cfg.RunID, kind, t.seq.Add(1))
	req.Header.Set(faultup.HeaderID, r.ID)
	req.Header.Set("x-request-id", r.ID) // the gateway's access log names it
	if post {
		req.SetRequestURI(t.cfg.Base + "/api/" + t.cfg.Service + faultup.PathPost)
		req.Header.SetMethod(fasthttp.MethodPost)
		req.Header.SetContentType("application/json")
		req.SetBodyString(`{"id":"` + r.ID + `","note":"chaos"}`)
	} else {
		req.SetRequestURI(t.cfg.Base + "/api/" + t.cfg.Service + faultup.PathGet)
	}
	t.inflight.Add(1)
	defer t.inflight.Add(-1)
	r.Start = time.Now()
	err := t.client.DoTimeout(req, resp, t.cfg.Timeout)
	r.End = time.Now()
	if err != nil {
		r.Err = err.Error()
		return r
	}
	r.Status = resp.StatusCode()
	r.Upstream = string(resp.Header.Peek(faultup.HeaderUpstream))
	r.Mismatch = r.OK() && string(resp.Header.Peek(faultup.HeaderID)) != r.ID
	return r
}

func (t *Traffic) record(r Request) {
	t.mu.Lock()
	t.requests = append(t.requests, r)
	if !r.Post && r.OK() && r.Start.After(t.lastOK[r.Upstream]) {
		t.lastOK[r.Upstream] = r.Start
	}
	t.mu.Unlock()
}

// LastOK is the start of the latest GET that upstream answered 2xx (zero
// when none has).
func (t *Traffic) LastOK(upstream string) time.Time {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastOK[upstream]
}

func (t *Traffic) recordStream(s Stream) {
	t.mu.Lock()
	t.streams = append(t.streams, s)
	t.mu.Unlock()
}

// InFlight is the number of GETs and POSTs waiting for an answer now.
func (t *Traffic) InFlight() int64 { return t.inflight.Load() }
