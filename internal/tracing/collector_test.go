package tracing

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"gateway/internal/tracecontext"
)

// runs reports whether f returns within d: span calls must never wait
// for the collector. A deadline, not a timing: a blocked call never returns.
func runs(f func(), d time.Duration) bool {
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
		return true
	case <-time.After(d):
		return false
	}
}

// requests ends n request-shaped span pairs.
func requests(tr *Tracer, n int) {
	req, _ := incoming(clientHeader, "")
	defer fasthttp.ReleaseRequest(req)
	for range n {
		tc := tracecontext.FromRequest(&req.Header)
		srv := tr.StartServer(&tc, req, apiRoute, netip.Addr{})
		cli, _ := srv.StartClient(&tc, Attempt{Host: "u", Port: 1})
		cli.End(200)
		srv.End(200)
	}
}

// TestDeadCollector: with nothing listening at the endpoint, requests go
// on at once, every lost span is counted once, and Shutdown keeps its
// budget.
func TestDeadCollector(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // a closed port: connections are refused
	tr, err := New(Options{Endpoint: "http://" + addr + "/v1/traces", MaxQueue: 16, BatchSize: 4, BatchTimeout: time.Millisecond, ExportTimeout: 30 * time.Second})
	if err != nil || tr == nil {
		t.Fatal(tr, err)
	}
	if !runs(func() { requests(tr, 2000) }, 10*time.Second) {
		t.Fatal("span calls waited for a dead collector")
	}
	var err2 error
	if !runs(func() { err2 = shutdown(t, tr, 300*time.Millisecond) }, 5*time.Second) {
		t.Fatal("Shutdown overran its budget")
	}
	if err2 != nil && !errors.Is(err2, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want nil or its budget's end", err2)
	}
	// Every span is lost, and counted once: dropped at the full queue, or
	// failed in an export (the last ones maybe just after Shutdown returned).
	waitFor(t, "all 4000 spans counted as dropped or failed", func() bool {
		st := tr.Stats()
		return st.Dropped+st.Failed == 4000 && st.Failed > 0
	})
}

// TestHangingCollector: a collector that takes a batch and never answers
// blocks nothing: the queue fills to its bound, every span past it is
// dropped and counted exactly, and Shutdown returns at its budget's end
// without leaving the stuck export behind (TestMain's leak check).
func TestHangingCollector(t *testing.T) {
	rcv := newHTTPReceiver(t, true)
	const maxQueue = 4
	tr, err := New(Options{Endpoint: rcv.URL + "/v1/traces", MaxQueue: maxQueue, BatchSize: 1, BatchTimeout: time.Millisecond, ExportTimeout: time.Minute})
	if err != nil || tr == nil {
		t.Fatal(tr, err)
	}
	req, tc := incoming(clientHeader, "")
	defer fasthttp.ReleaseRequest(req)
	tr.StartServer(&tc, req, apiRoute, netip.Addr{}).End(200)
	rcv.waitRequests(t, 1) // the exporter is stuck on the first span

	const n = 100
	if !runs(func() {
		for range n {
			tr.StartServer(&tc, req, apiRoute, netip.Addr{}).End(200)
		}
	}, 10*time.Second) {
		t.Fatal("span calls waited for a hanging collector")
	}
	if got := tr.Stats().Dropped; got != n-maxQueue {
		t.Errorf("dropped %d spans, want %d: %d sent, queue of %d, one batch in flight", got, n-maxQueue, n, maxQueue)
	}
	var err2 error
	if !runs(func() { err2 = shutdown(t, tr, 200*time.Millisecond) }, 5*time.Second) {
		t.Fatal("Shutdown overran its budget")
	}
	if !errors.Is(err2, context.DeadlineExceeded) {
		t.Errorf("Shutdown: %v, want its budget's end", err2)
	}
	waitFor(t, "the abandoned spans counted as failed", func() bool { return tr.Stats().Failed == 1+maxQueue })
}

// waitFor polls cond until it holds, failing the test after a deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
