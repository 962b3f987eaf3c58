package streams

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/fasthttp/websocket"
)

// wsMode holds WebSocket bridges: GET /ws/bench?path=/echo through the
// proxy to an echo upstream. Each connection sends c.rate messages a second,
// each starting with the time it was sent (Unix nanoseconds, 8 bytes), and
// records the round trip when the echo comes back. With c.rate 0 the
// connections stay idle, for the memory measurement.
//
// In "ws-direct" the same clients connect to the upstream itself, so the
// round trips of the two runs tell what the proxy adds.
type wsMode struct {
	direct bool
	// Set by startUpstream.
	upstream string  // host:port of the echo upstream
	target   string  // the proxy: "gateway" or "nginx"
	rate     float64 // messages a second per connection
	size     int     // message bytes (at least the 8 of the timestamp)
}

func (m *wsMode) name() string {
	if m.direct {
		return "ws-direct"
	}
	return "ws"
}

func (*wsMode) route() string { return "/ws/" }

// startUpstream runs the echo server in this process, with buffers as
// small as the gateway's so that it is not the bottleneck of either run.
func (m *wsMode) startUpstream(ctx context.Context, c Config) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	m.upstream, m.target, m.rate, m.size = ln.Addr().String(), c.target, c.rate, max(8, c.size)
	up := &websocket.Upgrader{
		ReadBufferSize:  512,
		WriteBufferSize: 512,
		CheckOrigin:     func(*http.Request) bool { return true },
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !websocket.IsWebSocketUpgrade(r) {
			w.WriteHeader(http.StatusNoContent) // the readiness probe
			return
		}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		stop := context.AfterFunc(ctx, func() { conn.Close() })
		defer stop()
		wsEcho(conn)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + m.upstream, func() { _ = srv.Close() }, nil
}

// wsEcho sends every message back as it came until the connection ends.
func wsEcho(conn *websocket.Conn) {
	for {
		typ, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if err := conn.WriteMessage(typ, msg); err != nil {
			return
		}
	}
}

// open dials connection i, through the proxy at addr or (ws-direct) to the
// upstream, and runs its sender and reader until ctx ends.
func (m *wsMode) open(ctx context.Context, i int, d *dialer, addr string, rec *recorder) error {
	url := "ws://" + addr + "/ws/" + service + "?path=/echo"
	switch {
	case m.direct:
		url = "ws://" + m.upstream + "/echo"
	case m.target == "nginx": // nginx maps /ws/bench/ to the upstream's /
		url = "ws://" + addr + "/ws/" + service + "/echo"
	}
	wd := websocket.Dialer{
		NetDialContext:   func(ctx context.Context, _, _ string) (net.Conn, error) { return d.dial(ctx, i, hostOf(url)) },
		HandshakeTimeout: 30 * time.Second,
		ReadBufferSize:   512,
		WriteBufferSize:  512,
	}
	conn, resp, err := wd.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			return fmt.Errorf("bridge %d: %s: %w", i, resp.Status, err)
		}
		return fmt.Errorf("bridge %d: %w", i, err)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	go func() {
		defer conn.Close()
		defer stop()
		if err := wsRoundTrips(ctx, conn, rec); err != nil && ctx.Err() == nil {
			rec.dropped.Add(1)
		}
	}()
	if m.rate > 0 {
		go wsSend(ctx, conn, m.rate, m.size, rec)
	}
	return nil
}

// wsRoundTrips reads the echoes and records each one's round trip.
func wsRoundTrips(ctx context.Context, conn *websocket.Conn, rec *recorder) error {
	for {
		_, msg, err := conn.ReadMessage()
		if err != nil {
			return err
		}
		if len(msg) >= 8 {
			rec.message(time.Now().UnixNano() - int64(binary.BigEndian.Uint64(msg)))
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// wsSend sends rate timestamped messages a second, with a random phase so
// the connections' messages spread evenly over time.
func wsSend(ctx context.Context, conn *websocket.Conn, rate float64, size int, rec *recorder) {
	interval := time.Duration(float64(time.Second) / rate)
	t := time.NewTimer(time.Duration(rand.Int64N(int64(interval))))
	defer t.Stop()
	msg := make([]byte, size)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(interval)
		binary.BigEndian.PutUint64(msg, uint64(time.Now().UnixNano()))
		_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if err := conn.WriteMessage(websocket.BinaryMessage, msg); err != nil {
			if !errors.Is(err, net.ErrClosed) && ctx.Err() == nil {
				rec.dropped.Add(1)
			}
			return
		}
	}
}

// hostOf returns the host:port of a ws:// URL.
func hostOf(url string) string {
	rest := strings.TrimPrefix(url, "ws://")
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[:i]
	}
	return rest
}
