package streams

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
)

// mode is one kind of long-lived connection: its loopback upstream and its
// client. Each lives in its own file.
type mode interface {
	// name is the mode's name in the report.
	name() string
	// route is the gateway route prefix, before the service name, such as
	// "/sse/"; the nginx target proxies it too.
	route() string
	// startUpstream starts the loopback upstream; it returns the base URL
	// that goes into UPSTREAMS and a function stopping it.
	startUpstream(ctx context.Context, c Config) (baseURL string, stop func(), err error)
	// open establishes connection i through the proxy at addr and returns
	// once it is ready (response headers read, upgrade done). It keeps the
	// connection in a goroutine until ctx ends, recording each message's
	// delay in rec, and counts a connection lost before ctx ended as
	// dropped.
	open(ctx context.Context, i int, d *dialer, addr string, rec *recorder) error
}

// modes returns the available modes by name.
func modes() map[string]mode {
	return map[string]mode{
		"sse":       sseMode{},
		"ws":        &wsMode{},             // ws.go
		"ws-direct": &wsMode{direct: true}, // ws.go: same clients, straight to the upstream
	}
}

func modeNames() []string {
	var names []string
	for n := range modes() {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// recorder collects what the clients see.
type recorder struct {
	hist     *histogram
	windowed atomic.Int64 // messages received inside the window
	dropped  atomic.Int64 // connections lost before the run ended them
	inWindow atomic.Bool
}

func newRecorder() *recorder { return &recorder{hist: newHistogram()} }

func (r *recorder) startWindow() { r.inWindow.Store(true) }
func (r *recorder) stopWindow()  { r.inWindow.Store(false) }

// message records one message delivered delayNanos after it was sent.
func (r *recorder) message(delayNanos int64) {
	if r.inWindow.Load() {
		r.windowed.Add(1)
		r.hist.record(delayNanos)
	}
}

// openAll opens c.n connections, c.parallel at a time.
func openAll(ctx context.Context, c Config, m mode, d *dialer, addr string, rec *recorder) (opened, failed int, firstErr error) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, c.parallel)
	for i := range c.n {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := m.open(ctx, i, d, addr, rec)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			opened++
		}()
	}
	wg.Wait()
	return opened, failed, firstErr
}
