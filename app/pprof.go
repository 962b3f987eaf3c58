package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"
)

// pprofServer is the PPROF_ADDR listener: net/http/pprof on its own
// http.ServeMux (never http.DefaultServeMux, which anything imported may
// add handlers to) and its own address, so profiling is reachable only
// where the operator put it (an admin-only interface) and never through
// the main port. (Importing net/http/pprof also registers its handlers on
// http.DefaultServeMux, in the standard library's init; the gateway serves
// that mux nowhere.)
type pprofServer struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{} // closed when Serve has returned
}

// pprofMux routes the handlers net/http/pprof documents under
// /debug/pprof/; Index also serves the named runtime profiles (heap,
// goroutine, allocs, block, mutex, threadcreate).
func pprofMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// startPprof listens on addr and serves pprofMux until stop.
func startPprof(addr string, log *slog.Logger) (*pprofServer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listening for pprof on %s: %w", addr, err)
	}
	p := &pprofServer{
		// No WriteTimeout: a CPU profile or trace answers after its
		// ?seconds= have passed.
		srv:  &http.Server{Handler: pprofMux(), ReadHeaderTimeout: 10 * time.Second},
		ln:   ln,
		done: make(chan struct{}),
	}
	go func() {
		defer close(p.done)
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("pprof listener", slog.Any("error", err))
		}
	}()
	log.Info("pprof listening", slog.String("addr", ln.Addr().String()))
	return p, nil
}

// addr is the address it listens on.
func (p *pprofServer) addr() string { return p.ln.Addr().String() }

// stop closes the listener and ends the profiles being taken: a profile
// in progress would otherwise hold Shutdown for its whole length.
func (p *pprofServer) stop(ctx context.Context) {
	_ = p.srv.Close()
	select {
	case <-p.done:
	case <-ctx.Done():
	}
}
