package upstream

import (
	"bufio"
	"errors"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// rawUpstream answers every request on a connection with the same raw
// bytes, keeping the connection open unless close is set. It counts the
// connections it accepted.
func rawUpstream(t *testing.T, answer string, closeAfter bool) (addr string, conns func() int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{}, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			go func(c net.Conn) {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					var req fasthttp.Request
					if err := req.Read(br); err != nil {
						return
					}
					if _, err := io.WriteString(c, answer); err != nil || closeAfter {
						return
					}
				}
			}(c)
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), func() int { return len(accepted) }
}

func newTestClient(addr string) *fasthttp.HostClient {
	return &fasthttp.HostClient{Addr: addr, Transport: &transport{timeout: 2 * time.Second}, MaxIdemponentCallAttempts: 1,
		Dial: func(a string) (net.Conn, error) { return net.Dial("tcp", a) }}
}

func TestTransportAnswers(t *testing.T) {
	big := strings.Repeat("b", bufferedBodyLimit+1)
	tests := []struct {
		name       string
		answer     string
		head       bool
		wantStatus int
		wantBody   string
		wantStream bool
		reuse      bool // the second request rides the first one's connection
	}{
		{"small fixed body is buffered", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false, 200, "hello", false, true},
		{"large fixed body streams", "HTTP/1.1 200 OK\r\nContent-Length: " + itoa(len(big)) + "\r\n\r\n" + big, false, 200, big, true, true},
		{"chunked body streams", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n", false, 200, "abcde", true, true},
		{"1xx skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", false, 201, "ok", false, true},
		{"204 has no body", "HTTP/1.1 204 No Content\r\n\r\n", false, 204, "", false, true},
		{"HEAD has no body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", true, 200, "", false, true},
		{"connection close honoured", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", false, 200, "ok", false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, conns := rawUpstream(t, tt.answer, false)
			hc := newTestClient(addr)
			defer hc.CloseIdleConnections()
			for i := 0; i < 2; i++ {
				req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
				req.SetRequestURI("http://" + addr + "/x")
				if tt.head {
					req.Header.SetMethod("HEAD")
				}
				if err := hc.Do(req, resp); err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if resp.IsBodyStream() != tt.wantStream {
					t.Fatalf("streamed = %v, want %v", resp.IsBodyStream(), tt.wantStream)
				}
				if resp.StatusCode() != tt.wantStatus || string(resp.Body()) != tt.wantBody {
					t.Fatalf("got %d %.20q, want %d %.20q", resp.StatusCode(), resp.Body(), tt.wantStatus, tt.wantBody)
				}
				fasthttp.ReleaseRequest(req)
				fasthttp.ReleaseResponse(resp)
			}
			want := 1
			if !tt.reuse {
				want = 2
			}
			if got := conns(); got != want {
				t.Fatalf("upstream accepted %d connections for 2 requests, want %d", got, want)
			}
		})
	}
}

func TestTransportBrokenBodies(t *testing.T) {
	tests := []struct {
		name    string
		answer  string
		wantErr error
	}{
		{"closed before answering", "", fasthttp.ErrConnectionClosed},
		{"truncated fixed body", "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\nshort", io.ErrUnexpectedEOF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, _ := rawUpstream(t, tt.answer, true)
			hc := newTestClient(addr)
			defer hc.CloseIdleConnections()
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI("http://" + addr + "/x")
			err := hc.Do(req, resp)
			if err == nil {
				_, err = io.Copy(io.Discard, resp.BodyStream())
				_ = resp.CloseBodyStream()
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

// A stream closed before its end closes the upstream connection: the rest
// of the body is still on the wire.
func TestTransportEarlyCloseDiscardsConnection(t *testing.T) {
	big := strings.Repeat("b", 4*bufferedBodyLimit)
	addr, conns := rawUpstream(t, "HTTP/1.1 200 OK\r\nContent-Length: "+itoa(len(big))+"\r\n\r\n"+big, false)
	hc := newTestClient(addr)
	defer hc.CloseIdleConnections()
	for i := 0; i < 2; i++ {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + addr + "/x")
		if err := hc.Do(req, resp); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 10)
		if _, err := io.ReadFull(resp.BodyStream(), buf); err != nil {
			t.Fatal(err)
		}
		_ = resp.CloseBodyStream()
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	if got := conns(); got != 2 {
		t.Fatalf("upstream accepted %d connections, want 2 (an abandoned body's connection is not reused)", got)
	}
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	for {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			return string(b[i:])
		}
	}
}

// Trailers that arrive after the last chunk, in a later segment, are read
// with the body, so the next response on the pooled connection starts clean.
func TestTransportChunkedTrailersLeaveConnectionClean(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var accepted atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		accepted.Add(1)
		defer c.Close()
		br := bufio.NewReader(c)
		for i := 0; ; i++ {
			var req fasthttp.Request
			if err := req.Read(br); err != nil {
				return
			}
			_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n3\r\nabc\r\n0\r\n")
			time.Sleep(20 * time.Millisecond) // the trailer comes in a segment of its own
			_, _ = io.WriteString(c, "X-T: 1\r\n\r\n")
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	addr := ln.Addr().String()
	hc := newTestClient(addr)
	defer hc.CloseIdleConnections()
	for i := 0; i < 3; i++ {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		req.SetRequestURI("http://" + addr + "/x")
		if err := hc.Do(req, resp); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if string(resp.Body()) != "abc" {
			t.Fatalf("request %d: body %q", i, resp.Body())
		}
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("%d connections for 3 requests, want 1 reused", n)
	}
}
