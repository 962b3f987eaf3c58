package loadgen

import (
	"context"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// openGrace is how long after the window's end a request due in it may
// still be answered and count; one not answered by then counts as missed.
const openGrace = 2 * time.Second

// Open sends r at rate requests a second over conns connections by
// Schedule, for warmup and then window. The requests due in the window
// count, each timed from its due time; a connection that falls behind
// sends its next request at once, so a slow answer delays (and is charged
// to) every request queued behind it, as a real client's would be.
func Open(ctx context.Context, r Request, rate float64, conns int, warmup, window time.Duration, mark Mark) (Result, error) {
	s := NewSchedule(time.Now().Add(10*time.Millisecond), rate, conns)
	from := s.Start.Add(warmup)
	to := from.Add(window)
	workers := make([]worker, conns)
	var wg sync.WaitGroup
	for i := range workers {
		c, err := client(r.URL)
		if err != nil {
			return Result{}, err
		}
		workers[i].planned = uint64(s.Count(i, from, to))
		wg.Go(func() { openWorker(ctx, c, r, s, i, from, to, &workers[i]) })
	}
	err := sleepCtx(ctx, time.Until(from))
	if err == nil {
		mark(true)
		err = sleepCtx(ctx, time.Until(to))
		mark(false)
	}
	wg.Wait()
	res := Result{From: "intended", Elapsed: window}.tally(workers)
	return res, err
}

// openWorker sends connection w's share of the schedule.
func openWorker(ctx context.Context, c *fasthttp.HostClient, r Request, s Schedule, w int, from, to time.Time, t *worker) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	defer c.CloseIdleConnections()
	r.prepare(req)
	giveUp := to.Add(openGrace)
	for k := 0; ctx.Err() == nil; k++ {
		due := s.At(w, k)
		if !due.Before(to) {
			return
		}
		waitUntil(due) // at most Conns×Period
		if time.Now().After(giveUp) {
			return
		}
		err := c.Do(req, resp)
		d := time.Since(due)
		if due.Before(from) {
			continue
		}
		t.count(err, resp.StatusCode(), d)
		t.inWindowAnswer++
	}
}
