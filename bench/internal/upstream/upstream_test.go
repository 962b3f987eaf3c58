package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestJSONBody(t *testing.T) {
	for _, n := range []int{64, 512, 4096} {
		b := JSONBody(n)
		if len(b) != n || !json.Valid(b) {
			t.Errorf("JSONBody(%d): %d bytes, valid %v", n, len(b), json.Valid(b))
		}
	}
}

// The three paths answer as the scenarios expect, over a real listener.
func TestServe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, []string{addr}) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	c := &fasthttp.HostClient{Addr: addr}
	tests := []struct {
		method, path string
		body         []byte
		status, size int
		contains     string
	}{
		{"GET", PathJSON, nil, 200, JSONBytes, `"name":"bench"`},
		{"GET", PathBig, nil, 200, BigBytes, "aaaa"},
		{"POST", PathSink, bytes.Repeat([]byte("x"), 65536), 200, -1, `{"received":65536}`},
		{"GET", PathSink, nil, 405, -1, ""},
		{"GET", "/nope", nil, 404, -1, ""},
	}
	for _, tt := range tests {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + addr + tt.path)
		req.Header.SetMethod(tt.method)
		req.SetBody(tt.body)
		var err error
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
			if err = c.Do(req, resp); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond) // polling for the listener, not waiting for an outcome
		}
		if err != nil {
			t.Fatalf("%s %s: %v", tt.method, tt.path, err)
		}
		if resp.StatusCode() != tt.status || (tt.size >= 0 && len(resp.Body()) != tt.size) ||
			!bytes.Contains(resp.Body(), []byte(tt.contains)) {
			t.Errorf("%s %s: %d, %d bytes %.40q", tt.method, tt.path, resp.StatusCode(), len(resp.Body()), resp.Body())
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
}
