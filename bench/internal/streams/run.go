// Package streams is the harness's suite for the gateway's long-lived
// connections (Server-Sent Events and WebSocket bridges). It runs the
// proxy as a separate process (so the tool's own memory is not counted),
// starts a loopback upstream, holds N connections through the proxy, and
// reports the proxy's memory per held connection (RSS growth ÷ N), the
// delivery delay of messages, and the proxy's CPU per message:
//
//	go run ./bench/cmd/load -suite streams -mode sse -n 1000 -rate 10 -duration 20s
//
// Each mode (sse.go, ws.go) brings its upstream and its client; run.go,
// target.go, hist.go and report.go are shared. A run is bounded by
// -timeout and stops by itself.
package streams

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"gateway/bench/internal/launch"
	proxies "gateway/bench/internal/target"
)

// Config is the run's parameters, from the flags.
type Config struct {
	modes     []string      // modes to run, each against each target
	targets   []string      // "gateway", "nginx"
	n         int           // connections to hold
	rate      float64       // messages per second per connection
	size      int           // message payload bytes (at least the timestamp)
	duration  time.Duration // measurement window
	settle    time.Duration // between the last connection opened and the window
	parallel  int           // connections being opened at once
	repo      string        // repository root to build the gateway from
	binary    string        // prebuilt gateway binary (skips the build)
	heartbeat time.Duration // SSE_HEARTBEAT_MS of the gateway
	env       multiFlag     // extra KEY=VALUE for the gateway
	smoke     bool          // short run that fails on any failed or dropped connection
	// target is the proxy of the run under way, set by Run.
	target string
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// listFlag is a comma-separated list flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	*l = nil
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// Flags defines the suite's flags on fs (the command defines -timeout,
// the bound on the whole run) and returns the Config they fill.
func Flags(fs *flag.FlagSet) *Config {
	c := &Config{modes: []string{"sse"}, targets: []string{"gateway", "nginx"}}
	fs.Var((*listFlag)(&c.modes), "mode", "connection kinds, comma-separated: "+strings.Join(modeNames(), ", "))
	fs.Var((*listFlag)(&c.targets), "target", "proxies under test, comma-separated, each run in turn: gateway, nginx")
	fs.IntVar(&c.n, "n", 1000, "connections to hold")
	fs.Float64Var(&c.rate, "rate", 10, "messages per second per connection")
	fs.IntVar(&c.size, "size", 0, "message payload bytes (0: just the timestamp)")
	fs.DurationVar(&c.duration, "duration", 20*time.Second, "measurement window")
	fs.DurationVar(&c.settle, "settle", 3*time.Second, "wait between opening the last connection and measuring")
	fs.IntVar(&c.parallel, "parallel", 64, "connections being opened at once")
	fs.StringVar(&c.repo, "repo", "", "repository root to build the gateway from (default: found from the working directory)")
	fs.StringVar(&c.binary, "binary", "", "prebuilt gateway binary (default: build one)")
	fs.DurationVar(&c.heartbeat, "heartbeat", 15*time.Second, "the gateway's SSE_HEARTBEAT_MS")
	fs.Var(&c.env, "env", "extra KEY=VALUE for the gateway's environment (repeatable)")
	fs.BoolVar(&c.smoke, "smoke", false, "a short run (20 connections, 1 s, modes sse and ws) that fails on any failed or dropped connection")
	return c
}

// Run runs every mode against every target, one after the other, prints
// each run's report and then a summary table, within ctx.
func Run(ctx context.Context, c Config, w io.Writer) error {
	if c.smoke {
		c.modes, c.n, c.rate, c.duration, c.settle = []string{"sse", "ws"}, 20, 10, time.Second, 200*time.Millisecond
	}
	if c.n <= 0 || c.rate < 0 || c.parallel <= 0 || len(c.modes) == 0 || len(c.targets) == 0 {
		return errors.New("-n and -parallel must be positive, -rate not negative, -mode and -target not empty")
	}
	soft, hard, err := launch.RaiseFileLimit()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "open-file limit: %d (hard %d)\n", soft, hard)
	if slices.Contains(c.targets, "nginx") {
		if _, err := proxies.Ensure(ctx, proxies.NginxPath, "nginx", w); err != nil {
			if !c.smoke {
				return err
			}
			fmt.Fprintf(w, "SKIP nginx: %v\n", err)
			c.targets = slices.DeleteFunc(slices.Clone(c.targets), func(t string) bool { return t == "nginx" })
		}
	}
	if c.binary == "" && slices.Contains(c.targets, "gateway") {
		dir, err := os.MkdirTemp("", "streams-bench-bin-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		repo, err := proxies.RepoRoot(c.repo)
		if err != nil {
			return err
		}
		c.binary = filepath.Join(dir, "gateway")
		if err := proxies.Build(ctx, repo, c.binary); err != nil {
			return err
		}
	}
	var reps []*report
	for _, mode := range c.modes {
		for _, tg := range c.targets {
			c.target = tg
			rep, err := runOne(ctx, c, mode)
			if err != nil {
				return fmt.Errorf("%s via %s: %w", mode, tg, err)
			}
			rep.print(w)
			reps = append(reps, rep)
		}
	}
	fmt.Fprintln(w)
	if err := summary(reps).Markdown(w); err != nil {
		return err
	}
	if c.smoke {
		return smokeCheck(reps, c.n)
	}
	return nil
}

// runOne does one measurement of one mode through c.target.
func runOne(ctx context.Context, c Config, name string) (*report, error) {
	m, ok := modes()[name]
	if !ok {
		return nil, fmt.Errorf("unknown mode %q (have %s)", name, strings.Join(modeNames(), ", "))
	}
	upURL, stopUpstream, err := m.startUpstream(ctx, c)
	if err != nil {
		return nil, fmt.Errorf("starting the upstream: %w", err)
	}
	defer stopUpstream()
	tg, err := startTarget(ctx, c, m.route(), upURL)
	if err != nil {
		return nil, err
	}
	defer tg.stop()
	return measure(ctx, c, m, tg)
}

// measure opens the connections, lets them settle, and measures over the
// window.
func measure(ctx context.Context, c Config, m mode, tg *target) (*report, error) {
	rep := &report{cfg: c, mode: m.name(), target: tg.name}
	var err error
	if rep.before, err = tg.sample(); err != nil {
		return nil, err
	}
	rec := newRecorder()
	connCtx, closeConns := context.WithCancel(ctx)
	defer closeConns()
	d := newDialer(c.n)
	start := time.Now()
	rep.opened, rep.failed, rep.firstErr = openAll(connCtx, c, m, d, tg.addr, rec)
	rep.openTime = time.Since(start)
	if rep.opened == 0 {
		return nil, fmt.Errorf("no connection opened: %v", rep.firstErr)
	}
	if err := sleepCtx(ctx, c.settle); err != nil {
		return nil, err
	}
	rec.startWindow()
	s0, err := tg.sample()
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	rep.peakRSS = s0.RSSKiB
	for time.Since(t0) < c.duration {
		if err := sleepCtx(ctx, min(time.Second, c.duration-time.Since(t0))); err != nil {
			return nil, err
		}
		s, err := tg.sample()
		if err != nil {
			return nil, err
		}
		rep.peakRSS = max(rep.peakRSS, s.RSSKiB)
	}
	s1, err := tg.sample()
	if err != nil {
		return nil, err
	}
	rep.window = time.Since(t0)
	rec.stopWindow()
	rep.after, rep.cpu = s1, s1.CPU()-s0.CPU()
	rep.delays, rep.messages = rec.hist.snapshot(), rec.windowed.Load()
	rep.dropped = rec.dropped.Load()
	return rep, nil
}

// sleepCtx sleeps d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("run bound reached: %w", ctx.Err())
	}
}
