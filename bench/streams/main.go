// Command streams is the load tool for the gateway's long-lived connections
// (issue 3). It runs the gateway as a separate process built from this
// repository (so the tool's own memory is not counted), starts a loopback
// upstream in its own process, holds N connections through the gateway, and
// reports the gateway's memory per held connection (RSS growth ÷ N), the
// delivery delay of messages, and the gateway's CPU per message.
//
//	go run ./bench/streams -mode sse -n 1000 -rate 10 -duration 20s
//
// Each mode (sse.go; a WebSocket mode goes in its own file) brings its
// upstream and its client; main.go, target.go, proc.go and hist.go are
// shared. The run is bounded by -timeout and stops by itself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"
)

// config is the run's parameters, from the flags.
type config struct {
	mode      string
	n         int           // connections to hold
	rate      float64       // messages per second per connection
	size      int           // message payload bytes (at least the timestamp)
	duration  time.Duration // measurement window
	settle    time.Duration // between the last connection opened and the window
	timeout   time.Duration // bound on the whole run
	parallel  int           // connections being opened at once
	target    string        // "gateway" or "nginx"
	repo      string        // repository root to build the gateway from
	binary    string        // prebuilt gateway binary (skips the build)
	heartbeat time.Duration // SSE_HEARTBEAT_MS of the gateway
	env       multiFlag     // extra KEY=VALUE for the gateway
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func parseFlags() config {
	var c config
	flag.StringVar(&c.mode, "mode", "sse", "connection kind: "+strings.Join(modeNames(), ", "))
	flag.IntVar(&c.n, "n", 1000, "connections to hold")
	flag.Float64Var(&c.rate, "rate", 10, "messages per second per connection")
	flag.IntVar(&c.size, "size", 0, "message payload bytes (0: just the timestamp)")
	flag.DurationVar(&c.duration, "duration", 20*time.Second, "measurement window")
	flag.DurationVar(&c.settle, "settle", 3*time.Second, "wait between opening the last connection and measuring")
	flag.DurationVar(&c.timeout, "timeout", 5*time.Minute, "bound on the whole run")
	flag.IntVar(&c.parallel, "parallel", 64, "connections being opened at once")
	flag.StringVar(&c.target, "target", "gateway", "proxy under test: gateway or nginx")
	flag.StringVar(&c.repo, "repo", "", "repository root to build the gateway from (default: found from the working directory)")
	flag.StringVar(&c.binary, "binary", "", "prebuilt gateway binary (default: build one)")
	flag.DurationVar(&c.heartbeat, "heartbeat", 15*time.Second, "the gateway's SSE_HEARTBEAT_MS")
	flag.Var(&c.env, "env", "extra KEY=VALUE for the gateway's environment (repeatable)")
	flag.Parse()
	return c
}

func main() {
	c := parseFlags()
	if err := run(c); err != nil {
		fmt.Fprintln(os.Stderr, "streams:", err)
		os.Exit(1)
	}
}

// run does one measurement and prints its report.
func run(c config) error {
	m, ok := modes()[c.mode]
	if !ok {
		return fmt.Errorf("unknown mode %q (have %s)", c.mode, strings.Join(modeNames(), ", "))
	}
	if c.n <= 0 || c.rate < 0 || c.parallel <= 0 {
		return errors.New("-n and -parallel must be positive, -rate not negative")
	}
	soft, hard, err := raiseFileLimit()
	if err != nil {
		return err
	}
	fmt.Printf("open-file limit: %d (hard %d)\n", soft, hard)
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()

	upURL, stopUpstream, err := m.startUpstream(ctx, c)
	if err != nil {
		return fmt.Errorf("starting the upstream: %w", err)
	}
	defer stopUpstream()
	tg, err := startTarget(ctx, c, m.route(), upURL)
	if err != nil {
		return err
	}
	defer tg.stop()

	rep, err := measure(ctx, c, m, tg)
	if err != nil {
		return err
	}
	rep.print(os.Stdout)
	return nil
}

// measure opens the connections, lets them settle, and measures over the
// window.
func measure(ctx context.Context, c config, m mode, tg *target) (*report, error) {
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
	rep.peakRSS = s0.rssKiB
	for time.Since(t0) < c.duration {
		if err := sleepCtx(ctx, min(time.Second, c.duration-time.Since(t0))); err != nil {
			return nil, err
		}
		s, err := tg.sample()
		if err != nil {
			return nil, err
		}
		rep.peakRSS = max(rep.peakRSS, s.rssKiB)
	}
	s1, err := tg.sample()
	if err != nil {
		return nil, err
	}
	rep.window = time.Since(t0)
	rec.stopWindow()
	rep.after, rep.cpu = s1, s1.cpu-s0.cpu
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
