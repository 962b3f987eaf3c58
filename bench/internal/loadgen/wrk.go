package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gateway/bench/internal/launch"
)

// wrkScript sets the request and, when wrk is done, prints its exact
// counts and the quantiles its human output leaves out (p99.9), one line
// each, for ParseWrk.
const wrkScript = `wrk.method = "%s"
%s
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("bench-wrk requests=%%d duration_us=%%d bytes=%%d connect=%%d read=%%d write=%%d status=%%d timeout=%%d\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout))
  io.write(string.format("bench-wrk-latency-us p50=%%d p90=%%d p99=%%d p99.9=%%d max=%%d mean=%%.1f\n",
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9), latency.max, latency.mean))
end
`

// Wrk is the wrk(1) closed-loop generator: one thread, conns connections.
type Wrk struct {
	Path  string        // the wrk binary
	Dir   string        // for its script and output
	CPU   int           // the CPU it is pinned to; negative: not pinned
	Group *launch.Group // where it is started, so that a stop ends it
}

// Closed runs wrk for warmup (discarded), then for window, calling mark
// around the second run. wrk counts whole seconds: each run lasts at least
// one.
func (w Wrk) Closed(ctx context.Context, r Request, conns int, warmup, window time.Duration, mark Mark) (Result, error) {
	script := filepath.Join(w.Dir, "bench.lua")
	body := ""
	if len(r.Body) > 0 {
		body = fmt.Sprintf("wrk.body = string.rep(\"x\", %d)\nwrk.headers[\"Content-Type\"] = \"application/octet-stream\"", len(r.Body))
	}
	if err := os.WriteFile(script, fmt.Appendf(nil, wrkScript, r.Method, body), 0o644); err != nil {
		return Result{}, err
	}
	if warmup > 0 {
		if _, err := w.run(ctx, script, r.URL, conns, warmup); err != nil {
			return Result{}, err
		}
	}
	mark(true)
	out, err := w.run(ctx, script, r.URL, conns, window)
	mark(false)
	if err != nil {
		return Result{}, err
	}
	return ParseWrk(out)
}

// run runs wrk once and returns its output.
func (w Wrk) run(ctx context.Context, script, url string, conns int, d time.Duration) (string, error) {
	secs := max(int((d+time.Second/2)/time.Second), 1)
	out := filepath.Join(w.Dir, "wrk.out")
	_ = os.Remove(out)
	p, err := w.Group.Start(launch.Spec{
		Name: "wrk", Path: w.Path, Log: out, CPU: w.CPU,
		Args: []string{"-t1", "-c" + strconv.Itoa(conns), "-d" + strconv.Itoa(secs) + "s", "--latency", "--timeout", "10s", "-s", script, url},
	})
	if err != nil {
		return "", err
	}
	select {
	case <-p.Done():
	case <-ctx.Done():
		p.Stop(time.Second)
		return "", ctx.Err()
	}
	b, _ := os.ReadFile(out)
	if err := p.Err(); err != nil {
		return "", fmt.Errorf("wrk: %w:\n%s", err, b)
	}
	return string(b), nil
}

// LookWrk returns the wrk binary's path, or "" when it is not installed.
func LookWrk() string {
	p, err := exec.LookPath("wrk")
	if err != nil {
		return ""
	}
	return p
}

// ParseWrk reads wrk's output: the human summary ("N requests in D",
// "Socket errors: …", "Non-2xx or 3xx responses: N", the --latency
// distribution) and, when the harness's script printed them, the exact
// "bench-wrk" lines, which win.
func ParseWrk(out string) (Result, error) {
	r := Result{From: "send"}
	var seen, exact bool
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in" && !exact:
			n, err1 := strconv.ParseUint(f[0], 10, 64)
			d, err2 := time.ParseDuration(strings.TrimSuffix(f[3], ","))
			if err := errors.Join(err1, err2); err != nil {
				return r, fmt.Errorf("wrk summary %q: %w", sc.Text(), err)
			}
			r.Requests, r.Elapsed, seen = n, d, true
		case len(f) == 10 && f[0] == "Socket" && f[1] == "errors:" && !exact:
			for i := 3; i < len(f); i += 2 {
				n, err := strconv.ParseUint(strings.TrimSuffix(f[i], ","), 10, 64)
				if err != nil {
					return r, fmt.Errorf("wrk socket errors %q: %w", sc.Text(), err)
				}
				r.Errors += n
			}
		case len(f) == 5 && f[0] == "Non-2xx" && !exact:
			n, err := strconv.ParseUint(f[4], 10, 64)
			if err != nil {
				return r, fmt.Errorf("wrk non-2xx %q: %w", sc.Text(), err)
			}
			r.Non2xx = n
		case len(f) == 2 && strings.HasSuffix(f[0], "%"):
			if err := humanQuantile(&r.Latency, f[0], f[1]); err != nil {
				return r, err
			}
		case len(f) > 0 && f[0] == "bench-wrk":
			if err := exactCounts(&r, f[1:]); err != nil {
				return r, err
			}
			seen, exact = true, true
		case len(f) > 0 && f[0] == "bench-wrk-latency-us":
			if err := exactLatency(&r.Latency, f[1:]); err != nil {
				return r, err
			}
		}
	}
	if !seen {
		return r, fmt.Errorf("no request count in wrk's output:\n%s", out)
	}
	return r, nil
}

// humanQuantile reads one line of the --latency distribution.
func humanQuantile(l *Latency, pct, val string) error {
	d, err := time.ParseDuration(val)
	if err != nil {
		return fmt.Errorf("wrk latency %s %s: %w", pct, val, err)
	}
	switch pct {
	case "50%":
		l.P50 = d
	case "90%":
		l.P90 = d
	case "99%":
		l.P99 = d
	}
	return nil
}

// keyValues parses "k=v" fields into integers.
func keyValues(fields []string) (map[string]float64, error) {
	m := map[string]float64{}
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("wrk script field %q: no '='", f)
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("wrk script field %q: %w", f, err)
		}
		m[k] = n
	}
	return m, nil
}

// exactCounts reads the script's "bench-wrk" line. wrk counts an answer
// outside 200–399 as a status error; the harness counts non-2xx.
func exactCounts(r *Result, fields []string) error {
	m, err := keyValues(fields)
	if err != nil {
		return err
	}
	for _, k := range []string{"requests", "duration_us", "connect", "read", "write", "status", "timeout"} {
		if _, ok := m[k]; !ok {
			return fmt.Errorf("wrk script line without %s", k)
		}
	}
	r.Requests = uint64(m["requests"])
	r.Elapsed = time.Duration(m["duration_us"]) * time.Microsecond
	r.Errors = uint64(m["connect"] + m["read"] + m["write"] + m["timeout"])
	r.Non2xx = uint64(m["status"])
	return nil
}

// exactLatency reads the script's "bench-wrk-latency-us" line.
func exactLatency(l *Latency, fields []string) error {
	m, err := keyValues(fields)
	if err != nil {
		return err
	}
	us := func(k string) time.Duration { return time.Duration(m[k] * float64(time.Microsecond)) }
	*l = Latency{P50: us("p50"), P90: us("p90"), P99: us("p99"), P999: us("p99.9"), Max: us("max"), Mean: us("mean")}
	return nil
}
