package app_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"gateway/internal/gatewaytest"
)

// bodyCounter is a loopback upstream that reads each request body whole
// and answers 200 with the number of bytes it got; how each read ended
// (nil, or the error that cut the body) goes to the returned channel.
func bodyCounter(t *testing.T) (*httptest.Server, <-chan error) {
	t.Helper()
	ended := make(chan error, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		ended <- err
		_, _ = io.WriteString(w, strconv.FormatInt(n, 10))
	}))
	t.Cleanup(srv.Close)
	return srv, ended
}

// rawUpload opens a connection to the gateway and sends the head of a POST
// announcing size bytes.
func rawUpload(t *testing.T, addr string, size int) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	head := "POST /api/s/upload HTTP/1.1\r\nHost: gw\r\nContent-Length: " + strconv.Itoa(size) + "\r\n\r\n"
	if _, err := io.WriteString(c, head); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// bodyTimeoutGateway serves service "s" at up with a request head bound of
// 200 ms and a body silence bound of one second.
func bodyTimeoutGateway(t *testing.T, up string) (*gatewaytest.Gateway, time.Duration) {
	t.Helper()
	cfg := gatewaytest.Config(map[string][]string{"s": {up}})
	cfg.ServerReadTimeout = 200 * time.Millisecond
	cfg.ClientBodyTimeout = time.Second
	cfg.CBFailureThreshold = 1
	return gatewaytest.Start(t, cfg), cfg.ClientBodyTimeout
}

// SERVER_READ_TIMEOUT_MS bounds the request head only: an upload that
// keeps coming, for many times that timeout, is relayed whole.
func TestSteadyUploadOutlivesServerReadTimeout(t *testing.T) {
	up, ended := bodyCounter(t)
	gw, _ := bodyTimeoutGateway(t, up.URL)

	const chunks, chunk = 30, 1024
	c, br := rawUpload(t, gw.Addr, chunks*chunk)
	tick := time.NewTicker(50 * time.Millisecond) // the upload's pace, 1.5 s in all
	defer tick.Stop()
	for i := range chunks {
		if _, err := c.Write([]byte(strings.Repeat("x", chunk))); err != nil {
			t.Fatalf("chunk %d: %v (the gateway cut a steady upload)", i, err)
		}
		<-tick.C
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != strconv.Itoa(chunks*chunk) {
		t.Fatalf("steady 1.5 s upload under a 200 ms SERVER_READ_TIMEOUT_MS: %d %q, want 200 %d", resp.StatusCode, body, chunks*chunk)
	}
	if err := gatewaytest.Receive(t, ended, 5*time.Second, "the upstream to read the body"); err != nil {
		t.Fatalf("upstream read the body with %v", err)
	}
}

// A body that falls silent for longer than CLIENT_BODY_TIMEOUT_MS is
// answered 408 in the JSON error shape, its upstream connection is closed
// (the upstream sees its body cut) and the client's too, and the upstream
// is not blamed: no failure, breaker closed.
func TestStalledBodyGets408(t *testing.T) {
	up, ended := bodyCounter(t)
	gw, idle := bodyTimeoutGateway(t, up.URL)

	c, br := rawUpload(t, gw.Addr, 64<<10)
	if _, err := c.Write(make([]byte, 16<<10)); err != nil { // past the buffers: the upstream sees the request
		t.Fatal(err)
	}
	silent := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(silent); waited < idle {
		t.Errorf("answered %v into the silence, before CLIENT_BODY_TIMEOUT_MS (%v)", waited, idle)
	}
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("stalled body: status %d, want 408", resp.StatusCode)
	}
	if e := readError(t, resp); e.Error != "request body timed out" {
		t.Errorf("error %q", e.Error)
	}
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("after the 408 the client connection is still open (read: %v)", err)
	}
	if err := gatewaytest.Receive(t, ended, 5*time.Second, "the upstream's body read to end"); err == nil {
		t.Error("the upstream read a complete body; its connection should have been closed mid-body")
	}

	gatewaytest.Eventually(t, 5*time.Second, func() bool {
		return gw.App.Pool().Snapshot().Services[0].Upstreams[0].Inflight == 0
	}, "the stalled upload's lease to end")
	u := gw.App.Pool().Snapshot().Services[0].Upstreams[0]
	if u.Failures != 0 || u.State.String() != "closed" || u.Canceled != 1 {
		raw, _ := json.Marshal(u)
		t.Fatalf("a client's stalled body was blamed on the upstream: %s", raw)
	}
}
