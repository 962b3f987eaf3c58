// Package loadgen drives HTTP load at a target and measures what its
// clients see: a closed loop (each connection sends its next request when
// the last answer is in, as wrk does, which measures throughput), an open
// loop (requests at fixed times whatever the answers, which measures
// latency at a given rate without coordinated omission), and wrk itself
// when it is installed.
package loadgen

import (
	"fmt"
	"net/url"
	"time"

	"github.com/valyala/fasthttp"

	"gateway/bench/internal/hist"
)

// Request is the request every connection sends.
type Request struct {
	Method string
	URL    string // http://host:port/path
	Body   []byte // sent with Content-Type application/octet-stream when not empty
}

// Result is what the clients saw over a measurement window.
type Result struct {
	Requests uint64        `json:"requests"` // answered, whatever the status
	Non2xx   uint64        `json:"non2xx"`
	Errors   uint64        `json:"errors"` // transport errors and timeouts
	Missed   uint64        `json:"missed"` // open loop: due in the window, not answered by its end plus grace
	Elapsed  time.Duration `json:"elapsedNs"`
	Latency  Latency       `json:"latency"`
	// From is how latency is timed: "send" (closed loop: from the moment
	// the request was written) or "intended" (open loop: from the moment
	// the schedule said it should be written).
	From string `json:"from"`
}

// Latency is a set of quantiles.
type Latency struct {
	P50  time.Duration `json:"p50Ns"`
	P90  time.Duration `json:"p90Ns"`
	P99  time.Duration `json:"p99Ns"`
	P999 time.Duration `json:"p999Ns"`
	Max  time.Duration `json:"maxNs"`
	Mean time.Duration `json:"meanNs"`
}

// FromHist reads the quantiles of h.
func FromHist(h *hist.H) Latency {
	return Latency{P50: h.Quantile(0.5), P90: h.Quantile(0.9), P99: h.Quantile(0.99), P999: h.Quantile(0.999), Max: h.Max(), Mean: h.Mean()}
}

// RPS is answered requests per second.
func (r Result) RPS() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// Failures is everything that was not a 2xx answer.
func (r Result) Failures() uint64 { return r.Non2xx + r.Errors + r.Missed }

// client returns a one-connection client for u, so that a set of workers
// is a fixed set of connections.
func client(u string) (*fasthttp.HostClient, error) {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "http" || p.Host == "" {
		return nil, fmt.Errorf("load URL %q: want http://host:port/path", u)
	}
	return &fasthttp.HostClient{
		Addr:                          p.Host,
		MaxConns:                      1,
		ReadTimeout:                   10 * time.Second,
		WriteTimeout:                  10 * time.Second,
		MaxIdleConnDuration:           time.Minute,
		NoDefaultUserAgentHeader:      true,
		DisableHeaderNamesNormalizing: true,
	}, nil
}

// prepare fills req from r.
func (r Request) prepare(req *fasthttp.Request) {
	req.SetRequestURI(r.URL)
	req.Header.SetMethod(r.Method)
	if len(r.Body) > 0 {
		req.Header.SetContentType("application/octet-stream")
		req.SetBodyRaw(r.Body)
	}
}

// outcome is what one exchange counts as.
func outcome(err error, status int) (non2xx, failed bool) {
	if err != nil {
		return false, true
	}
	return status < 200 || status > 299, false
}
