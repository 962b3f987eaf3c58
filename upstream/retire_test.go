package upstream

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// startServer serves "ok" on a loopback listener until the test ends. It is
// a net/http server: fasthttp's server leaves a worker cleaner sleeping
// for seconds after Shutdown, which the leak check would report.
func startServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// fetch makes one request through c and leaves its connection idle in c.
func fetch(t *testing.T, c *fasthttp.HostClient, base string) {
	t.Helper()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	req.SetRequestURI(base + "/")
	if err := c.Do(req, resp); err != nil {
		t.Fatalf("Do: %v", err)
	}
	if string(resp.Body()) != "ok" {
		t.Fatalf("body = %q", resp.Body())
	}
	if err := resp.CloseBodyStream(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return c.ConnsCount() == 1 }, "one idle connection after the request")
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// TestRetiredUpstreamReleasesConnections checks, against a real loopback
// server, that a removed upstream's idle connections close only once its
// last lease or stream ends.
func TestRetiredUpstreamReleasesConnections(t *testing.T) {
	tests := []struct {
		name   string
		stream bool // hold an SSE stream instead of a lease
		hold   bool // something in use at the reload
	}{
		{"idle upstream closes at once", false, false},
		{"in-flight lease delays the close", false, true},
		{"open stream delays the close", true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := startServer(t)
			p, err := New(Options{Services: map[string][]string{"s": {base}}})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			lease := mustPick(t, p, "s", nil)
			u := lease.Upstream()
			c := u.Client()
			if tt.stream {
				c = u.StreamClient()
				u.StreamOpened(SSE)
			}
			fetch(t, c, base)
			if !tt.hold || tt.stream {
				lease.Done(status(200))
			}
			if err := p.Replace(map[string][]string{"other": {"http://127.0.0.1:1"}}); err != nil {
				t.Fatal(err)
			}
			if !tt.hold {
				if n := c.ConnsCount(); n != 0 {
					t.Fatalf("idle retired upstream has %d connections, want 0", n)
				}
				return
			}
			if n := c.ConnsCount(); n != 1 {
				t.Fatalf("retired upstream in use has %d connections, want 1 kept", n)
			}
			if tt.stream {
				u.StreamClosed(SSE)
			} else {
				lease.Done(status(200))
			}
			if n := c.ConnsCount(); n != 0 {
				t.Errorf("after the last use ended: %d connections, want 0", n)
			}
		})
	}
}
