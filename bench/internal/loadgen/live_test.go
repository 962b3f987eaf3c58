package loadgen

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// serve starts a loopback fasthttp server answering 200, or 503 on
// /fail, and returns its base URL.
func serve(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		if string(ctx.Path()) == "/fail" {
			ctx.SetStatusCode(fasthttp.StatusServiceUnavailable)
		}
		ctx.SetBodyString(`{"ok":true}`)
	}}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return "http://" + ln.Addr().String()
}

// The open loop answers exactly the requests its schedule puts in the
// window, each counted once, and calls mark around the window.
func TestOpenCountsTheSchedule(t *testing.T) {
	base := serve(t)
	var marks []bool
	res, err := Open(context.Background(), Request{Method: "GET", URL: base + "/x"}, 2000, 4, 50*time.Millisecond, 200*time.Millisecond,
		func(start bool) { marks = append(marks, start) })
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 400 || res.Failures() != 0 || res.From != "intended" || res.RPS() != 2000 {
		t.Errorf("open loop: %+v", res)
	}
	if len(marks) != 2 || !marks[0] || marks[1] {
		t.Errorf("marks %v, want [true false]", marks)
	}
	if res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 {
		t.Errorf("latency %+v", res.Latency)
	}
}

func TestClosedCountsStatuses(t *testing.T) {
	base := serve(t)
	tests := []struct {
		path     string
		wantFail bool
	}{{"/ok", false}, {"/fail", true}}
	for _, tt := range tests {
		res, err := Closed(context.Background(), Request{Method: "POST", URL: base + tt.path, Body: []byte("body")}, 4, 20*time.Millisecond, 100*time.Millisecond, func(bool) {})
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || (res.Non2xx == res.Requests) != tt.wantFail || res.Errors != 0 || res.Elapsed < 100*time.Millisecond {
			t.Errorf("%s: %+v", tt.path, res)
		}
	}
}

// A run whose context ends stops early with the context's error.
func TestClosedStopsOnContext(t *testing.T) {
	base := serve(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := Closed(ctx, Request{Method: "GET", URL: base + "/"}, 2, time.Hour, time.Hour, func(bool) {})
	if err == nil || time.Since(start) > 10*time.Second {
		t.Errorf("err %v after %v", err, time.Since(start))
	}
	if _, err := Closed(context.Background(), Request{URL: "ftp://x"}, 1, 0, time.Millisecond, func(bool) {}); err == nil {
		t.Error("bad URL accepted")
	}
}
