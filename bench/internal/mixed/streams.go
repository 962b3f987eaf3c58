package mixed

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/fasthttp/websocket"

	"gateway/bench/internal/faultup"
)

// Stream is one SSE stream or WebSocket connection, from the attempt to
// open it to its end.
type Stream struct {
	WS       bool
	Client   int // which of the held connections it was
	Upstream string
	// Dial is when the attempt began; Opened when the stream was open (the
	// SSE headers, or the WebSocket's greeting, read), zero when it never
	// opened; Ended when it ended.
	Dial, Opened, Ended time.Time
	Messages            int
	// CloseCode is the WebSocket close code received (1006 when the
	// connection ended without a close frame); 0 for SSE.
	CloseCode int
	Err       string // why it ended, or why it never opened
}

// retryPause is the wait after a failed attempt to open, so that a
// refusing gateway is not spun on. An open stream that ends is reopened
// at once.
const retryPause = 100 * time.Millisecond

// holdSSE keeps one SSE stream open until ctx ends.
func (t *Traffic) holdSSE(ctx context.Context, client int) {
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	url := t.cfg.Base + "/sse/" + t.cfg.Service + faultup.PathSSE
	for ctx.Err() == nil {
		s := t.sse(ctx, hc, url)
		s.Client = client
		if ctx.Err() != nil && s.Opened.IsZero() {
			return
		}
		t.recordStream(s)
		if s.Opened.IsZero() && !sleep(ctx, retryPause) {
			return
		}
	}
}

// sse opens the stream and reads it to its end.
func (t *Traffic) sse(ctx context.Context, hc *http.Client, url string) Stream {
	s := Stream{Dial: time.Now()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		s.Err, s.Ended = err.Error(), time.Now()
		return s
	}
	resp, err := hc.Do(req)
	if err != nil {
		s.Err, s.Ended = err.Error(), time.Now()
		return s
	}
	defer resp.Body.Close()
	s.Upstream = resp.Header.Get(faultup.HeaderUpstream)
	if resp.StatusCode != http.StatusOK {
		s.Err, s.Ended = "status "+resp.Status, time.Now()
		return s
	}
	s.Opened = time.Now()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if bytes.HasPrefix(sc.Bytes(), []byte("data:")) {
			s.Messages++
		}
	}
	s.Ended = time.Now()
	if err := sc.Err(); err != nil {
		s.Err = err.Error()
	} else {
		s.Err = "EOF"
	}
	return s
}

// holdWS keeps one WebSocket connection open until ctx ends.
func (t *Traffic) holdWS(ctx context.Context, client int) {
	url := "ws" + strings.TrimPrefix(t.cfg.Base, "http") + "/ws/" + t.cfg.Service + "?path=" + faultup.PathWS
	for ctx.Err() == nil {
		s := t.ws(ctx, url)
		s.Client = client
		if ctx.Err() != nil && s.Opened.IsZero() {
			return
		}
		t.recordStream(s)
		if s.Opened.IsZero() && !sleep(ctx, retryPause) {
			return
		}
	}
}

// ws opens a connection, reads the upstream's greeting, then sends a
// message every WSEvery and reads the echoes until the connection ends.
func (t *Traffic) ws(ctx context.Context, url string) Stream {
	s := Stream{WS: true, Dial: time.Now()}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.DialContext(ctx, url, nil)
	if err != nil {
		if resp != nil {
			err = errors.New(resp.Status)
		}
		s.Err, s.Ended = err.Error(), time.Now()
		return s
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	_, hello, err := conn.ReadMessage()
	if err != nil || !bytes.HasPrefix(hello, []byte("hello ")) {
		s.Err, s.Ended = "no greeting: "+errString(err), time.Now()
		return s
	}
	s.Upstream, s.Opened = string(hello[len("hello "):]), time.Now()
	done := make(chan struct{})
	defer close(done)
	go wsSend(conn, t.cfg.WSEvery, done)
	for {
		_, _, err := conn.ReadMessage()
		if err != nil {
			s.Ended, s.Err = time.Now(), err.Error()
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				s.CloseCode = ce.Code
			}
			return s
		}
		s.Messages++
	}
}

// wsSend writes a message every `every` until done or a write fails.
func wsSend(conn *websocket.Conn, every time.Duration, done <-chan struct{}) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	msg := []byte("chaos-message")
	for {
		select {
		case <-done:
			return
		case <-tick.C:
		}
		_ = conn.SetWriteDeadline(time.Now().Add(2 * time.Second))
		if err := conn.WriteMessage(websocket.TextMessage, msg); err != nil {
			return
		}
	}
}

func errString(err error) string {
	if err == nil {
		return "bad greeting"
	}
	return err.Error()
}

// sleep waits d; false when ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}
