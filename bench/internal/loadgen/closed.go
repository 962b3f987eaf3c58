package loadgen

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"gateway/bench/internal/hist"
)

// Phases of a run.
const (
	warming int32 = iota
	measuring
	stopping
)

// Mark is called at the start (true) and the end (false) of the
// measurement window, for the caller to sample the target's CPU at the
// same instants as the counts.
type Mark func(start bool)

// worker is one connection's tally.
type worker struct {
	h                       hist.H
	answered, non2xx, errs  uint64
	planned, inWindowAnswer uint64 // open loop
}

// Closed runs conns connections, each sending r again as soon as the last
// answer is in, for warmup and then window. Requests answered during the
// window count; latency is from send to answer.
func Closed(ctx context.Context, r Request, conns int, warmup, window time.Duration, mark Mark) (Result, error) {
	var phase atomic.Int32
	workers := make([]worker, conns)
	var wg sync.WaitGroup
	for i := range workers {
		c, err := client(r.URL)
		if err != nil {
			return Result{}, err
		}
		wg.Go(func() { closedWorker(ctx, c, r, &phase, &workers[i]) })
	}
	res := Result{From: "send"}
	err := sleepCtx(ctx, warmup)
	if err == nil {
		mark(true)
		t0 := time.Now()
		phase.Store(measuring)
		err = sleepCtx(ctx, window)
		phase.Store(stopping)
		res.Elapsed = time.Since(t0)
		mark(false)
	}
	phase.Store(stopping)
	wg.Wait()
	return res.tally(workers), err
}

// closedWorker sends back to back until the run stops.
func closedWorker(ctx context.Context, c *fasthttp.HostClient, r Request, phase *atomic.Int32, w *worker) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	defer c.CloseIdleConnections()
	r.prepare(req)
	for phase.Load() != stopping && ctx.Err() == nil {
		start := time.Now()
		err := c.Do(req, resp)
		d := time.Since(start)
		if phase.Load() != measuring {
			continue
		}
		w.count(err, resp.StatusCode(), d)
	}
}

// count tallies one exchange.
func (w *worker) count(err error, status int, d time.Duration) {
	non2xx, failed := outcome(err, status)
	switch {
	case failed:
		w.errs++
		return
	case non2xx:
		w.non2xx++
	}
	w.answered++
	w.h.Record(d)
}

// tally sums the workers into r.
func (r Result) tally(workers []worker) Result {
	var h hist.H
	for i := range workers {
		w := &workers[i]
		h.Merge(&w.h)
		r.Requests += w.answered
		r.Non2xx += w.non2xx
		r.Errors += w.errs
		if w.planned > w.inWindowAnswer {
			r.Missed += w.planned - w.inWindowAnswer
		}
	}
	r.Latency = FromHist(&h)
	return r
}

// sleepCtx sleeps d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
