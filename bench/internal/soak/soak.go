// Package soak is the harness's long steady run: mixed traffic (package
// mixed) with SSE streams and WebSockets held open through the built
// gateway binary at two upstreams (package rig), and every -every the
// gateway's resident memory (/proc/PID/status), goroutines (go_goroutines
// from /metrics) and open descriptors (/proc/PID/fd). It prints the table
// and judges each series flat after the warm-up: a leak shows as growth
// that steady load does not explain.
//
//	go run ./bench/cmd/load -suite soak -duration 10m
package soak

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"gateway/bench/internal/mixed"
	"gateway/bench/internal/proc"
	"gateway/bench/internal/report"
	"gateway/bench/internal/rig"
	"gateway/bench/internal/target"
)

// Config is the run's parameters, from the flags.
type Config struct {
	Duration, Every, Warmup time.Duration
	GetRate, PostRate       float64
	SSE, WS                 int
	Repo, Binary, Self      string
}

// Flags defines the suite's flags on fs and returns the Config they fill.
func Flags(fs *flag.FlagSet) *Config {
	c := &Config{}
	fs.DurationVar(&c.Duration, "duration", 10*time.Minute, "length of the run")
	fs.DurationVar(&c.Every, "every", 10*time.Second, "interval between samples")
	fs.DurationVar(&c.Warmup, "warmup", time.Minute, "samples before this are shown but not judged")
	fs.Float64Var(&c.GetRate, "get-rate", 200, "GETs per second")
	fs.Float64Var(&c.PostRate, "post-rate", 50, "POSTs per second")
	fs.IntVar(&c.SSE, "sse", 50, "SSE streams held open")
	fs.IntVar(&c.WS, "ws", 50, "WebSocket connections held open")
	fs.StringVar(&c.Repo, "repo", "", "gateway repository to build (default: found from the working directory)")
	fs.StringVar(&c.Binary, "binary", "", "prebuilt gateway binary (default: build one)")
	return c
}

// Finish completes the Config once the flags are parsed.
func (c *Config) Finish() error {
	if c.Duration <= 0 || c.Every <= 0 || c.Warmup < 0 || c.Warmup >= c.Duration || c.GetRate < 0 || c.PostRate < 0 {
		return errors.New("-duration and -every must be positive, -warmup shorter than -duration, rates not negative")
	}
	var err error
	c.Self, err = os.Executable()
	return err
}

// Sample is one reading of the gateway.
type Sample struct {
	At         time.Duration // since the traffic started
	RSSKiB     int64
	Goroutines int64
	FDs        int
	Requests   int // GETs and POSTs answered so far
	Failed     int // of them, not 2xx
	Ended      int // SSE streams and WebSockets that ended (and were reopened) so far
}

// Run runs the soak and writes the table and the verdict to w; it returns
// an error when a series grew after the warm-up.
func Run(ctx context.Context, c Config, w io.Writer) error {
	dir, err := os.MkdirTemp("", "gateway-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	if c.Binary == "" {
		repo, err := target.RepoRoot(c.Repo)
		if err != nil {
			return err
		}
		c.Binary = filepath.Join(dir, "gateway")
		if err := target.Build(ctx, repo, c.Binary); err != nil {
			return err
		}
	}
	r, err := rig.Start(ctx, rig.Options{Self: c.Self, Gateway: c.Binary, Dir: dir,
		Env: []string{"SSE_HEARTBEAT_MS=5000", "WS_PING_INTERVAL_MS=5000"}})
	defer r.Stop()
	if err != nil {
		return err
	}
	tr := mixed.Start(ctx, mixed.Config{
		Base: "http://" + r.Addr, Service: rig.Service, GetRate: c.GetRate, PostRate: c.PostRate,
		SSE: c.SSE, WS: c.WS, WSEvery: time.Second, RunID: strconv.FormatInt(time.Now().UnixNano(), 36),
	})
	samples, err := sampleAll(ctx, c, r, tr, w)
	tr.Stop()
	if err != nil {
		return err
	}
	_ = table(samples).Markdown(w)
	verdicts := judge(samples, c.Warmup)
	failed := false
	for _, v := range verdicts {
		fmt.Fprintln(w, v)
		failed = failed || !v.flat
	}
	if failed {
		return errors.New("a series grew after the warm-up")
	}
	return nil
}

// sampleAll reads the gateway every c.Every until c.Duration has passed.
func sampleAll(ctx context.Context, c Config, r *rig.Rig, tr *mixed.Traffic, w io.Writer) ([]Sample, error) {
	hc := &http.Client{Timeout: 5 * time.Second}
	start := time.Now()
	tick := time.NewTicker(c.Every)
	defer tick.Stop()
	var out []Sample
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-tick.C:
		}
		s, err := read(ctx, r, hc, tr)
		if err != nil {
			return nil, err
		}
		s.At = time.Since(start).Round(time.Second)
		out = append(out, s)
		fmt.Fprintf(w, "%v  rss %d KiB  goroutines %d  fds %d  requests %d (failed %d)  streams ended %d\n",
			s.At, s.RSSKiB, s.Goroutines, s.FDs, s.Requests, s.Failed, s.Ended)
		if time.Since(start) >= c.Duration {
			return out, nil
		}
	}
}

// read takes one sample.
func read(ctx context.Context, r *rig.Rig, hc *http.Client, tr *mixed.Traffic) (Sample, error) {
	pid := r.Gateway.Pid()
	st, err := proc.Read([]int{pid})
	if err != nil {
		return Sample{}, err
	}
	fds, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		return Sample{}, fmt.Errorf("counting the gateway's descriptors: %w", err)
	}
	fams, err := r.Metrics(ctx, hc)
	if err != nil {
		return Sample{}, err
	}
	g, ok := rig.Gauge(fams, "go_goroutines", "")
	if !ok {
		return Sample{}, errors.New("/metrics has no go_goroutines")
	}
	s := Sample{RSSKiB: st.RSSKiB, Goroutines: int64(g), FDs: len(fds), Ended: len(tr.Streams())}
	for _, q := range tr.Requests() {
		s.Requests++
		if !q.OK() {
			s.Failed++
		}
	}
	return s, nil
}

// table renders the samples.
func table(samples []Sample) report.Table {
	t := report.Table{
		Title:  "Soak: the gateway under steady mixed load",
		Header: []string{"t", "RSS MiB", "goroutines", "open fds", "requests", "failed", "streams ended"},
		Right:  []bool{true, true, true, true, true, true, true},
	}
	for _, s := range samples {
		t.Rows = append(t.Rows, []string{s.At.String(), fmt.Sprintf("%.1f", float64(s.RSSKiB)/1024),
			fmt.Sprint(s.Goroutines), fmt.Sprint(s.FDs), fmt.Sprint(s.Requests), fmt.Sprint(s.Failed), fmt.Sprint(s.Ended)})
	}
	return t
}
