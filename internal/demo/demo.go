// Package demo runs the built-in demo upstreams on loopback, so that
// `go run . demo` shows the gateway working with nothing configured.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"time"
)

// Upstream is one running demo server.
type Upstream struct {
	Name string
	URL  string
	srv  *http.Server
}

// Close stops the server.
func (u *Upstream) Close() error { return u.srv.Close() }

// Echo starts an HTTP echo server on 127.0.0.1 that waits delay before
// answering each request with a JSON description of it (method, path,
// query, headers, body size and its own name).
func Echo(name string, delay time.Duration) (*Upstream, error) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		n, _ := io.Copy(io.Discard, r.Body)
		headers := make(map[string]string, len(r.Header))
		keys := make([]string, 0, len(r.Header))
		for k := range r.Header {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			headers[k] = r.Header.Get(k)
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"upstream": name, "method": r.Method, "path": r.URL.EscapedPath(),
			"query": r.URL.RawQuery, "headers": headers, "bodyBytes": n,
		})
	})
	return serve(name, h)
}

// serve starts a demo server named name for h on a loopback port.
func serve(name string, h http.Handler) (*Upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for demo upstream %s: %w", name, err)
	}
	u := &Upstream{Name: name, URL: "http://" + ln.Addr().String(), srv: &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}}
	go func() {
		if err := u.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the demo server ends with the process
		}
	}()
	return u, nil
}

// Set is the demo's upstreams, by service.
type Set struct {
	Services map[string][]string
	servers  []*Upstream
}

// Start starts every demo upstream: service "users" on two echo servers, one
// fast and one slow (so least-latency selection shows), "orders" on one,
// "ticks", an event stream with one event a second, and "chat", a
// WebSocket echo server.
func Start(ctx context.Context) (*Set, error) {
	s := &Set{Services: map[string][]string{}}
	specs := []struct {
		service, name string
		delay         time.Duration
		start         func(name string, delay time.Duration) (*Upstream, error) // nil: Echo
	}{
		{"users", "users-fast", 2 * time.Millisecond, nil},
		{"users", "users-slow", 40 * time.Millisecond, nil},
		{"orders", "orders-1", 5 * time.Millisecond, nil},
		{"ticks", "ticks-1", time.Second, Ticks},
		{"chat", "chat-1", 0, WSEcho},
	}
	for _, sp := range specs {
		start := sp.start
		if start == nil {
			start = Echo
		}
		u, err := start(sp.name, sp.delay)
		if err != nil {
			s.Close()
			return nil, err
		}
		s.servers = append(s.servers, u)
		s.Services[sp.service] = append(s.Services[sp.service], u.URL)
	}
	go func() {
		<-ctx.Done()
		s.Close()
	}()
	return s, nil
}

// Close stops every demo upstream.
func (s *Set) Close() {
	for _, u := range s.servers {
		_ = u.Close()
	}
}
