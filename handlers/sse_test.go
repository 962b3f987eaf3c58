package handlers_test

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"gateway/config"
	"gateway/internal/gatewaytest"
)

// firstEventWithin is the bound on the delay of an event through
// the gateway.
const firstEventWithin = 100 * time.Millisecond

func TestSSEStreamsEventsOneByOne(t *testing.T) {
	checkLeaks(t)
	up := newSSEUpstream(t, "text/event-stream; charset=utf-8")
	gw := startGateway(t, up.srv.URL, 0)
	c := openStream(t, gw, "GET", "/sse/s/feed/x?topic=a%20b",
		"Accept: text/event-stream", "Last-Event-ID: 41", "Cookie: sid=abc",
		"Authorization: Bearer tok", "Connection: keep-alive, X-Hop", "X-Hop: 1")
	r := up.request(t)

	t.Run("headers", func(t *testing.T) {
		tests := []struct{ name, got, want string }{
			{"status", http.StatusText(c.status), "OK"},
			{"Content-Type kept", c.header.Get("Content-Type"), "text/event-stream; charset=utf-8"},
			{"Cache-Control", c.header.Get("Cache-Control"), "no-cache"},
			{"X-Accel-Buffering", c.header.Get("X-Accel-Buffering"), "no"},
			{"upstream URI", r.RequestURI, "/feed/x?topic=a%20b"},
			{"Last-Event-ID", r.Header.Get("Last-Event-ID"), "41"},
			{"Accept", r.Header.Get("Accept"), "text/event-stream"},
			{"Cookie", r.Header.Get("Cookie"), "sid=abc"},
			{"Authorization", r.Header.Get("Authorization"), "Bearer tok"},
			{"hop-by-hop dropped", r.Header.Get("X-Hop"), ""},
			{"request id upstream", r.Header.Get("X-Request-Id"), c.header.Get("X-Request-Id")},
		}
		for _, tt := range tests {
			if tt.got != tt.want {
				t.Errorf("%s = %q, want %q", tt.name, tt.got, tt.want)
			}
		}
		if c.header.Get("X-Request-Id") == "" {
			t.Error("no x-request-id on the response")
		}
	})

	// Each event must arrive before the next is written: nothing waits for
	// more data or for the stream to end.
	for i := 1; i <= 5; i++ {
		up.send(t, stampedEvent(i))
		ev := c.event(t)
		if d := stampDelay(t, ev); d > firstEventWithin {
			t.Errorf("event %d arrived %v after it was written, want within %v", i, d, firstEventWithin)
		}
		if want := "id: " + string(rune('0'+i)); ev[0] != want {
			t.Errorf("event %d: got %q", i, ev)
		}
	}
}

func TestSSEHeartbeatWhileSilent(t *testing.T) {
	checkLeaks(t)
	up := newSSEUpstream(t, "text/event-stream")
	const hb = 50 * time.Millisecond
	gw := startGateway(t, up.srv.URL, hb)
	c := openStream(t, gw, "GET", "/sse/s/")
	up.request(t)

	start := time.Now()
	for range 3 {
		if l := c.line(t); l != ":" {
			t.Fatalf("got %q while the upstream was silent, want a heartbeat %q", l, ":")
		}
	}
	if d := time.Since(start); d < 2*hb || d > 30*hb {
		t.Errorf("3 heartbeats took %v, want about %v", d, 3*hb)
	}

	// A heartbeat never goes into a line the upstream has begun.
	up.send(t, "data: par")
	time.Sleep(4 * hb) // let heartbeats come due while the line is open
	up.send(t, "tial\n\n")
	if ev := c.event(t); len(ev) != 1 || ev[0] != "data: partial" {
		t.Fatalf("event split by a heartbeat: %q", ev)
	}
}

func TestSSEClientDisconnectClosesUpstream(t *testing.T) {
	checkLeaks(t)
	up := newSSEUpstream(t, "text/event-stream")
	gw := startGateway(t, up.srv.URL, 0) // no heartbeats: nothing is written while silent
	u := onlyUpstream(gw)
	c := openStream(t, gw, "GET", "/sse/s/")
	up.request(t)
	up.send(t, stampedEvent(1))
	c.event(t)
	if got := u.Inflight(); got != 1 {
		t.Errorf("inflight during the stream = %d, want 1", got)
	}
	if got := u.Snapshot().ActiveSSE; got != 1 {
		t.Errorf("active SSE during the stream = %d, want 1", got)
	}

	left := time.Now()
	c.conn.Close()
	gatewaytest.UpstreamSawLeave(t, up.gone, left)
	gatewaytest.Eventually(t, time.Second, func() bool {
		return u.Inflight() == 0 && u.Snapshot().ActiveSSE == 0
	}, "inflight and active SSE back to 0")
	if s := u.Snapshot(); s.Successes != 1 || s.Failures != 0 {
		t.Errorf("a client leaving counts as %d successes, %d failures; want 1, 0", s.Successes, s.Failures)
	}
}

func TestSSEUpstreamEndEndsClientStream(t *testing.T) {
	tests := []struct {
		name    string
		finish  func(*sseUpstream)
		clean   bool // the client gets the last chunk
		failure bool // counts as an upstream failure
	}{
		{"upstream returns", func(u *sseUpstream) { close(u.end) }, true, false},
		{"upstream dies", func(u *sseUpstream) { u.srv.CloseClientConnections() }, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			up := newSSEUpstream(t, "text/event-stream")
			gw := startGateway(t, up.srv.URL, 0)
			u := onlyUpstream(gw)
			c := openStream(t, gw, "GET", "/sse/s/")
			up.request(t)
			up.send(t, stampedEvent(1))
			c.event(t)
			tt.finish(up)
			err := c.ended(t, 2*time.Second)
			if clean := errors.Is(err, io.EOF); clean != tt.clean {
				t.Errorf("client stream ended with %v, want a clean end: %v", err, tt.clean)
			}
			gatewaytest.Eventually(t, time.Second, func() bool {
				return u.Inflight() == 0 && u.Snapshot().ActiveSSE == 0
			}, "inflight and active SSE back to 0")
			if s := u.Snapshot(); (s.Failures == 1) != tt.failure || s.Successes+s.Failures != 1 {
				t.Errorf("successes %d, failures %d; want a failure: %v", s.Successes, s.Failures, tt.failure)
			}
		})
	}
}

func TestSSEProxyTimeoutBoundsHeadersOnly(t *testing.T) {
	const timeout = 200 * time.Millisecond
	withTimeout := func(c *config.Config) { c.ProxyTimeout = timeout }

	t.Run("slow headers give 504", func(t *testing.T) {
		checkLeaks(t)
		up := newSSEUpstream(t, "text/event-stream")
		up.delay = 5 * timeout
		gw := startGateway(t, up.srv.URL, 0, withTimeout)
		start := time.Now()
		c := openStream(t, gw, "GET", "/sse/s/")
		if c.status != http.StatusGatewayTimeout {
			t.Fatalf("status %d, want 504", c.status)
		}
		if d := time.Since(start); d > 3*timeout {
			t.Errorf("504 after %v, want about %v", d, timeout)
		}
		if u := onlyUpstream(gw); u.Inflight() != 0 || u.Snapshot().ActiveSSE != 0 {
			t.Errorf("after the 504: inflight %d, active SSE %d", u.Inflight(), u.Snapshot().ActiveSSE)
		}
	})

	t.Run("quiet stream outlives the timeout", func(t *testing.T) {
		checkLeaks(t)
		up := newSSEUpstream(t, "text/event-stream")
		gw := startGateway(t, up.srv.URL, 0, withTimeout)
		c := openStream(t, gw, "GET", "/sse/s/")
		up.request(t)
		up.send(t, stampedEvent(1))
		c.event(t)
		time.Sleep(4 * timeout) // the silence under test: longer than HTTP_PROXY_TIMEOUT_MS
		up.send(t, stampedEvent(2))
		if ev := c.event(t); ev[0] != "id: 2" {
			t.Fatalf("after the silence: %q", ev)
		}
	})
}

func TestSSEHead(t *testing.T) {
	checkLeaks(t)
	up := newSSEUpstream(t, "text/event-stream")
	gw := startGateway(t, up.srv.URL, 0)
	u := onlyUpstream(gw)
	req, _ := http.NewRequest(http.MethodHead, gw.URL+"/sse/s/x", nil)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if r := up.request(t); r.Method != http.MethodHead {
		t.Errorf("upstream saw %s, want HEAD", r.Method)
	}
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" ||
		resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("HEAD: %d %v", resp.StatusCode, resp.Header)
	}
	gatewaytest.Eventually(t, time.Second, func() bool { return u.Inflight() == 0 }, "inflight back to 0")
}

func TestSSEOrdinaryAnswersPassThrough(t *testing.T) {
	tests := []struct {
		name, ctype string
		status      int
	}{
		{"json", "application/json", 200},
		{"error event stream", "text/event-stream", 503},
		{"not found", "text/plain", 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.ctype)
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, "whole body")
			}))
			t.Cleanup(up.Close)
			gw := startGateway(t, up.URL, 0)
			c := openStream(t, gw, "GET", "/sse/s/x")
			body, err := io.ReadAll(c.body)
			if err != nil {
				t.Fatal(err)
			}
			if c.status != tt.status || string(body) != "whole body" || c.header.Get("Content-Type") != tt.ctype {
				t.Errorf("got %d %q %q", c.status, c.header.Get("Content-Type"), body)
			}
			if c.header.Get("X-Accel-Buffering") != "" {
				t.Error("stream headers on an ordinary answer")
			}
			u := onlyUpstream(gw)
			gatewaytest.Eventually(t, time.Second, func() bool { return u.Inflight() == 0 }, "inflight back to 0")
		})
	}
}

func TestSSEUnknownService(t *testing.T) {
	checkLeaks(t)
	up := newSSEUpstream(t, "text/event-stream")
	gw := startGateway(t, up.srv.URL, 0)
	c := openStream(t, gw, "GET", "/sse/nope/x")
	if c.status != http.StatusNotFound {
		t.Fatalf("status %d, want 404", c.status)
	}
}

// An HTTP/1.0 client cannot read chunked bodies: it gets the stream as is,
// ended by the close.
func TestSSEHTTP10Client(t *testing.T) {
	checkLeaks(t)
	up := newSSEUpstream(t, "text/event-stream")
	gw := startGateway(t, up.srv.URL, 0)
	c := openStreamProto(t, gw.Addr, "HTTP/1.0", "GET", "/sse/s/")
	up.request(t)
	if te := c.header.Get("Transfer-Encoding"); te != "" || c.header.Get("Connection") != "close" {
		t.Errorf("HTTP/1.0 head: Transfer-Encoding %q, Connection %q", te, c.header.Get("Connection"))
	}
	up.send(t, stampedEvent(1))
	if ev := c.event(t); ev[0] != "id: 1" { // chunk framing would show as a line of its own
		t.Fatalf("first event: %q", ev)
	}
	close(up.end)
	if err := c.ended(t, 2*time.Second); !errors.Is(err, io.EOF) {
		t.Errorf("stream ended with %v, want the close", err)
	}
}

// TestSSEBurstsArriveWhole holds the raw relay to delivering every byte
// the upstream has written without waiting for more (see rawRead): events
// written back to back, as separate segments, may land while the relay is
// still writing the one before, and an event larger than the relay buffer
// takes several reads. There are no heartbeats, so no tick would rescue a
// stalled stream: a missed wake-up shows as a read that times out.
func TestSSEBurstsArriveWhole(t *testing.T) {
	tests := []struct {
		name   string
		rounds int
		burst  int // events written back to back
		size   int // data bytes per event
	}{
		{"small events back to back", 300, 3, 16},
		{"events larger than the relay buffer", 20, 2, 10000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkLeaks(t)
			up := newSSEUpstream(t, "text/event-stream")
			gw := startGateway(t, up.srv.URL, 0)
			c := openStream(t, gw, "GET", "/sse/s/feed")
			up.request(t)
			data := strings.Repeat("x", tt.size)
			for r := range tt.rounds {
				for i := range tt.burst {
					up.send(t, fmt.Sprintf("id: %d\ndata: %s\n\n", r*tt.burst+i, data))
				}
				_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Second))
				for i := range tt.burst {
					ev := c.event(t)
					if want := fmt.Sprintf("id: %d", r*tt.burst+i); len(ev) != 2 || ev[0] != want || ev[1] != "data: "+data {
						t.Fatalf("round %d: got %.60q, want %q and %d bytes of data", r, ev, want, tt.size)
					}
				}
			}
		})
	}
}

// An upstream whose last events and end (FIN, or a chunked body cut short)
// reach the gateway together ends the client's stream at once, even with
// no heartbeat ticks: the read that returns the last bytes may consume the
// end too, leaving no edge for the relay to wake on (the hang-up watcher
// reports it, and its report holds past a burst larger than one relay
// buffer). Repeated, since the bytes and the FIN do not always share a
// read.
func TestSSEUpstreamEndWithLastEvent(t *testing.T) {
	checkLeaks(t)
	const closeHead = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n"
	tests := []struct {
		name, head, last string
		events, runs     int
	}{
		{"close-delimited", closeHead, "data: x\n\n", 1, 5},
		{"chunked, cut short", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n",
			"9\r\ndata: x\n\n\r\n", 1, 5},
		{"burst over a relay buffer", closeHead, strings.Repeat("data: "+strings.Repeat("x", 48)+"\n\n", 700), 700, 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for range tt.runs {
				send := make(chan struct{})
				up := rawEventUpstream(t, tt.head, tt.last, send)
				gw := startGateway(t, up, 0)
				c := openStream(t, gw, "GET", "/sse/s/")
				close(send) // the stream is relayed and quiet: now the last events and the end
				for i := range tt.events {
					if got := c.event(t); len(got) != 1 || !strings.HasPrefix(got[0], "data: x") {
						t.Fatalf("event %d: %q, want data: x…", i, got)
					}
				}
				start := time.Now()
				_ = c.ended(t, 3*time.Second) // EOF, or unexpected EOF for the cut-short chunked body
				if d := time.Since(start); d > time.Second {
					t.Fatalf("client stream ended %v after the upstream's, want within 1s", d)
				}
			}
		})
	}
}

// rawEventUpstream answers one request with head, then, once send is
// closed, writes last and closes the connection at once.
func rawEventUpstream(t *testing.T, head, last string, send <-chan struct{}) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if _, err := http.ReadRequest(bufio.NewReader(c)); err != nil {
			return
		}
		_, _ = io.WriteString(c, head)
		select {
		case <-send:
			_, _ = io.WriteString(c, last)
		case <-time.After(10 * time.Second): // the test failed before sending
		}
	}()
	return "http://" + ln.Addr().String()
}
