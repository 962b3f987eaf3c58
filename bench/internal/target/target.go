// Package target starts the proxies the harness measures (the gateway,
// nginx, HAProxy) as plain processes with their own configuration in a
// scratch directory, in front of the harness's loopback upstreams, and
// tells when each answers.
package target

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/valyala/fasthttp"

	"gateway/bench/internal/launch"
)

// Prefix is the path under which every proxy serves the upstream's paths:
// the gateway's /api/<service>/ route, for its "bench" service.
const Prefix = "/api/bench"

// Service is the gateway's service name for the upstreams.
const Service = "bench"

// Options configure a proxy.
type Options struct {
	Dir       string   // scratch directory for its configuration and logs
	Upstreams []string // host:port of each upstream
	CPU       int      // the CPU it is pinned to; negative: not pinned
	// AccessLog is the file each proxy writes its access log to; "": no
	// access log. The same choice for every proxy keeps them comparable.
	AccessLog string
}

// Target is a proxy under test (or the upstream itself, for the direct
// baseline) once it answers.
type Target struct {
	Name string
	Addr string // host:port it listens on
	// Prefix goes before an upstream path: Prefix for the proxies, "" for
	// the upstream hit directly.
	Prefix string
	// Proc is the process whose tree is measured.
	Proc *launch.Proc
	// Pprof is the gateway's PPROF_ADDR listener, when it has one.
	Pprof string
}

// URL is the target's URL for an upstream path.
func (t *Target) URL(path string) string { return "http://" + t.Addr + t.Prefix + path }

// FreePort returns a loopback port nothing listens on right now.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// FreeAddr is FreePort as a host:port.
func FreeAddr() (string, error) {
	p, err := FreePort()
	return "127.0.0.1:" + strconv.Itoa(p), err
}

// WaitReady polls url with GET until it answers 200, the process exits,
// ctx ends or 60 s pass.
func WaitReady(ctx context.Context, p *launch.Proc, url string) error {
	c := &fasthttp.Client{ReadTimeout: time.Second, WriteTimeout: time.Second}
	defer c.CloseIdleConnections()
	deadline := time.Now().Add(60 * time.Second)
	for {
		status, _, err := c.GetTimeout(nil, url, time.Second)
		if err == nil && status == fasthttp.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not answering %s after 60s (last: %d %v):\n%s", p.Name, url, status, err, p.LogTail(2000))
		}
		select {
		case <-p.Done():
			return fmt.Errorf("%s exited at start (%v):\n%s", p.Name, p.Err(), p.LogTail(2000))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
