package handlers_test

import (
	"errors"
	"net"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"gateway/internal/gatewaytest"
)

// Pings pass through both ways and are answered by the far end, whose pong
// comes back through the bridge with the same payload.
func TestWSPingPongPassThrough(t *testing.T) {
	checkLeaks(t)
	upPings, upPongs := make(chan string, 4), make(chan string, 4)
	up := startWSUpstream(t, nil, func(c *websocket.Conn) {
		c.SetPingHandler(func(data string) error {
			upPings <- data
			return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
		})
		c.SetPongHandler(func(data string) error { upPongs <- data; return nil })
		if err := c.WriteControl(websocket.PingMessage, []byte("from-upstream"), time.Now().Add(time.Second)); err != nil {
			return
		}
		echo(c)
	})
	gw := gatewaytest.Start(t, wsConfig(map[string][]string{"s": {up.URL}}))
	c := dialWS(t, wsURL(gw, "s", ""), nil)

	clientPings, clientPongs := make(chan string, 4), make(chan string, 4)
	c.SetPingHandler(func(data string) error {
		clientPings <- data
		return c.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	c.SetPongHandler(func(data string) error { clientPongs <- data; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("from-client"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	// Control frames are handled while reading; an echoed message ends the read.
	if err := c.WriteMessage(websocket.TextMessage, []byte("sync")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := c.ReadMessage(); err != nil {
		t.Fatal(err)
	}
	for _, w := range []struct {
		what string
		ch   chan string
		want string
	}{
		{"upstream got the client's ping", upPings, "from-client"},
		{"client got the upstream's pong", clientPongs, "from-client"},
		{"client got the upstream's ping", clientPings, "from-upstream"},
	} {
		if got := gatewaytest.Receive(t, w.ch, 5*time.Second, w.what); got != w.want {
			t.Errorf("%s: payload %q, want %q", w.what, got, w.want)
		}
	}
	// The client's pong reaches the upstream once the upstream reads again.
	if err := c.WriteMessage(websocket.TextMessage, []byte("sync")); err != nil {
		t.Fatal(err)
	}
	if got := gatewaytest.Receive(t, upPongs, 5*time.Second, "the upstream's pong"); got != "from-upstream" {
		t.Errorf("upstream got pong %q, want from-upstream", got)
	}
}

// A close frame's code and reason reach the other side, whose reply comes
// back; then both connections end.
func TestWSCloseCodesBothWays(t *testing.T) {
	checkLeaks(t)
	tests := []struct {
		name       string
		fromClient bool
		code       int
		reason     string
	}{
		{"client normal", true, websocket.CloseNormalClosure, "bye"},
		{"client application code", true, 4001, "room closed"},
		{"client going away", true, websocket.CloseGoingAway, ""},
		{"upstream normal", false, websocket.CloseNormalClosure, "done"},
		{"upstream application code", false, 4002, "kicked"},
		{"upstream policy violation", false, websocket.ClosePolicyViolation, "nope"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			upGot := make(chan *websocket.CloseError, 1)
			upReply := make(chan *websocket.CloseError, 1)
			up := startWSUpstream(t, nil, func(c *websocket.Conn) {
				if !tt.fromClient {
					_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(tt.code, tt.reason), time.Now().Add(time.Second))
					_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
					_, _, err := c.ReadMessage()
					var ce *websocket.CloseError
					errors.As(err, &ce)
					upReply <- ce
					return
				}
				c.SetCloseHandler(func(code int, text string) error {
					upGot <- &websocket.CloseError{Code: code, Text: text}
					return c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, "ack"), time.Now().Add(time.Second))
				})
				_, _, _ = c.ReadMessage()
			})
			gw := gatewaytest.Start(t, wsConfig(map[string][]string{"s": {up.URL}}))
			c := dialWS(t, wsURL(gw, "s", ""), nil)
			before := gwStats(t, gw).Closes
			if tt.fromClient {
				if err := c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(tt.code, tt.reason), time.Now().Add(time.Second)); err != nil {
					t.Fatal(err)
				}
				ce := gatewaytest.Receive(t, upGot, 5*time.Second, "the upstream's close frame")
				if ce.Code != tt.code || ce.Text != tt.reason {
					t.Errorf("upstream got close %d %q, want %d %q", ce.Code, ce.Text, tt.code, tt.reason)
				}
				if reply := readClose(t, c, 5*time.Second); reply.Code != tt.code || reply.Text != "ack" {
					t.Errorf("client got reply %d %q, want the upstream's %d \"ack\"", reply.Code, reply.Text, tt.code)
				}
			} else {
				c.SetCloseHandler(func(int, string) error { return nil }) // reply by hand, with a reason
				ce := readClose(t, c, 5*time.Second)
				if ce.Code != tt.code || ce.Text != tt.reason {
					t.Errorf("client got close %d %q, want %d %q", ce.Code, ce.Text, tt.code, tt.reason)
				}
				_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(ce.Code, "client ack"), time.Now().Add(time.Second))
				reply := gatewaytest.Receive(t, upReply, 5*time.Second, "the upstream's reply")
				if reply == nil || reply.Code != tt.code || reply.Text != "client ack" {
					t.Errorf("upstream got reply %v, want %d \"client ack\"", reply, tt.code)
				}
			}
			// Both sockets end: the client's next read fails, the bridge is gone.
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := c.ReadMessage(); err == nil || isTimeout(err) {
				t.Fatalf("client connection still open after the close handshake: %v", err)
			}
			gatewaytest.Eventually(t, 5*time.Second, func() bool { return gwStats(t, gw).Active == 0 }, "the bridge to end")
			key := closeKey(tt.code)
			if got := gwStats(t, gw).Closes[key] - before[key]; got != 1 {
				t.Errorf("closes[%s] +%d, want +1", key, got)
			}
		})
	}
}

// A message over WS_MAX_MESSAGE_BYTES ends the bridge with 1009 on both
// sides; one at the limit passes.
func TestWSMessageTooBig(t *testing.T) {
	checkLeaks(t)
	upClose := make(chan int, 1)
	up := startWSUpstream(t, nil, func(c *websocket.Conn) {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					upClose <- ce.Code
				}
				return
			}
			_ = c.WriteMessage(websocket.TextMessage, []byte("got it"))
		}
	})
	cfg := wsConfig(map[string][]string{"s": {up.URL}})
	cfg.WSMaxMessageBytes = 4096
	gw := gatewaytest.Start(t, cfg)
	c := dialWS(t, wsURL(gw, "s", ""), nil)
	if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if _, m, err := c.ReadMessage(); err != nil || string(m) != "got it" {
		t.Fatalf("message at the limit: %q %v", m, err)
	}
	if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, 4097)); err != nil {
		t.Fatal(err)
	}
	if ce := readClose(t, c, 5*time.Second); ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("client got close %d, want 1009", ce.Code)
	}
	if code := gatewaytest.Receive(t, upClose, 5*time.Second, "the upstream's close frame"); code != websocket.CloseMessageTooBig {
		t.Fatalf("upstream got close %d, want 1009", code)
	}
}

// A side that stops answering pings for two intervals is closed with 1001
// and the other side is told; a side that answers stays open.
func TestWSKeepalive(t *testing.T) {
	checkLeaks(t)
	upClose := make(chan *websocket.CloseError, 1)
	up := startWSUpstream(t, nil, func(c *websocket.Conn) {
		// Reads, so it answers the gateway's pings.
		_, _, err := c.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			upClose <- ce
		}
	})
	cfg := wsConfig(map[string][]string{"s": {up.URL}})
	cfg.WSPingInterval = 100 * time.Millisecond
	gw := gatewaytest.Start(t, cfg)

	// A client that reads answers pings and outlives many intervals.
	alive := dialWS(t, wsURL(gw, "s", ""), nil)
	pings := make(chan struct{}, 100)
	alive.SetPingHandler(func(data string) error {
		pings <- struct{}{}
		return alive.WriteControl(websocket.PongMessage, []byte(data), time.Now().Add(time.Second))
	})
	readErr := make(chan error, 1)
	go func() {
		_, _, err := alive.ReadMessage()
		readErr <- err
	}()
	for range 8 { // 8 pings: 800ms, four times the silence limit
		select {
		case <-pings:
		case err := <-readErr:
			t.Fatalf("answering client closed: %v", err)
		case <-time.After(2 * time.Second):
			t.Fatal("no keep-alive ping")
		}
	}
	alive.Close()
	<-readErr
	<-upClose // the upstream of the first bridge is told the client went away

	// A client that never reads never answers.
	start := time.Now() // before the bridge exists, so its silence cannot have begun earlier
	silent := dialWS(t, wsURL(gw, "s", ""), nil)
	ce := gatewaytest.Receive(t, upClose, 5*time.Second, "the silent client's bridge to close")
	if ce.Code != websocket.CloseGoingAway {
		t.Fatalf("upstream got close %d %q, want 1001", ce.Code, ce.Text)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Fatalf("closed after %v, before two intervals", d)
	}
	if ce := readClose(t, silent, 5*time.Second); ce.Code != websocket.CloseGoingAway {
		t.Fatalf("silent client got close %d %q, want 1001", ce.Code, ce.Text)
	}
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// A client whose application hangs (its kernel still takes data, it never
// reads and never answers a ping) is ended by the keep-alive, even while
// the upstream keeps sending it small messages that its kernel accepts.
func TestWSHungClientPingTimedOut(t *testing.T) {
	checkLeaks(t)
	up := startWSUpstream(t, nil, func(c *websocket.Conn) {
		go func() { // answers the gateway's pings until the bridge ends
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for range tick.C {
			if err := c.WriteMessage(websocket.TextMessage, []byte("tick")); err != nil {
				return
			}
		}
	})
	cfg := wsConfig(map[string][]string{"s": {up.URL}})
	cfg.WSPingInterval = 200 * time.Millisecond
	gw := gatewaytest.Start(t, cfg)
	c, err := net.Dial("tcp", gw.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := rawStatus(t, c, "GET /ws/s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"); got != 101 {
		t.Fatalf("status %d, want 101", got)
	}
	// Never reads again: the pings stay unanswered.
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return gwStats(t, gw).Active == 1 }, "the bridge to start")
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return gwStats(t, gw).Active == 0 }, "the hung client's bridge to end")
	if n := gwStats(t, gw).Closes["1001"]; n != 1 {
		t.Fatalf("closes[1001] = %d, want 1 (ping timeout)", n)
	}
}
