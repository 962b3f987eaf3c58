// Package upstream is the harness's loopback upstream: a fasthttp server
// (the fastest Go HTTP/1.1 server, so the proxy in front of it is what the
// figures measure) answering the three scenarios' requests from bodies
// built once.
package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/valyala/fasthttp"
)

// Paths the upstream answers.
const (
	PathJSON = "/json" // GET: a 512-byte JSON object
	PathBig  = "/big"  // GET: 1 MiB
	PathSink = "/sink" // POST: reads the body, answers its size
)

// Sizes of the answers.
const (
	JSONBytes = 512
	BigBytes  = 1 << 20
)

// JSONBody returns a JSON object of exactly n bytes (n ≥ 32), shaped like
// an API answer.
func JSONBody(n int) []byte {
	head := []byte(`{"id":12345,"name":"bench","ok":true,"pad":"`)
	tail := []byte(`"}`)
	pad := max(n-len(head)-len(tail), 0)
	return append(append(head, bytes.Repeat([]byte("x"), pad)...), tail...)
}

// Handler answers the upstream's paths.
type Handler struct {
	json, big []byte
}

// NewHandler builds the answers.
func NewHandler() *Handler {
	return &Handler{json: JSONBody(JSONBytes), big: bytes.Repeat([]byte("a"), BigBytes)}
}

// Serve answers one request. Bodies are set raw: fasthttp writes them
// without copying.
func (h *Handler) Serve(ctx *fasthttp.RequestCtx) {
	switch string(ctx.Path()) {
	case PathJSON:
		ctx.SetContentType("application/json")
		ctx.Response.SetBodyRaw(h.json)
	case PathBig:
		ctx.SetContentType("application/octet-stream")
		ctx.Response.SetBodyRaw(h.big)
	case PathSink:
		if !ctx.IsPost() {
			ctx.Error("POST only", fasthttp.StatusMethodNotAllowed)
			return
		}
		ctx.SetContentType("application/json")
		ctx.SetBodyString(`{"received":` + strconv.Itoa(len(ctx.PostBody())) + `}`)
	default:
		ctx.Error("not found", fasthttp.StatusNotFound)
	}
}

// Serve listens on each of addrs and serves until ctx ends.
func Serve(ctx context.Context, addrs []string) error {
	h := NewHandler()
	var lns []net.Listener
	for _, a := range addrs {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			for _, l := range lns {
				l.Close()
			}
			return fmt.Errorf("upstream listening on %s: %w", a, err)
		}
		lns = append(lns, ln)
	}
	srv := &fasthttp.Server{
		Handler:            h.Serve,
		Name:               "bench-upstream",
		MaxRequestBodySize: 4 << 20,
		Concurrency:        1 << 16,
	}
	var wg sync.WaitGroup
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		wg.Go(func() { errc <- srv.Serve(ln) })
	}
	<-ctx.Done()
	err := srv.Shutdown()
	wg.Wait()
	close(errc)
	for e := range errc {
		err = errors.Join(err, e)
	}
	return err
}
