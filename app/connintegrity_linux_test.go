package app_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/valyala/fasthttp"

	"gateway/internal/gatewaytest"
)

// smuggled is a whole HTTP response an upstream sends where none was asked
// for: a gateway reusing the connection reads it as the next request's.
const smuggled = "HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"

// poisonUpstream is a raw TCP upstream. A request for /poison is answered
// with head, and extra follows: in the same write, or (late) only once the
// test calls sendLate, after the gateway has answered its client, so the
// bytes wait on the idle pooled connection rather than in the gateway's
// read buffer. Every other path is answered truthfully with "true:" and
// the path.
type poisonUpstream struct {
	addr     string
	accepted atomic.Int64
	late     chan chan struct{} // a request to send the late bytes, and its done signal
}

func startPoisonUpstream(t *testing.T, head, extra string, late bool) *poisonUpstream {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := &poisonUpstream{addr: ln.Addr().String(), late: make(chan chan struct{})}
	done := make(chan struct{})
	stop := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u.accepted.Add(1)
			go u.serve(t, c.(*net.TCPConn), head, extra, late, stop)
		}
	}()
	t.Cleanup(func() { close(stop); ln.Close(); <-done })
	return u
}

func (u *poisonUpstream) serve(t *testing.T, c *net.TCPConn, head, extra string, late bool, stop <-chan struct{}) {
	defer c.Close()
	go func() { <-stop; c.Close() }()
	br := bufio.NewReader(c)
	for {
		var req fasthttp.Request
		if err := req.Read(br); err != nil {
			return
		}
		path := string(req.URI().Path())
		if path != "/poison" {
			body := "true:" + path
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: "+strconv.Itoa(len(body))+"\r\n\r\n"+body); err != nil {
				return
			}
			continue
		}
		if !late {
			if _, err := io.WriteString(c, head+extra); err != nil {
				return
			}
			continue
		}
		if _, err := io.WriteString(c, head); err != nil {
			return
		}
		select {
		case ack := <-u.late:
			if _, err := io.WriteString(c, extra); err != nil {
				return
			}
			waitAcked(t, c)
			close(ack)
		case <-stop:
			return
		}
	}
}

// sendLate has the upstream send its late bytes and returns once the
// gateway's side of the connection has acknowledged them: they are in its
// socket's receive queue.
func (u *poisonUpstream) sendLate(t *testing.T) {
	t.Helper()
	ack := make(chan struct{})
	gatewaytest.Receive(t, chanOf(func() { u.late <- ack }), 5*time.Second, "the upstream to take the late bytes")
	gatewaytest.Receive(t, ack, 5*time.Second, "the late bytes to be acknowledged")
}

// chanOf runs f in a goroutine and returns a channel closed once it has run.
func chanOf(f func()) <-chan struct{} {
	ch := make(chan struct{})
	go func() { f(); close(ch) }()
	return ch
}

// waitAcked polls until c's send queue is empty (SIOCOUTQ: bytes not yet
// acknowledged by the peer), that is until the peer's kernel holds them.
func waitAcked(t *testing.T, c *net.TCPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		t.Error(err)
		return
	}
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		var queued int32
		var errno syscall.Errno
		if err := rc.Control(func(fd uintptr) {
			_, _, errno = syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCOUTQ, uintptr(unsafe.Pointer(&queued)))
		}); err != nil || errno != 0 {
			t.Errorf("SIOCOUTQ: %v %v", err, errno)
			return
		}
		if queued == 0 {
			return
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	t.Error("late bytes never acknowledged")
}

// An upstream that sends bytes nobody asked for (a body after HEAD, 204 or
// 304; more than its Content-Length; anything after a chunked body's end)
// must not have them read as another client's answer: the connection is
// closed, never reused, and counted.
func TestPooledConnectionLeftoverBytesNeverReachNextClient(t *testing.T) {
	big := strings.Repeat("b", 70000) // past the buffered limit: the body streams
	tests := []struct {
		name   string
		method string
		head   string
		extra  string
		late   bool
		reason string // "" when either reason may count, depending on segmenting
	}{
		{"HEAD with a body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 46\r\n\r\n", smuggled, false, "unread_bytes"},
		{"HEAD with a late body", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 46\r\n\r\n", smuggled, true, "idle_bytes"},
		{"204 with a body", "GET", "HTTP/1.1 204 No Content\r\n\r\n", smuggled, false, "unread_bytes"},
		{"204 with a late body", "GET", "HTTP/1.1 204 No Content\r\n\r\n", smuggled, true, "idle_bytes"},
		{"304 with a late body", "GET", "HTTP/1.1 304 Not Modified\r\nETag: \"x\"\r\n\r\n", smuggled, true, "idle_bytes"},
		{"Content-Length 5, 51 bytes", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", smuggled, false, "unread_bytes"},
		{"Content-Length 5, 51 bytes late", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", smuggled, true, "idle_bytes"},
		{"streamed body, then more", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 70000\r\n\r\n" + big, smuggled, true, "idle_bytes"},
		{"chunked body, then more", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", smuggled, true, "idle_bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := startPoisonUpstream(t, tt.head, tt.extra, tt.late)
			url := "http://" + up.addr
			gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"svc": {url}}))
			client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}

			req, _ := http.NewRequest(tt.method, gw.URL+"/api/svc/poison", nil)
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if tt.late {
				up.sendLate(t)
			}

			// Client 2: a different request, which must get its own answer.
			resp, err = client.Get(gw.URL + "/api/svc/fine")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(body) != "true:/fine" || resp.StatusCode != 200 {
				t.Fatalf("second client got %d %q, want 200 \"true:/fine\"", resp.StatusCode, body)
			}
			if n := up.accepted.Load(); n != 2 {
				t.Errorf("upstream accepted %d connections, want 2 (the dirty one closed)", n)
			}
			labels := map[string]string{"service": "svc", "upstream": url}
			if tt.reason != "" {
				labels["reason"] = tt.reason
			}
			if got := value(scrape(t, gw.URL), "gateway_upstream_conns_discarded_total", labels); got != 1 {
				t.Errorf("gateway_upstream_conns_discarded_total%v = %v, want 1", labels, got)
			}
		})
	}
}
