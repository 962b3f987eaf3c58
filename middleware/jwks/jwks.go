// Package jwks keeps the JSON Web Key Sets (RFC 7517) of one or more URLs
// in memory for verifying JWTs: fetched in the background at Start, again
// every refresh interval, and again (at most once per minimum interval)
// when a token names a key the set does not hold. A request never waits for
// a fetch: Key answers from the last good copy, or refuses.
//
// Written here rather than taken from MicahParks/keyfunc v2 (what
// gofiber/contrib/jwt v1 builds on) because keyfunc v2 blocks the request
// that names an unknown kid until the refetch ends, panics through contrib
// when the first fetch fails, reads bodies without a size bound, accepts
// "oct" keys (an HMAC secret out of a public set would then verify HS256
// tokens), does not tie a key's algorithm to its type when the JWK has no
// "alg", and does not check curves or key sizes.
package jwks

import (
	"bytes"
	"context"
	"crypto"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of a Set; see the options.
const (
	DefaultRefresh    = 5 * time.Minute
	DefaultMinRefetch = 10 * time.Second
	DefaultTimeout    = 5 * time.Second
	DefaultMaxBody    = 512 << 10
	defaultBackoffMin = time.Second
	defaultBackoffMax = time.Minute
)

// Errors of Key. Each means the token is refused.
var (
	ErrUnknownKey  = errors.New("no key with this kid in the JWK Sets")
	ErrAlgMismatch = errors.New("the key with this kid verifies another algorithm")
	ErrKIDRequired = errors.New("token has no kid and the JWK Sets hold several keys for its algorithm")
)

// Set is the keys of one or more JWK Set URLs. Build it with New, Start it,
// and Close it on shutdown. Key is safe for concurrent use; do not copy a
// Set.
type Set struct {
	sources []*source
	client  *http.Client
	log     *slog.Logger

	refresh, minRefetch, timeout time.Duration
	backoffMin, backoffMax       time.Duration
	maxBody                      int64

	mu     sync.Mutex
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// source is one URL's keys. keys is written by its fetch goroutine only.
type source struct {
	url  string
	keys atomic.Pointer[snapshot]
	wake chan struct{} // capacity 1: an unknown kid was seen
	raw  []byte        // the body keys came from, to skip re-parsing it
}

// snapshot is one parsed set; never modified once published.
type snapshot struct {
	byKid map[string][]key
	sole  map[string]crypto.PublicKey // alg → its key, when the set has one key of that alg
	count map[string]int              // alg → keys of that alg
}

// Option configures a Set.
type Option func(*Set)

// WithLogger sets where fetch failures and key changes are logged (default:
// nowhere).
func WithLogger(l *slog.Logger) Option { return func(s *Set) { s.log = l } }

// WithRefresh sets how often every URL is fetched again (DefaultRefresh).
func WithRefresh(d time.Duration) Option { return func(s *Set) { s.refresh = d } }

// WithMinRefetch sets the shortest time between two fetches of one URL that
// an unknown kid may cause (DefaultMinRefetch), so tokens naming made-up
// kids cannot turn the gateway against the identity provider.
func WithMinRefetch(d time.Duration) Option { return func(s *Set) { s.minRefetch = d } }

// WithTimeout bounds one fetch, body included (DefaultTimeout).
func WithTimeout(d time.Duration) Option { return func(s *Set) { s.timeout = d } }

// WithMaxBody bounds the size of one JWK Set document (DefaultMaxBody).
func WithMaxBody(n int64) Option { return func(s *Set) { s.maxBody = n } }

// WithBackoff sets the retry delays after a failed fetch: min, doubling up
// to max (default 1 s to 1 min, never past the refresh interval).
func WithBackoff(minDelay, maxDelay time.Duration) Option {
	return func(s *Set) { s.backoffMin, s.backoffMax = minDelay, maxDelay }
}

// New returns a Set for urls, each an absolute http(s) URL. It fetches
// nothing until Start.
func New(urls []string, opts ...Option) (*Set, error) {
	if len(urls) == 0 {
		return nil, errors.New("jwks: no URL")
	}
	s := &Set{
		client:     newClient(),
		log:        slog.New(slog.DiscardHandler),
		refresh:    DefaultRefresh,
		minRefetch: DefaultMinRefetch,
		timeout:    DefaultTimeout,
		maxBody:    DefaultMaxBody,
		backoffMin: defaultBackoffMin,
		backoffMax: defaultBackoffMax,
	}
	for _, o := range opts {
		o(s)
	}
	for _, u := range urls {
		p, err := url.Parse(u)
		if err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("jwks: %q is not an absolute http(s) URL", u)
		}
		s.sources = append(s.sources, &source{url: u, wake: make(chan struct{}, 1)})
	}
	if s.refresh <= 0 || s.minRefetch < 0 || s.timeout <= 0 || s.maxBody <= 0 || s.backoffMin <= 0 {
		return nil, errors.New("jwks: refresh, timeout, max body and backoff must be positive")
	}
	s.backoffMax = min(max(s.backoffMax, s.backoffMin), s.refresh)
	return s, nil
}

// Start launches one fetch goroutine per URL; they run until ctx ends or
// Close. It returns at once: the first fetch happens in the background, and
// until it succeeds every Key call fails. Calling Start twice does nothing.
func (s *Set) Start(ctx context.Context) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	for _, src := range s.sources {
		s.wg.Go(func() { s.run(ctx, src) })
	}
}

// Close stops the fetch goroutines, waits for them and drops idle
// connections. The keys last fetched stay usable.
func (s *Set) Close() {
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	s.wg.Wait()
	s.client.CloseIdleConnections()
}

// Key returns the key that verifies alg for a token with this kid. It never
// waits: a kid no set holds asks every URL's goroutine for a refetch (within
// the minimum interval) and fails now. A token without kid is matched only
// when exactly one key of the sets verifies its algorithm.
func (s *Set) Key(kid, alg string) (crypto.PublicKey, error) {
	if kid == "" {
		return s.soleKey(alg)
	}
	mismatch := false
	for _, src := range s.sources {
		snap := src.keys.Load()
		if snap == nil {
			continue
		}
		for _, k := range snap.byKid[kid] {
			if k.alg == alg {
				return k.pub, nil
			}
			mismatch = true
		}
	}
	if mismatch {
		return nil, ErrAlgMismatch
	}
	s.wakeAll()
	return nil, ErrUnknownKey
}

// soleKey is Key for a token without kid.
func (s *Set) soleKey(alg string) (crypto.PublicKey, error) {
	var pub crypto.PublicKey
	n := 0
	for _, src := range s.sources {
		if snap := src.keys.Load(); snap != nil {
			n += snap.count[alg]
			if p, ok := snap.sole[alg]; ok {
				pub = p
			}
		}
	}
	switch {
	case n == 1:
		return pub, nil
	case n == 0:
		s.wakeAll()
		return nil, ErrUnknownKey
	}
	return nil, ErrKIDRequired
}

// wakeAll asks every source for a refetch, without blocking.
func (s *Set) wakeAll() {
	for _, src := range s.sources {
		select {
		case src.wake <- struct{}{}:
		default:
		}
	}
}

// run fetches src now, then every refresh interval; after a failure, again
// after a growing backoff; and, when woken by an unknown kid, again no
// sooner than minRefetch after the previous fetch began.
func (s *Set) run(ctx context.Context, src *source) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	var last time.Time
	next := time.Now()
	backoff := time.Duration(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-src.wake:
			if soon := last.Add(s.minRefetch); soon.Before(next) {
				next = soon
				timer.Reset(time.Until(next))
			}
			continue
		case <-timer.C:
		}
		last = time.Now()
		if err := s.fetch(ctx, src); err != nil {
			if ctx.Err() != nil {
				return
			}
			backoff = s.nextBackoff(backoff)
			s.log.Warn("JWK Set fetch failed", "url", src.url, "error", err.Error(), "retryIn", backoff.String())
			next = last.Add(backoff)
		} else {
			backoff = 0
			next = last.Add(s.refresh)
		}
		timer.Reset(time.Until(next))
	}
}

// nextBackoff doubles prev within [backoffMin, backoffMax], plus up to 25%
// jitter so a fleet restarted at once does not retry in step.
func (s *Set) nextBackoff(prev time.Duration) time.Duration {
	d := min(max(2*prev, s.backoffMin), s.backoffMax)
	return d + rand.N(d/4+1)
}

// fetch gets src once and publishes its keys if the document changed.
func (s *Set) fetch(ctx context.Context, src *source) error {
	body, err := s.get(ctx, src.url)
	if err != nil {
		return err
	}
	if src.raw != nil && bytes.Equal(body, src.raw) {
		return nil
	}
	keys, skipped, err := parseSet(body)
	if err != nil {
		return err
	}
	src.raw = body
	src.keys.Store(newSnapshot(keys))
	for i, e := range skipped {
		if i == 8 {
			s.log.Warn("JWK Set keys skipped", "url", src.url, "more", len(skipped)-i)
			break
		}
		s.log.Warn("JWK Set key skipped", "url", src.url, "error", e.Error())
	}
	s.log.Info("JWK Set loaded", "url", src.url, "keys", countKeys(keys), "skipped", len(skipped))
	return nil
}

// newSnapshot indexes keys for Key.
func newSnapshot(byKid map[string][]key) *snapshot {
	snap := &snapshot{byKid: byKid, sole: map[string]crypto.PublicKey{}, count: map[string]int{}}
	for _, ks := range byKid {
		for _, k := range ks {
			snap.count[k.alg]++
			snap.sole[k.alg] = k.pub
		}
	}
	for alg, n := range snap.count {
		if n != 1 {
			delete(snap.sole, alg)
		}
	}
	return snap
}

// countKeys is the number of keys in byKid.
func countKeys(byKid map[string][]key) int {
	n := 0
	for _, ks := range byKid {
		n += len(ks)
	}
	return n
}
