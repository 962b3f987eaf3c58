// Package faultup is the chaos and soak suites' upstream: a plain net/http
// server, run as a child process of the harness so that it can be killed
// with SIGKILL, that answers the mixed traffic (GET, POST, SSE, WebSocket)
// and can be told to misbehave: answer 500, accept and never answer, or
// drop connections in the middle of a response.
//
// Every POST's request id is appended to a file before it is answered, one
// write(2) per id, so the ids survive a SIGKILL (the kernel holds what was
// written) and the harness can count duplicates over every incarnation of
// every upstream.
package faultup

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/fasthttp/websocket"
)

// Paths the upstream answers (after the gateway's /api/<service>, /sse/<service>
// or /ws/<service>?path= prefix is taken off).
const (
	PathGet     = "/get"     // GET: a small JSON answer
	PathPost    = "/post"    // POST: logs the request id, answers its body size
	PathSSE     = "/sse"     // GET: an event every EventEvery
	PathWS      = "/ws"      // WebSocket: greets with its name, then echoes
	PathHealthz = "/healthz" // GET: 200, for the harness's readiness probe
	PathMode    = "/_mode"   // PUT ?m=<Mode>: switch behaviour (harness only)
)

// Header names the upstream sets or reads.
const (
	HeaderUpstream = "X-Upstream" // set on every answer: the upstream's name
	// HeaderID is the request's id: a POST's is logged, and every answer
	// carries the id of the request it answers, so that an answer given to
	// the wrong request is seen.
	HeaderID = "X-Chaos-Id"
)

// EventEvery is the interval of the SSE stream's events.
const EventEvery = 100 * time.Millisecond

// Mode is how the upstream answers the traffic paths.
type Mode string

// The modes. The control and health paths always answer.
const (
	ModeOK   Mode = "ok"   // answer normally
	Mode500  Mode = "500"  // answer 500 (streams already open go on)
	ModeHang Mode = "hang" // read the request, never answer; open streams stop sending
	ModeDrop Mode = "drop" // cut every answer (and every open stream) mid-way
)

func (m Mode) valid() bool {
	switch m {
	case ModeOK, Mode500, ModeHang, ModeDrop:
		return true
	}
	return false
}

// Server is one upstream's state. The zero value is not usable; see New.
type Server struct {
	name string
	ids  *os.File
	// getBody is the GET answer: long enough that a dropped answer is cut
	// in the middle of its body.
	getBody  string
	upgrader websocket.Upgrader

	mu      sync.Mutex
	mode    Mode
	changed chan struct{} // closed and replaced on every mode change
}

// New returns an upstream called name that appends POST ids to the file
// ids (created when missing, appended to when a restarted upstream finds
// it).
func New(name, ids string) (*Server, error) {
	f, err := os.OpenFile(ids, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("opening the id log: %w", err)
	}
	return &Server{
		name: name, ids: f, mode: ModeOK, changed: make(chan struct{}),
		getBody: `{"ok":true,"pad":"` + strings.Repeat("x", 2000) + `"}`,
		upgrader: websocket.Upgrader{
			ReadBufferSize:  1024,
			WriteBufferSize: 1024,
			CheckOrigin:     func(*http.Request) bool { return true },
		},
	}, nil
}

// Close closes the id log.
func (s *Server) Close() error { return s.ids.Close() }

// current returns the mode and the channel closed when it next changes.
func (s *Server) current() (Mode, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mode, s.changed
}

// SetMode switches the behaviour and wakes every request waiting on the
// old mode.
func (s *Server) SetMode(m Mode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if m == s.mode {
		return
	}
	s.mode = m
	close(s.changed)
	s.changed = make(chan struct{})
}

// ServeHTTP routes the upstream's paths.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set(HeaderUpstream, s.name)
	if id := r.Header.Get(HeaderID); id != "" {
		w.Header().Set(HeaderID, id)
	}
	switch stripGeneration(r.URL.Path) {
	case PathHealthz:
		w.WriteHeader(http.StatusOK)
	case PathMode:
		s.serveMode(w, r)
	case PathGet:
		s.serveGet(w, r)
	case PathPost:
		s.servePost(w, r)
	case PathSSE:
		s.serveSSE(w, r)
	case PathWS:
		s.serveWS(w, r)
	default:
		http.Error(w, "not found", http.StatusNotFound)
	}
}

// stripGeneration takes off a leading "/r<digits>" segment: the base path
// the harness gives a re-added upstream (rig.Readd), so that the gateway
// sees a new URL for the same server.
func stripGeneration(path string) string {
	rest, ok := strings.CutPrefix(path, "/r")
	if !ok {
		return path
	}
	i := 0
	for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
		i++
	}
	if i == 0 || i == len(rest) || rest[i] != '/' {
		return path
	}
	return rest[i:]
}

func (s *Server) serveMode(w http.ResponseWriter, r *http.Request) {
	m := Mode(r.URL.Query().Get("m"))
	if r.Method != http.MethodPut || !m.valid() {
		http.Error(w, "PUT ?m=ok|500|hang|drop", http.StatusBadRequest)
		return
	}
	s.SetMode(m)
	w.WriteHeader(http.StatusNoContent)
}

// misbehave applies the modes that answer no request the normal way and
// reports whether it did. A hung request waits until the mode changes or
// the client goes, then has its connection dropped: the answer it never
// got must not arrive late.
func (s *Server) misbehave(w http.ResponseWriter, r *http.Request) bool {
	mode, changed := s.current()
	switch mode {
	case Mode500:
		http.Error(w, `{"error":"injected failure"}`, http.StatusInternalServerError)
		return true
	case ModeHang:
		select {
		case <-changed:
		case <-r.Context().Done():
		}
		panic(http.ErrAbortHandler)
	}
	return false
}

func (s *Server) serveGet(w http.ResponseWriter, r *http.Request) {
	if s.misbehave(w, r) {
		return
	}
	w.Header().Set("Content-Type", "application/json")
	if mode, _ := s.current(); mode == ModeDrop {
		dropMidway(w, s.getBody)
	}
	_, _ = w.Write([]byte(s.getBody))
}

// dropMidway sends the headers and half of body, promising all of it, then
// closes the connection.
func dropMidway(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(body[:len(body)/2]))
	if f, ok := w.(http.Flusher); ok {
		f.Flush()
	}
	panic(http.ErrAbortHandler)
}

func (s *Server) servePost(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		http.Error(w, "POST only", http.StatusMethodNotAllowed)
		return
	}
	n, err := drain(r)
	if err != nil {
		return // the body never arrived whole: the gateway gave up on it
	}
	if id := r.Header.Get(HeaderID); id != "" {
		// One write per line: O_APPEND makes it land whole, and a SIGKILL
		// after it returns cannot lose it.
		if _, err := s.ids.Write([]byte(id + "\n")); err != nil {
			http.Error(w, "id log: "+err.Error(), http.StatusInternalServerError)
			return
		}
	}
	if s.misbehave(w, r) {
		return
	}
	body := fmt.Sprintf(`{"received":%d}`, n)
	w.Header().Set("Content-Type", "application/json")
	if mode, _ := s.current(); mode == ModeDrop {
		dropMidway(w, body+strings.Repeat(" ", 64))
	}
	_, _ = w.Write([]byte(body))
}

// drain reads the request body to its end.
func drain(r *http.Request) (int64, error) { return io.Copy(io.Discard, r.Body) }

// Serve listens on addr and serves s until ctx ends. A restarted upstream
// listens on the address its predecessor had (Go's listeners set
// SO_REUSEADDR, so the old connections in TIME_WAIT do not stand in the way).
func Serve(ctx context.Context, s *Server, addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("upstream listening on %s: %w", addr, err)
	}
	srv := &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	return srv.Close()
}
