package handlers

import (
	"context"
	"sync"
)

// shutdownWorkers bounds the goroutines CloseAll uses to send close frames,
// so closing 10,000 bridges neither runs one by one behind a stuck peer nor
// starts 10,000 goroutines at once.
const shutdownWorkers = 32

// bridgeSet is the registry of live bridges, so that shutdown can close
// each with a close frame rather than cutting sockets. Once closed it admits
// no more bridges. The zero value is not usable; see newBridgeSet.
type bridgeSet struct {
	mu      sync.Mutex
	live    map[*bridge]struct{}
	closed  bool          // set by CloseAll; guarded by mu
	drained chan struct{} // closed when closed and live is empty
}

func newBridgeSet() *bridgeSet {
	return &bridgeSet{live: make(map[*bridge]struct{}), drained: make(chan struct{})}
}

// add registers b; it reports false once the set is closed.
func (s *bridgeSet) add(b *bridge) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.live[b] = struct{}{}
	return true
}

// remove unregisters b.
func (s *bridgeSet) remove(b *bridge) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.live, b)
	if s.closed && len(s.live) == 0 {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
}

// len returns the number of live bridges.
func (s *bridgeSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.live)
}

// isClosed reports whether CloseAll has been called.
func (s *bridgeSet) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// closeAll closes the set, ends every live bridge with code and reason, and
// waits until they are gone or ctx ends; bridges still open then are cut.
func (s *bridgeSet) closeAll(ctx context.Context, code int, reason string) error {
	s.mu.Lock()
	s.closed = true
	all := make([]*bridge, 0, len(s.live))
	for b := range s.live {
		all = append(all, b)
	}
	if len(s.live) == 0 {
		select {
		case <-s.drained:
		default:
			close(s.drained)
		}
	}
	s.mu.Unlock()

	if err := endEach(ctx, all, code, reason); err != nil {
		abortEach(all)
		return err
	}
	select {
	case <-s.drained:
		return nil
	case <-ctx.Done():
		abortEach(all)
		return ctx.Err()
	}
}

// endEach ends every bridge with code and reason on a few workers, giving
// up when ctx ends.
func endEach(ctx context.Context, all []*bridge, code int, reason string) error {
	work := make(chan *bridge)
	var wg sync.WaitGroup
	for range min(shutdownWorkers, len(all)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				b.end(code, reason)
			}
		}()
	}
	defer wg.Wait()
	defer close(work)
	for _, b := range all {
		select {
		case work <- b:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// abortEach cuts every bridge's connections.
func abortEach(all []*bridge) {
	for _, b := range all {
		b.abort()
	}
}
