package streams

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// sseMode holds event streams: GET /sse/bench/stream through the proxy, to
// an upstream that sends each stream c.rate events a second, each event's
// data starting with the time it was written (Unix nanoseconds), so the
// client can tell its delivery delay.
type sseMode struct{}

func (sseMode) name() string  { return "sse" }
func (sseMode) route() string { return "/sse/" }

// startUpstream runs the event-stream server in this process.
func (sseMode) startUpstream(ctx context.Context, c Config) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: &sseUpstream{ctx: ctx, rate: c.rate, pad: c.size}, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String(), func() { _ = srv.Close() }, nil
}

// sseUpstream is the upstream event source.
type sseUpstream struct {
	ctx  context.Context
	rate float64
	pad  int
}

// ServeHTTP streams events at the configured rate, with a random phase so
// the streams' events spread evenly over time, until the client or the run
// ends. HEAD gets the headers only.
func (u *sseUpstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil || r.Method == http.MethodHead {
		return
	}
	if u.rate <= 0 {
		select {
		case <-u.ctx.Done():
		case <-r.Context().Done():
		}
		return
	}
	interval := time.Duration(float64(time.Second) / u.rate)
	t := time.NewTimer(time.Duration(rand.Int64N(int64(interval))))
	defer t.Stop()
	buf := make([]byte, 0, 32+u.pad)
	for {
		select {
		case <-u.ctx.Done():
			return
		case <-r.Context().Done():
			return
		case <-t.C:
		}
		t.Reset(interval)
		buf = append(buf[:0], "data: "...)
		buf = strconv.AppendInt(buf, time.Now().UnixNano(), 10)
		for range u.pad {
			buf = append(buf, 'x')
		}
		buf = append(buf, "\n\n"...)
		if _, err := w.Write(buf); err != nil {
			return
		}
		if err := rc.Flush(); err != nil {
			return
		}
	}
}

// open opens one stream and reads it in a goroutine until ctx ends.
func (sseMode) open(ctx context.Context, i int, d *dialer, addr string, rec *recorder) error {
	conn, err := d.dial(ctx, i, addr)
	if err != nil {
		return err
	}
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := fmt.Fprintf(conn, "GET /sse/%s/stream HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", service, addr); err != nil {
		conn.Close()
		return err
	}
	br := bufio.NewReaderSize(conn, 4096)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		conn.Close()
		return fmt.Errorf("stream %d: %w", i, err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		conn.Close()
		return fmt.Errorf("stream %d: %s %q", i, resp.Status, resp.Header.Get("Content-Type"))
	}
	_ = conn.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	go func() {
		defer conn.Close()
		defer stop()
		readEvents(bufio.NewReaderSize(resp.Body, 512), rec)
		if ctx.Err() == nil {
			rec.dropped.Add(1)
		}
	}()
	return nil
}

// readEvents records the delay of every "data: <nanos>" line until the
// stream ends.
func readEvents(r *bufio.Reader, rec *recorder) {
	for {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			err = nil // a padded line: its start is all that counts
		}
		if err != nil {
			return
		}
		if v, ok := bytes.CutPrefix(line, []byte("data: ")); ok {
			if sent, ok := leadingInt(v); ok {
				rec.message(time.Now().UnixNano() - sent)
			}
		}
	}
}

// leadingInt parses the decimal digits at the start of b.
func leadingInt(b []byte) (int64, bool) {
	var n int64
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		n = n*10 + int64(b[i]-'0')
	}
	return n, i > 0
}
