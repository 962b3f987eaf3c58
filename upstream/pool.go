package upstream

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrClosed is returned by Replace after Close.
var ErrClosed = errors.New("upstream: pool closed")

// Pool is the gateway's set of services and their upstreams. Lookups read an
// immutable table through an atomic pointer, so they never lock; Replace
// swaps in a new table.
type Pool struct {
	sh     *shared
	sel    Selector
	table  atomic.Pointer[table]
	budget RetryBudget

	mu     sync.Mutex     // serializes Replace and Close
	closed bool           // guarded by mu
	probes sync.WaitGroup // the health checkers' prober goroutines
}

// table is one immutable generation of the service table.
type table struct {
	byName map[string]*Service
	sorted []*Service  // by name
	all    []*Upstream // every upstream, in sorted service order
	index  map[key]*Upstream
}

// key identifies an upstream across generations: same service, same URL.
type key struct{ service, base string }

// New validates opts and builds a Pool. It starts no goroutine unless
// health checks are on: then one prober per upstream, which Close stops.
func New(opts Options) (*Pool, error) {
	sh, err := newShared(opts)
	if err != nil {
		return nil, err
	}
	p := &Pool{sh: sh, sel: opts.Selector}
	if p.sel == nil {
		p.sel = &PeakEWMA{Rand: opts.Rand}
	}
	p.budget = RetryBudget{minActive: retryBudgetMin, percent: retryBudgetPercent, inflight: p.inflight}
	t, err := p.build(opts.Services, nil)
	if err != nil {
		return nil, err
	}
	p.install(t, nil)
	return p, nil
}

// Service returns the named service, or nil when unknown. It is lock-free.
func (p *Pool) Service(name string) *Service { return p.table.Load().byName[name] }

// Services returns every service, sorted by name.
func (p *Pool) Services() []*Service { return slices.Clone(p.table.Load().sorted) }

// RetryBudget returns the pool-wide retry budget.
func (p *Pool) RetryBudget() *RetryBudget { return &p.budget }

// Replace is the hot reload: it builds a new table from services and swaps
// it in atomically. An upstream whose service keeps its URL is kept: the
// same *Upstream, counters, breaker, HostClient and open connections.
// Removed upstreams are retired: their idle connections are closed once
// their leases and streams end; nothing in use is cut. On error the current
// table stays.
func (p *Pool) Replace(services map[string][]string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return ErrClosed
	}
	old := p.table.Load()
	t, err := p.build(services, old)
	if err != nil {
		return err
	}
	p.install(t, old)
	for k, u := range old.index {
		if t.index[k] != u {
			u.retire()
		}
	}
	return nil
}

// Close retires every upstream, so idle keep-alive connections close as
// soon as in-flight requests end, and makes Replace fail. It stops the
// health checkers' probers and waits for them, each within one probe
// timeout; the pool runs no other goroutine of its own. fasthttp's per-client idle-connection cleaner exits
// by itself at most 90s (MaxIdleConnDuration) after the last connection
// closes: leak checks in other packages should ignore
// github.com/valyala/fasthttp.(*HostClient).connsCleaner.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	p.closed = true
	for _, u := range p.table.Load().all {
		u.retire()
	}
	p.probes.Wait() // each ends within one probe timeout
}

// install makes t the current table: each upstream learns its service
// (for its peers' costs) and new upstreams start their probers.
func (p *Pool) install(t, old *table) {
	for _, s := range t.sorted {
		for _, u := range s.ups {
			u.svc.Store(s)
		}
	}
	p.table.Store(t)
	p.startProbes(t, old)
}

// startProbes starts the prober of every upstream of t that old did not
// have, when health checks are on. p.mu must be held, or p not yet shared.
func (p *Pool) startProbes(t, old *table) {
	if !p.sh.hc.on {
		return
	}
	for k, u := range t.index {
		if old.lookup(k) == u {
			continue
		}
		ctx, stop := context.WithCancel(context.Background())
		u.health.stop = stop
		p.probes.Go(func() {
			u.probeLoop(ctx)
			if u.health.client != nil {
				u.health.client.CloseIdleConnections()
			}
		})
	}
}

// inflight sums the leases in flight across the current table.
func (p *Pool) inflight() int64 {
	var n int64
	for _, u := range p.table.Load().all {
		n += u.inflight.Load()
	}
	return n
}

// build makes a table for services, reusing old's upstreams where the
// service keeps the URL. It returns one error naming every bad entry.
func (p *Pool) build(services map[string][]string, old *table) (*table, error) {
	t := &table{byName: make(map[string]*Service, len(services)), index: make(map[key]*Upstream)}
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(services)) {
		ups, err := p.buildService(name, services[name], old, t.index)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s := newService(p.sh, name, ups, p.sel)
		t.byName[name] = s
		t.sorted = append(t.sorted, s)
		t.all = append(t.all, ups...)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return t, nil
}

// buildService returns the upstreams of one service and adds them to index.
func (p *Pool) buildService(name string, raws []string, old *table, index map[key]*Upstream) ([]*Upstream, error) {
	if name == "" {
		return nil, errors.New("upstream: empty service name")
	}
	if len(raws) == 0 {
		return nil, fmt.Errorf("upstream: service %q has no upstream URL", name)
	}
	ups := make([]*Upstream, 0, len(raws))
	var errs []error
	for _, raw := range raws {
		base, err := parseBase(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("upstream: service %q: %w", name, err))
			continue
		}
		k := key{name, base.String()}
		if index[k] != nil {
			errs = append(errs, fmt.Errorf("upstream: service %q lists %s twice", name, k.base))
			continue
		}
		u := old.lookup(k)
		if u == nil {
			u = newUpstream(p.sh, name, base)
		}
		index[k] = u
		ups = append(ups, u)
	}
	return ups, errors.Join(errs...)
}

func (t *table) lookup(k key) *Upstream {
	if t == nil {
		return nil
	}
	return t.index[k]
}

// parseBase parses and normalizes an upstream base URL: http or https, a
// host, no user info, query or fragment; lower-case scheme and host; no
// trailing slash.
func parseBase(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("parsing upstream URL: %w", err)
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("upstream URL %q: scheme must be http or https", raw)
	case u.Hostname() == "":
		return nil, fmt.Errorf("upstream URL %q: missing host", raw)
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Opaque != "":
		return nil, fmt.Errorf("upstream URL %q: must be scheme://host[:port][/path]", raw)
	}
	u.Host = strings.ToLower(u.Host)
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u, nil
}
