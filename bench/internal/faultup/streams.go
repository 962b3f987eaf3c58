package faultup

import (
	"fmt"
	"net/http"
	"time"

	"github.com/fasthttp/websocket"
)

// serveSSE sends "data: <n>" every EventEvery. An open stream stops
// sending while the mode is hang and is cut when it turns to drop.
func (s *Server) serveSSE(w http.ResponseWriter, r *http.Request) {
	if s.misbehave(w, r) {
		return
	}
	f, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "no flusher", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	f.Flush()
	tick := time.NewTicker(EventEvery)
	defer tick.Stop()
	for n := 0; ; {
		mode, changed := s.current()
		switch mode {
		case ModeDrop:
			panic(http.ErrAbortHandler)
		case ModeHang:
			select {
			case <-changed:
				continue
			case <-r.Context().Done():
				return
			}
		}
		select {
		case <-tick.C:
		case <-changed:
			continue
		case <-r.Context().Done():
			return
		}
		n++
		if _, err := fmt.Fprintf(w, "data: %d\n\n", n); err != nil {
			return
		}
		f.Flush()
	}
}

// serveWS greets with "hello <name>", so a client knows which upstream
// its bridge reached, then echoes every message. While the mode is hang
// it neither echoes nor reads (so pings go unanswered); drop cuts the
// connection without a close frame.
func (s *Server) serveWS(w http.ResponseWriter, r *http.Request) {
	if s.misbehave(w, r) {
		return
	}
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return
	}
	defer conn.Close()
	done := make(chan struct{})
	defer close(done)
	go s.dropOnMode(conn, done)
	if err := conn.WriteMessage(websocket.TextMessage, []byte("hello "+s.name)); err != nil {
		return
	}
	for {
		typ, msg, err := conn.ReadMessage()
		if err != nil {
			return
		}
		if !s.waitWhileHung(done) {
			return
		}
		if err := conn.WriteMessage(typ, msg); err != nil {
			return
		}
	}
}

// dropOnMode closes conn's socket, with no close frame, once the mode is
// drop, until done.
func (s *Server) dropOnMode(conn *websocket.Conn, done <-chan struct{}) {
	for {
		mode, changed := s.current()
		if mode == ModeDrop {
			_ = conn.NetConn().Close()
			return
		}
		select {
		case <-changed:
		case <-done:
			return
		}
	}
}

// waitWhileHung blocks while the mode is hang; false when the connection
// was dropped meanwhile.
func (s *Server) waitWhileHung(done <-chan struct{}) bool {
	for {
		mode, changed := s.current()
		switch mode {
		case ModeHang:
		case ModeDrop:
			return false
		default:
			return true
		}
		select {
		case <-changed:
		case <-done:
			return false
		}
	}
}
