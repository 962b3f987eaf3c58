package streams

import (
	"context"
	"sync"
	"time"
)

// spread drains the n entries of all for reason, the i-th (from 0) at
// start + i×window/n: evenly over the window, the first at once and the
// last one step before its end, so the window's end leaves room for the
// last close handshake. A window of 0 drains all at once. The drains run
// on at most workers goroutines; when they are all busy (peers slow to take
// a close frame) the schedule slips rather than piling up goroutines. It
// returns ctx's error when ctx ends before every entry was handed out, and
// returns only once the drains it started are done.
func spread(ctx context.Context, all []*Entry, reason Reason, window time.Duration) error {
	if len(all) == 0 {
		return nil
	}
	work := make(chan *Entry)
	var wg sync.WaitGroup
	for range min(workers, len(all)) {
		wg.Go(func() {
			for e := range work {
				e.s.Drain(reason)
			}
		})
	}
	defer wg.Wait()
	defer close(work)

	start := time.Now()
	step := window / time.Duration(len(all))
	var timer *time.Timer
	for i, e := range all {
		if wait := time.Until(start.Add(time.Duration(i) * step)); step > 0 && wait > 0 {
			if timer == nil {
				timer = time.NewTimer(wait)
				defer timer.Stop()
			} else {
				timer.Reset(wait)
			}
			select {
			case <-timer.C:
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		select {
		case work <- e:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
