package demo

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Ticks starts a server-sent events server on 127.0.0.1 that sends, on any
// path, one "tick" event every interval until the client leaves:
//
//	id: 7
//	event: tick
//	data: {"upstream":"ticks-1","n":7,"path":"/x","sentAt":"2006-01-02T15:04:05.000Z"}
//
// A client that reconnects with Last-Event-ID: n continues at n+1, as
// EventSource does.
func Ticks(name string, interval time.Duration) (*Upstream, error) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodHead {
			return
		}
		n, _ := strconv.Atoi(r.Header.Get("Last-Event-ID"))
		_, _ = fmt.Fprintf(w, ": %s streaming one event every %v\n\n", name, interval)
		_ = rc.Flush()
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case now := <-t.C:
				n++
				_, err := fmt.Fprintf(w, "id: %d\nevent: tick\ndata: {\"upstream\":%q,\"n\":%d,\"path\":%q,\"sentAt\":%q}\n\n",
					n, name, n, r.URL.Path, now.UTC().Format("2006-01-02T15:04:05.000Z07:00"))
				if err != nil || rc.Flush() != nil {
					return
				}
			}
		}
	})
	return serve(name, h)
}
