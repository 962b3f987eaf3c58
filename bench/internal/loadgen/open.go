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

// backlog is how many due requests a connection may have queued; beyond
// it the pacer drops them, and they count as missed.
const backlog = 1 << 14

// Open sends r at rate requests a second over conns connections by
// Schedule, for warmup and then window. The requests due in the window
// count, each timed from its due time; a connection that falls behind
// sends its next request at once, so a slow answer delays (and is charged
// to) every request queued behind it, as a real client's would be.
//
// One pacer goroutine sleeps until each due time (waitUntil) and hands the
// request to its connection's worker, which waits on a channel, not in a
// system call: a goroutine asleep in a system call keeps its P, and with
// every P so held nothing polls the network until sysmon's 10 ms poll,
// which showed as a 15–20 ms p99 on the upstream hit directly. Give the
// process at least two Ps (GOMAXPROCS ≥ 2) so the workers run while the
// pacer sleeps.
func Open(ctx context.Context, r Request, rate float64, conns int, warmup, window time.Duration, mark Mark) (Result, error) {
	s := NewSchedule(time.Now().Add(10*time.Millisecond), rate, conns)
	from := s.Start.Add(warmup)
	to := from.Add(window)
	workers := make([]worker, conns)
	due := make([]chan time.Time, conns)
	var wg sync.WaitGroup
	for i := range workers {
		c, err := client(r.URL)
		if err != nil {
			return Result{}, err
		}
		workers[i].planned = uint64(s.Count(i, from, to))
		due[i] = make(chan time.Time, backlog)
		wg.Go(func() { openWorker(c, r, due[i], from, to.Add(openGrace), &workers[i]) })
	}
	var marked sync.WaitGroup
	marked.Go(func() {
		if sleepCtx(ctx, time.Until(from)) == nil {
			mark(true)
			_ = sleepCtx(ctx, time.Until(to))
			mark(false)
		}
	})
	pace(ctx, s, to, due)
	marked.Wait()
	wg.Wait()
	return Result{From: "intended", Elapsed: window}.tally(workers), ctx.Err()
}

// pace hands each request due before to, at its due time, to its
// connection, then closes the connections' queues.
func pace(ctx context.Context, s Schedule, to time.Time, due []chan time.Time) {
	defer func() {
		for _, ch := range due {
			close(ch)
		}
	}()
	for i := 0; ctx.Err() == nil; i++ {
		at := s.At(i%s.Conns, i/s.Conns)
		if !at.Before(to) {
			return
		}
		waitUntil(at)
		select {
		case due[i%s.Conns] <- at:
		default: // hopelessly behind: counts as missed
		}
	}
}

// openWorker sends the requests handed to it, one at a time on its
// connection, until its queue closes; after giveUp it only drains it.
func openWorker(c *fasthttp.HostClient, r Request, due <-chan time.Time, from, giveUp time.Time, t *worker) {
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	defer c.CloseIdleConnections()
	r.prepare(req)
	for at := range due {
		if time.Now().After(giveUp) {
			continue
		}
		err := c.Do(req, resp)
		d := time.Since(at)
		if at.Before(from) {
			continue
		}
		t.count(err, resp.StatusCode(), d)
		t.inWindowAnswer++
	}
}
