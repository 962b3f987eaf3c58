package handlers_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"gateway/internal/gatewaytest"
)

// heapInUse returns the heap in use after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// An upstream writing as fast as it can to a client that does not read is
// pushed back (its writes block) instead of the gateway buffering; the
// stuck client is closed with 1013 after the write deadline (one ping
// interval) and the upstream is told.
func TestWSSlowReaderBackpressure(t *testing.T) {
	checkLeaks(t)
	var written atomic.Int64
	var lastWrite atomic.Int64 // unix nanos
	upClose := make(chan *websocket.CloseError, 1)
	up := startWSUpstream(t, nil, func(c *websocket.Conn) {
		read := make(chan struct{})
		go func() { // the reader: control frames and the final close
			defer close(read)
			_, _, err := c.ReadMessage()
			var ce *websocket.CloseError
			errors.As(err, &ce)
			upClose <- ce
		}()
		msg := bytes.Repeat([]byte("x"), 64<<10)
		for {
			_ = c.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
				<-read // the close frame's handler waits for this writer to fail
				return
			}
			written.Add(int64(len(msg)))
			lastWrite.Store(time.Now().UnixNano())
		}
	})
	cfg := wsConfig(map[string][]string{"s": {up.URL}})
	cfg.WSPingInterval = 400 * time.Millisecond
	gw := gatewaytest.Start(t, cfg)
	base := heapInUse()

	c := dialWS(t, wsURL(gw, "s", ""), nil) // never reads
	stopPings := make(chan struct{})
	pinged := make(chan struct{})
	go func() { // stays visibly alive: its pings pass through to the upstream
		defer close(pinged)
		for {
			select {
			case <-stopPings:
				return
			case <-time.After(50 * time.Millisecond):
				if c.WriteControl(websocket.PingMessage, []byte("hi"), time.Now().Add(time.Second)) != nil {
					return
				}
			}
		}
	}()
	defer func() { close(stopPings); <-pinged }()

	// While stuck, the gateway holds at most a chunk: the rest waits in the
	// sockets, and the upstream's writes stop.
	gatewaytest.Eventually(t, 5*time.Second, func() bool {
		return lastWrite.Load() != 0 && time.Since(time.Unix(0, lastWrite.Load())) > 150*time.Millisecond
	}, "the upstream's writes to block")
	if grown := int64(heapInUse()) - int64(base); grown > 8<<20 {
		t.Errorf("heap grew %d KiB while the client was stuck (upstream wrote %d KiB)", grown>>10, written.Load()>>10)
	}
	if ce := gatewaytest.Receive(t, upClose, 5*time.Second, "the stuck bridge to close"); ce == nil || ce.Code != websocket.CloseTryAgainLater {
		t.Fatalf("upstream got %v, want close 1013", ce)
	}
	t.Logf("upstream wrote %d KiB before being pushed back", written.Load()>>10)
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return gwStats(t, gw).Active == 0 }, "the bridge to end")
	if n := gwStats(t, gw).Closes["1013"]; n != 1 {
		t.Fatalf("closes[1013] = %d, want 1", n)
	}
}

// 500 bridges at once each echo their own messages, in order, of mixed
// types and sizes.
func TestWSConcurrentBridges(t *testing.T) {
	checkLeaks(t)
	const bridges, perBridge = 500, 20
	up := startWSUpstream(t, nil, echo)
	cfg := wsConfig(map[string][]string{"s": {up.URL}})
	// 500 handshakes at once under -race on a busy 2-core machine can take
	// seconds to be accepted: this test is about echo order, not timeouts.
	cfg.DialTimeout, cfg.ProxyTimeout = 15*time.Second, 30*time.Second
	gw := gatewaytest.Start(t, cfg)

	var wg sync.WaitGroup
	errs := make(chan error, bridges)
	for i := range bridges {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- echoSession(gw, i, perBridge)
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			if failed < 5 {
				t.Error(err)
			}
			failed++
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d bridges failed", failed, bridges)
	}
	gatewaytest.Eventually(t, 10*time.Second, func() bool { return gwStats(t, gw).Active == 0 }, "every bridge to end")
	s := gwStats(t, gw)
	for _, dir := range []string{"to_upstream", "to_client"} {
		if s.Messages[dir] != bridges*perBridge {
			t.Errorf("messages %s = %d, want %d", dir, s.Messages[dir], bridges*perBridge)
		}
	}
	if s.Bytes["to_upstream"] != s.Bytes["to_client"] || s.Bytes["to_upstream"] == 0 {
		t.Errorf("bytes to_upstream %d, to_client %d: want equal and non-zero", s.Bytes["to_upstream"], s.Bytes["to_client"])
	}
}

// echoSession opens one bridge, sends n messages and checks each echo.
func echoSession(gw *gatewaytest.Gateway, id, n int) error {
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
	c, resp, err := d.Dial(wsURL(gw, "s", fmt.Sprintf("path=/b/%d", id)), nil)
	if err != nil {
		if resp != nil {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("bridge %d: dial: %w (%d %s)", id, err, resp.StatusCode, b)
		}
		return fmt.Errorf("bridge %d: dial: %w", id, err)
	}
	defer c.Close()
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	for j := range n {
		typ, msg := websocket.TextMessage, []byte(fmt.Sprintf("bridge %d message %d", id, j))
		if j%3 == 0 {
			typ, msg = websocket.BinaryMessage, pattern(1+(id*j)%20000, uint64(id*1000+j))
		}
		if err := c.WriteMessage(typ, msg); err != nil {
			return fmt.Errorf("bridge %d: write %d: %w", id, j, err)
		}
		gt, got, err := c.ReadMessage()
		if err != nil {
			return fmt.Errorf("bridge %d: read %d: %w", id, j, err)
		}
		if gt != typ || !bytes.Equal(got, msg) {
			return fmt.Errorf("bridge %d: message %d came back as type %d, %d bytes; sent type %d, %d bytes", id, j, gt, len(got), typ, len(msg))
		}
	}
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				return nil
			}
			return fmt.Errorf("bridge %d: close: %w", id, err)
		}
	}
}

// Shutdown closes every bridge with 1001 on both sides before it returns.
func TestWSShutdownClosesBridges(t *testing.T) {
	checkLeaks(t)
	const bridges = 3
	upCloses := make(chan int, bridges)
	up := startWSUpstream(t, nil, func(c *websocket.Conn) {
		for {
			if _, _, err := c.ReadMessage(); err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					upCloses <- ce.Code
				} else {
					upCloses <- 0
				}
				return
			}
		}
	})
	cfg := wsConfig(map[string][]string{"s": {up.URL}})
	gw, served := gatewaytest.Serve(t, cfg)
	a := gw.App

	clients := make([]*websocket.Conn, bridges)
	closes := make(chan int, bridges)
	for i := range clients {
		clients[i] = dialWS(t, wsURL(gw, "s", ""), nil)
		go func(c *websocket.Conn) {
			_, _, err := c.ReadMessage()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				closes <- ce.Code
			} else {
				closes <- 0
			}
		}(clients[i])
	}
	if d := shutdown(t, gw, 5*time.Second); d > 3*time.Second {
		t.Errorf("shutdown took %v", d)
	}
	<-served
	for range bridges {
		for what, ch := range map[string]chan int{"client": closes, "upstream": upCloses} {
			if code := gatewaytest.Receive(t, ch, time.Second, "a "+what+" closed by the shutdown"); code != websocket.CloseGoingAway {
				t.Errorf("%s got close %d, want 1001", what, code)
			}
		}
	}
	if n := a.Pool().Snapshot().Services[0].Upstreams[0].ActiveWebSocket; n != 0 {
		t.Errorf("%d bridges counted after shutdown", n)
	}
}

// BenchmarkWSRoundTrip is one small message through the bridge and back
// (an echo upstream): two relayed messages per operation.
func BenchmarkWSRoundTrip(b *testing.B) {
	up := startWSUpstream(&testing.T{}, nil, echo)
	defer up.Close()
	gw := gatewaytest.Start(b, wsConfig(map[string][]string{"s": {up.URL}}))
	c, _, err := websocket.DefaultDialer.Dial(wsURL(gw, "s", ""), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	msg := []byte("0123456789abcdef0123456789abcdef")
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.ReadMessage(); err != nil {
			b.Fatal(err)
		}
	}
}

// A client that reads slowly but steadily is never cut: its write deadline
// (one ping interval) bounds a stall, not the time a large backlog takes to
// drain, and its pongs, which arrive behind that backlog, are not needed to
// show it alive while it keeps accepting data. Its receive buffer is small
// and the gateway's send buffer large, so each write to it waits well over
// a ping interval for the kernel to wake the writer.
func TestWSSlowSteadyReaderNotCut(t *testing.T) {
	checkLeaks(t)
	const total, msgSize = 8 << 20, 64 << 10
	up := startWSUpstream(t, nil, func(c *websocket.Conn) {
		read := make(chan struct{})
		go func() { // answers the gateway's pings until the bridge ends
			defer close(read)
			for {
				if _, _, err := c.ReadMessage(); err != nil {
					return
				}
			}
		}()
		defer func() { <-read }() // stays up while the backlog drains
		msg := bytes.Repeat([]byte("y"), msgSize)
		for sent := 0; sent < total; sent += msgSize {
			if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
				return
			}
		}
		_ = c.WriteMessage(websocket.TextMessage, []byte("done"))
	})
	cfg := wsConfig(map[string][]string{"s": {up.URL}})
	cfg.WSPingInterval = 250 * time.Millisecond
	gw := gatewaytest.Start(t, cfg)

	d := websocket.Dialer{
		HandshakeTimeout: 5 * time.Second,
		ReadBufferSize:   16 << 10,
		NetDial: func(network, addr string) (net.Conn, error) {
			c, err := net.Dial(network, addr)
			if err == nil {
				err = c.(*net.TCPConn).SetReadBuffer(256 << 10)
			}
			return c, err
		},
	}
	c, _, err := d.Dial(wsURL(gw, "s", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var got int
	buf := make([]byte, 16<<10)
	for {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		typ, r, err := c.NextReader()
		if err != nil {
			t.Fatalf("after %d of %d bytes: %v (close counts %v)", got, total, err, gwStats(t, gw).Closes)
		}
		if typ == websocket.TextMessage {
			break
		}
		for {
			n, err := r.Read(buf)
			got += n
			if err != nil {
				break
			}
			time.Sleep(3 * time.Millisecond) // the slow reader's pace, not a wait for a condition
		}
	}
	if got != total {
		t.Fatalf("client read %d bytes, want %d", got, total)
	}
	if n := gwStats(t, gw).Closes["1013"]; n != 0 {
		t.Fatalf("closes[1013] = %d, want 0", n)
	}
}
