package app_test

import (
	"testing"

	"gateway/internal/gatewaytest"
)

// A client's Connection field cannot nominate the fields the gateway sets
// for removal: the upstream still gets the request id and traceparent.
func TestConnectionCannotRemoveTheGatewaysHeaders(t *testing.T) {
	up := startRecordingUpstream(t)
	gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"s": {up.URL}}))

	const id = "client-id-7"
	st, _, _, body := rawGet(t, gw.Addr, "/api/s/x", "gw.example",
		"Connection: X-Request-Id, traceparent, X-Forwarded-For, X-Foo\r\n", "x-request-id: "+id+"\r\n", "X-Foo: 1\r\n")
	if st != 200 {
		t.Fatalf("status %d, body %q", st, body)
	}
	h := up.waitRequest(t, 1)
	if got := h.Get("X-Request-Id"); got != id {
		t.Errorf("upstream x-request-id %q, want %q", got, id)
	}
	if h.Get("Traceparent") == "" {
		t.Errorf("upstream got no traceparent")
	}
	if got := h.Get("X-Forwarded-For"); got != "127.0.0.1" {
		t.Errorf("upstream X-Forwarded-For %q, want 127.0.0.1", got)
	}
	if _, ok := h["X-Foo"]; ok {
		t.Errorf("upstream got X-Foo, which Connection named")
	}
}
