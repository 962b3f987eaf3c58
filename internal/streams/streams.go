// Package streams is the registry of the gateway's long-lived connections,
// SSE streams and WebSocket bridges alike: it admits them, counts them per
// service and upstream, and ends them, on shutdown or when their upstream
// was removed by a reload, spread evenly over a drain window rather than
// all in one instant, so that their clients do not all reconnect at once
// (the reconnect storm Envoy's, nginx's and Traefik's trackers report after
// restarts).
//
// The registry knows nothing of either wire protocol: a stream tells it how
// to end politely (Stream.Drain) and how to be cut (Stream.Cut).
package streams

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"gateway/upstream"
)

// RetryAfterSeconds is the Retry-After of the 503 that refuses a stream
// while the gateway shuts down, for SSE and WebSocket alike. One second:
// by then the load balancer has taken this replica out (readiness has been
// 503 for SHUTDOWN_DELAY_MS), so a retry lands on another one.
const RetryAfterSeconds = 1

// workers bounds the goroutines ending streams at once, so that ending
// 10,000 bridges neither runs one by one behind a stuck peer (a WebSocket
// close frame may wait a second for its write) nor starts 10,000
// goroutines.
const workers = 32

// Reconnect delays told to SSE clients (the `retry:` field of the HTML
// Living Standard's event stream format) when the gateway ends their
// stream: uniformly random in [reconnectMin, reconnectMin+reconnectSpread),
// so EventSource clients ended in the same instant come back at different
// ones, and after the load balancer has noticed this replica leave.
const (
	reconnectMin    = time.Second
	reconnectSpread = 4 * time.Second
)

// Kind is the protocol of a stream.
type Kind uint8

// The kinds of stream.
const (
	SSE Kind = iota
	WebSocket
	kinds
)

// Reason is why the gateway ends a stream.
type Reason uint8

const (
	// Shutdown: the gateway is going away (WebSocket close 1001, RFC 6455
	// §7.4.1 "going away").
	Shutdown Reason = iota + 1
	// Moved: the stream's upstream was removed by a reload and
	// STREAM_MAX_AGE_AFTER_REMOVAL_MS has passed; the client should come
	// back and be routed to another (WebSocket close 1012 "service
	// restart", IANA WebSocket close code registry).
	Moved
)

// Stream is a long-lived connection the registry can end.
type Stream interface {
	// Drain asks the stream to end politely for reason. It may block for a
	// bounded time (a close frame's write) and must be safe to call at any
	// moment, also after the stream has ended and been removed.
	Drain(reason Reason)
	// Cut closes the stream's connections at once; the same rules hold.
	Cut()
}

// Rand is the randomness of the reconnect delays; *rand.Rand satisfies it.
type Rand interface {
	Int64N(n int64) int64
}

// Options configure a Registry.
type Options struct {
	// Window is STREAM_DRAIN_MS: the streams ended together are ended
	// spread evenly over it; 0 ends them all at once.
	Window time.Duration
	// MaxAgeAfterRemoval is STREAM_MAX_AGE_AFTER_REMOVAL_MS: streams on an
	// upstream that a reload removed are moved off it this long after the
	// removal; 0 lets them live on.
	MaxAgeAfterRemoval time.Duration
	// Rand jitters reconnect delays; nil uses math/rand/v2's global source.
	Rand Rand
}

// Entry is one registered stream.
type Entry struct {
	s    Stream
	kind Kind
	up   *upstream.Upstream
}

// Registry holds the open streams. The zero value is not usable; see New.
type Registry struct {
	opts Options
	stop context.CancelFunc // ends the moves pending after removals
	ctx  context.Context    // done once Shutdown has begun

	mu      sync.Mutex
	live    map[*Entry]struct{}
	count   [kinds]int
	closing bool           // Shutdown has begun: Add refuses
	empty   chan struct{}  // closed once closing and live is empty
	moves   []*time.Timer  // pending after removals, stopped by Shutdown
	movers  sync.WaitGroup // moves running; Shutdown waits for them
}

// New returns an empty registry.
func New(opts Options) *Registry {
	ctx, stop := context.WithCancel(context.Background())
	return &Registry{opts: opts, ctx: ctx, stop: stop, live: make(map[*Entry]struct{}), empty: make(chan struct{})}
}

// Add registers s, of kind, on upstream up. It reports false, registering
// nothing, once Shutdown has begun.
func (r *Registry) Add(s Stream, kind Kind, up *upstream.Upstream) (*Entry, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return nil, false
	}
	e := &Entry{s: s, kind: kind, up: up}
	r.live[e] = struct{}{}
	r.count[kind]++
	return e, true
}

// Remove unregisters e, once its stream has ended; nil and repeats are
// ignored.
func (r *Registry) Remove(e *Entry) {
	if e == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.live[e]; !ok {
		return
	}
	delete(r.live, e)
	r.count[e.kind]--
	if r.closing && len(r.live) == 0 {
		close(r.empty)
	}
}

// Closing reports whether Shutdown has begun.
func (r *Registry) Closing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closing
}

// Len returns the number of open streams of kind.
func (r *Registry) Len(kind Kind) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count[kind]
}

// Count is the open streams of one upstream.
type Count struct {
	Service, Upstream string
	SSE, WebSocket    int
}

// Counts returns the open streams per upstream, in no particular order.
func (r *Registry) Counts() []Count {
	r.mu.Lock()
	defer r.mu.Unlock()
	by := make(map[*upstream.Upstream]*Count)
	var out []Count
	for e := range r.live {
		c := by[e.up]
		if c == nil {
			out = append(out, Count{})
			c = &out[len(out)-1]
			if e.up != nil {
				c.Service, c.Upstream = e.up.Service(), e.up.String()
			}
			by[e.up] = c
		}
		if e.kind == SSE {
			c.SSE++
		} else {
			c.WebSocket++
		}
	}
	return out
}

// ReconnectDelay is a jittered delay for a client to wait before it comes
// back (see reconnectMin).
func (r *Registry) ReconnectDelay() time.Duration {
	var n int64
	if r.opts.Rand != nil {
		n = r.opts.Rand.Int64N(int64(reconnectSpread))
	} else {
		n = rand.Int64N(int64(reconnectSpread))
	}
	return reconnectMin + time.Duration(n)
}

// Shutdown refuses new streams and ends every open one with reason
// Shutdown, spread over the window, then waits until all have been
// removed. When ctx ends first, the streams still open are cut and ctx's
// error returned.
func (r *Registry) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if !r.closing {
		r.closing = true
		if len(r.live) == 0 {
			close(r.empty)
		}
	}
	for _, t := range r.moves {
		t.Stop()
	}
	r.moves = nil
	all := r.entriesLocked(nil)
	r.mu.Unlock()
	r.stop()
	r.movers.Wait() // no Add after closing was set (see Removed)

	if err := spread(ctx, all, Shutdown, r.opts.Window); err != nil {
		r.cutAll()
		return err
	}
	select {
	case <-r.empty:
		return nil
	case <-ctx.Done():
		r.cutAll()
		return ctx.Err()
	}
}

// Removed is told of the upstreams a reload removed. With
// MaxAgeAfterRemoval set, that long after, their streams still open are
// ended with reason Moved, spread over the window; otherwise, or once
// Shutdown has begun, nothing happens.
func (r *Registry) Removed(ups []*upstream.Upstream) {
	if r.opts.MaxAgeAfterRemoval <= 0 || len(ups) == 0 {
		return
	}
	gone := make(map[*upstream.Upstream]bool, len(ups))
	for _, u := range ups {
		gone[u] = true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closing {
		return
	}
	var t *time.Timer
	t = time.AfterFunc(r.opts.MaxAgeAfterRemoval, func() {
		r.mu.Lock()
		if r.closing {
			r.mu.Unlock()
			return
		}
		r.moves = deleteTimer(r.moves, t)
		on := r.entriesLocked(func(e *Entry) bool { return gone[e.up] })
		r.movers.Add(1)
		r.mu.Unlock()
		defer r.movers.Done()
		_ = spread(r.ctx, on, Moved, r.opts.Window) // Shutdown cancels r.ctx and ends the rest itself
	})
	r.moves = append(r.moves, t)
}

// entriesLocked returns the live entries that keep accepts (all when nil).
func (r *Registry) entriesLocked(keep func(*Entry) bool) []*Entry {
	out := make([]*Entry, 0, len(r.live))
	for e := range r.live {
		if keep == nil || keep(e) {
			out = append(out, e)
		}
	}
	return out
}

// cutAll cuts every stream still open.
func (r *Registry) cutAll() {
	r.mu.Lock()
	all := r.entriesLocked(nil)
	r.mu.Unlock()
	for _, e := range all {
		e.s.Cut()
	}
}

func deleteTimer(ts []*time.Timer, t *time.Timer) []*time.Timer {
	for i, x := range ts {
		if x == t {
			return append(ts[:i], ts[i+1:]...)
		}
	}
	return ts
}
