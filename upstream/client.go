package upstream

import (
	"net"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"
)

// Fixed HostClient settings.
const (
	// maxIdleConnDuration closes keep-alive connections idle this long.
	maxIdleConnDuration = 90 * time.Second
	// bufferSize is the per-connection read and write buffer; the read
	// buffer also limits the size of response headers.
	bufferSize = 4096
	// streamMaxConns caps stream connections per upstream: each open SSE
	// stream holds one, so the cap is high.
	streamMaxConns = 1 << 16
)

// newClients returns the ordinary and the stream HostClient of one upstream.
// Both count the connections they discard, rather than reuse, in d.
func newClients(sh *shared, base *url.URL, d *discardCounters) (client, stream *fasthttp.HostClient) {
	client = newHostClient(sh, base)
	client.MaxConns = sh.maxConns
	client.MaxConnWaitTimeout = sh.poolWait
	client.ReadTimeout = sh.proxyTimeout
	client.Transport = &transport{timeout: sh.proxyTimeout, discards: d}
	idle := sh.proxyTimeout
	client.Dial = func(addr string) (net.Conn, error) {
		c, err := sh.dial(addr)
		if err != nil {
			return nil, err
		}
		return &idleConn{Conn: c, idle: idle}, nil
	}
	stream = newHostClient(sh, base)
	stream.MaxConns = streamMaxConns
	stream.ReadTimeout = 0            // a stream may stay open and quiet indefinitely
	stream.Dial = streamDial(sh.dial) // see StreamConn
	// The gateway's transport, whose streamed bodies an event stream may
	// read raw from the connection (see RawBody).
	stream.Transport = &transport{timeout: sh.proxyTimeout, streamAll: true, discards: d}
	return client, stream
}

// newHostClient returns the settings both clients share. The gateway retries
// on its own, once and on another upstream, so fasthttp's retries are off;
// it sets exact paths and header names, so normalizing is off; and bodies
// stream rather than being buffered whole.
func newHostClient(sh *shared, base *url.URL) *fasthttp.HostClient {
	return &fasthttp.HostClient{
		Addr:                          hostAddr(base),
		IsTLS:                         base.Scheme == "https",
		Dial:                          sh.dial,
		NoDefaultUserAgentHeader:      true,
		WriteTimeout:                  sh.proxyTimeout,
		MaxIdleConnDuration:           maxIdleConnDuration,
		MaxIdemponentCallAttempts:     1,
		RetryIfErr:                    neverRetry,
		StreamResponseBody:            true,
		DisableHeaderNamesNormalizing: true,
		DisablePathNormalizing:        true,
		ReadBufferSize:                bufferSize,
		WriteBufferSize:               bufferSize,
	}
}

// neverRetry is the HostClient RetryIfErr: never reset the timeout, never retry.
func neverRetry(*fasthttp.Request, int, error) (resetTimeout, retry bool) { return false, false }

// hostAddr returns host:port of base, with the scheme's default port.
func hostAddr(base *url.URL) string {
	port := base.Port()
	if port == "" {
		port = "80"
		if base.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(base.Hostname(), port)
}
