package app_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/fasthttp/websocket"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"gateway/internal/gatewaytest"
	"gateway/internal/otlptest"
)

// streamUpstream serves the streams of the stream-end tests:
//   - /events: three events (one of them split over two writes, and a
//     comment-only block between them, which is no event), then the end
//     of the body;
//   - /hold: one event, then it holds the stream open until the client
//     leaves;
//   - /echo: a WebSocket echoing every message until the client closes;
//   - /bye: a WebSocket sending one message and then a close frame.
func streamUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	upgrader := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		flush := func(s string) {
			_, _ = io.WriteString(w, s)
			w.(http.Flusher).Flush()
		}
		switch r.URL.Path {
		case "/events":
			w.Header().Set("Content-Type", "text/event-stream")
			flush("data: one\n\n: keep-alive\n\nid: 2\r\nda")
			flush("ta: two\r\n\r\n")
			flush("event: x\ndata: three\n\n")
		case "/hold":
			w.Header().Set("Content-Type", "text/event-stream")
			flush("data: one\n\n")
			<-r.Context().Done()
		case "/echo", "/bye":
			c, err := upgrader.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			defer c.Close()
			if r.URL.Path == "/bye" {
				_ = c.WriteMessage(websocket.TextMessage, []byte("hi"))
				_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye"))
				_, _, _ = c.ReadMessage() // the client's close reply
				return
			}
			for {
				mt, p, err := c.ReadMessage()
				if err != nil {
					return
				}
				if err := c.WriteMessage(mt, p); err != nil {
					return
				}
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// streamCase is one stream and how its end must be reported.
type streamCase struct {
	name     string
	open     func(t *testing.T, gw *gatewaytest.Gateway, h http.Header) // runs the stream to its end
	route    string
	reason   string
	messages int
}

var streamCases = []streamCase{
	{"sse upstream ended", sseRead("/sse/s/events", -1), "/sse/:service/*", "upstream_ended", 3},
	{"sse client left", sseRead("/sse/s/hold", 1), "/sse/:service/*", "client_left", 1},
	{"ws client left", wsEcho, "/ws/:service", "client_left", 4},
	{"ws upstream ended", wsBye, "/ws/:service", "upstream_ended", 1},
}

// sseRead reads the stream at path until its end (events < 0) or until it
// has seen that many events, and leaves.
func sseRead(path string, events int) func(*testing.T, *gatewaytest.Gateway, http.Header) {
	return func(t *testing.T, gw *gatewaytest.Gateway, h http.Header) {
		req, _ := http.NewRequest("GET", gw.URL+path, nil)
		req.Header = h
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if events < 0 {
			_, _ = io.Copy(io.Discard, resp.Body)
			return
		}
		sc := bufio.NewScanner(resp.Body)
		for seen := 0; seen < events && sc.Scan(); {
			if strings.HasPrefix(sc.Text(), "data:") {
				seen++
			}
		}
	}
}

// wsEcho sends two messages, reads their echoes and closes.
func wsEcho(t *testing.T, gw *gatewaytest.Gateway, h http.Header) {
	c, _, err := websocket.DefaultDialer.Dial("ws://"+gw.Addr+"/ws/s?path=/echo", h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 2 {
		msg := fmt.Sprintf("m%d", i)
		if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		if _, p, err := c.ReadMessage(); err != nil || string(p) != msg {
			t.Fatalf("echo %q, %v; want %q", p, err, msg)
		}
	}
	_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return // the close reply
		}
	}
}

// wsBye reads the upstream's message and its close, and answers it.
func wsBye(t *testing.T, gw *gatewaytest.Gateway, h http.Header) {
	c, _, err := websocket.DefaultDialer.Dial("ws://"+gw.Addr+"/ws/s?path=/bye", h)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for {
		if _, _, err := c.ReadMessage(); err != nil {
			return // the library answers the close frame
		}
	}
}

// TestExportStreamEnd: the end of an SSE stream and of a WebSocket bridge
// is reported under the handshake's server span, by a span holding the
// stream-end event with the stream's lifetime, why it ended and how many
// events or messages passed, and by a "stream end" access-log line with
// the same reason and count beside the request and trace ids.
func TestExportStreamEnd(t *testing.T) {
	up := streamUpstream(t)
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	col := startCollector(t, cfg)
	var logs syncBuffer
	gw := gatewaytest.StartLogged(t, cfg, &logs)
	for i, sc := range streamCases {
		t.Run(sc.name, func(t *testing.T) {
			trace := fmt.Sprintf("%032x", i+1)
			reqID := "stream-end-" + strconv.Itoa(i)
			h := http.Header{}
			h.Set("Traceparent", "00-"+trace+"-"+clientParent+"-01")
			h.Set("X-Request-Id", reqID)
			sc.open(t, gw, h)

			by := spansOf(t, col, trace, 2)
			servers, streams := by[tracepb.Span_SPAN_KIND_SERVER], by[tracepb.Span_SPAN_KIND_INTERNAL]
			if len(servers) != 1 || len(streams) != 1 {
				t.Fatalf("spans by kind %v, want the handshake's server span and one stream span", by)
			}
			server, stream := servers[0], streams[0]
			if server.Attrs["http.route"] != sc.route || stream.ParentSpanID != server.SpanID {
				t.Fatalf("stream span %+v not under the handshake's %+v", stream, server)
			}
			ev := streamEndEvent(t, stream)
			if ev.Attrs["gateway.stream.end_reason"] != sc.reason || ev.Attrs["gateway.stream.messages"] != strconv.Itoa(sc.messages) {
				t.Fatalf("stream end event %v, want reason %s and %d messages", ev.Attrs, sc.reason, sc.messages)
			}
			if d, err := strconv.ParseFloat(ev.Attrs["gateway.stream.duration"], 64); err != nil || d <= 0 || d > 30 {
				t.Fatalf("stream duration %q s", ev.Attrs["gateway.stream.duration"])
			}

			line := logs.waitLine(t, `"msg":"stream end","requestId":"`+reqID+`"`)
			if line["traceId"] != trace || line["reason"] != sc.reason || line["messages"] != float64(sc.messages) {
				t.Fatalf("stream end log line %v, want trace %s, reason %s, %d messages", line, trace, sc.reason, sc.messages)
			}
			if d, ok := line["durationMs"].(float64); !ok || d < 0 || line["service"] != "s" || line["upstream"] == "" {
				t.Fatalf("stream end log line %v: durationMs, service or upstream missing", line)
			}
		})
	}
}

// streamEndEvent returns the stream span's gateway.stream.end event.
func streamEndEvent(t *testing.T, s otlptest.Span) otlptest.Event {
	t.Helper()
	for _, e := range s.Events {
		if e.Name == "gateway.stream.end" {
			return e
		}
	}
	t.Fatalf("stream span %+v has no gateway.stream.end event", s)
	return otlptest.Event{}
}

// TestStreamEndShutdown: a stream the gateway drains at shutdown is
// reported as ended by shutdown, in its log line (export off).
func TestStreamEndShutdown(t *testing.T) {
	up := streamUpstream(t)
	var logs syncBuffer
	gw := gatewaytest.StartLogged(t, gatewaytest.Config(map[string][]string{"s": {up.URL}}), &logs)
	done := make(chan struct{})
	h := http.Header{}
	h.Set("X-Request-Id", "drained-stream")
	go func() {
		defer close(done)
		sseRead("/sse/s/hold", -1)(t, gw, h)
	}()
	logs.waitLine(t, `"requestId":"drained-stream"`) // the handshake's access-log line: the stream is open
	if err := gw.App.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	<-done
	line := logs.waitLine(t, `"msg":"stream end","requestId":"drained-stream"`)
	if line["reason"] != "shutdown" || line["kind"] != "sse" || line["messages"] != float64(1) {
		t.Fatalf("stream end log line %v, want reason shutdown, kind sse, 1 message", line)
	}
}
