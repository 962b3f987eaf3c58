package handlers_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"gateway/config"
	"gateway/internal/gatewaytest"
)

// wsSeen is what a test upstream saw of one upgrade request.
type wsSeen struct {
	URI    string
	Host   string
	Header http.Header
}

// wsUpstream is a loopback WebSocket server for one test, built on
// fasthttp/websocket's net/http Upgrader, running serve on each connection.
type wsUpstream struct {
	*httptest.Server
	seen  chan wsSeen
	conns chan *websocket.Conn // each upgraded connection, when the test wants them
}

// startWSUpstream starts an upstream that offers protocols (nil: none) and
// runs serve on every upgraded connection, closing it afterwards.
func startWSUpstream(t *testing.T, protocols []string, serve func(*websocket.Conn)) *wsUpstream {
	t.Helper()
	u := &wsUpstream{seen: make(chan wsSeen, 1024), conns: make(chan *websocket.Conn, 1024)}
	up := websocket.Upgrader{
		Subprotocols:    protocols,
		CheckOrigin:     func(*http.Request) bool { return true },
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
	}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case u.seen <- wsSeen{URI: r.RequestURI, Host: r.Host, Header: r.Header.Clone()}:
		default:
		}
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		serve(c)
	}))
	t.Cleanup(u.Server.Close)
	return u
}

// echo copies every message back with its type, a frame at a time through
// NextReader/NextWriter, until the connection fails; a close frame is
// answered by the library's default handler (code echoed).
func echo(c *websocket.Conn) {
	for {
		typ, r, err := c.NextReader()
		if err != nil {
			return
		}
		w, err := c.NextWriter(typ)
		if err != nil {
			return
		}
		if _, err := io.Copy(w, r); err != nil {
			return
		}
		if err := w.Close(); err != nil {
			return
		}
	}
}

// wsURL is the gateway URL of the bridge to service with the given query.
func wsURL(gw *gatewaytest.Gateway, service, query string) string {
	u := "ws://" + gw.Addr + "/ws/" + service
	if query != "" {
		u += "?" + query
	}
	return u
}

// dialWS opens a client WebSocket through the gateway; the connection is
// closed when the test ends.
func dialWS(t *testing.T, url string, h http.Header) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial(url, h)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dialing %s: %v (status %d)", url, err, status)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// wsConfig is the gateway configuration of WebSocket tests: one service per
// entry, a short ping interval unless the test changes it.
func wsConfig(services map[string][]string) *config.Config {
	cfg := gatewaytest.Config(services)
	cfg.WSPingInterval = 5 * time.Second
	return cfg
}

// readClose reads from c until a close frame arrives and returns it; a
// connection that fails otherwise, or stays open past the deadline, fails
// the test.
func readClose(t *testing.T, c *websocket.Conn, within time.Duration) *websocket.CloseError {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	for {
		_, _, err := c.NextReader()
		if err == nil {
			continue
		}
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return ce
		}
		t.Fatalf("reading until close: %v", err)
		return nil
	}
}

// wsCounts are the bridge counters a test reads back through the gateway:
// open bridges from the pool, the rest from /metrics.
type wsCounts struct {
	Active   int64
	Messages map[string]int64 // by direction label
	Bytes    map[string]int64
	Closes   map[string]int64 // by code label
}

// gwStats reads the gateway's WebSocket counters.
func gwStats(t *testing.T, gw *gatewaytest.Gateway) wsCounts {
	t.Helper()
	s := wsCounts{Messages: map[string]int64{}, Bytes: map[string]int64{}, Closes: map[string]int64{}}
	for _, svc := range gw.App.Pool().Snapshot().Services {
		for _, u := range svc.Upstreams {
			s.Active += u.ActiveWebSocket
		}
	}
	fams := gatewaytest.Scrape(t, gw.URL)
	for name, into := range map[string]struct {
		label string
		m     map[string]int64
	}{
		"gateway_websocket_closes_total":   {"code", s.Closes},
		"gateway_websocket_messages_total": {"direction", s.Messages},
		"gateway_websocket_bytes_total":    {"direction", s.Bytes},
	} {
		for _, m := range fams[name].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == into.label {
					into.m[l.GetValue()] = int64(m.GetCounter().GetValue())
				}
			}
		}
	}
	return s
}

// closeKey is the close-code label of code.
func closeKey(code int) string {
	if code >= 1000 && code <= 1013 && code != 1004 && code != 1014 {
		return strconv.Itoa(code)
	}
	return "other"
}
