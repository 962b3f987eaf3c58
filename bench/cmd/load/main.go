// Command load is the gateway's benchmark harness: one command that builds
// the gateway, starts loopback upstreams, and measures the gateway against
// the upstream hit directly, nginx and (with -haproxy) HAProxy, in
// alternating rounds with the proxy pinned to one CPU.
//
//	go run ./bench/cmd/load                      # GET, POST 64 KiB, GET 1 MiB; closed and open loop
//	go run ./bench/cmd/load -scenarios get -rounds 5 -profile cpu.pprof
//	go run ./bench/cmd/load -suite streams -mode sse,ws -n 1000   # WebSocket and SSE
//	go run ./bench/cmd/load -smoke               # the 2-second check CI runs
//	go run ./bench/cmd/load -suite chaos -short  # faults under mixed traffic, ≤ 60 s, CI runs it
//	go run ./bench/cmd/load -suite soak -duration 10m   # RSS, goroutines, fds over a steady run
//
// Every run is bounded by -timeout and stops every process it started,
// on an error and on SIGINT or SIGTERM too.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"gateway/bench/internal/chaos"
	"gateway/bench/internal/httpsuite"
	"gateway/bench/internal/launch"
	"gateway/bench/internal/rig"
	"gateway/bench/internal/soak"
	"gateway/bench/internal/streams"
	"gateway/bench/internal/upstream"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve-upstream" {
		os.Exit(serveUpstream(os.Args[2:]))
	}
	if len(os.Args) > 1 && os.Args[1] == rig.ChildCommand {
		os.Exit(serveFaultUpstream(os.Args[2:]))
	}
	suite := suiteOf(os.Args[1:])
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	fs.String("suite", "http", "what to measure: http (request–response scenarios) or streams (SSE and WebSocket)")
	timeout := fs.Duration("timeout", 30*time.Minute, "bound on the whole run")
	var run func(context.Context) error
	switch suite {
	case "http":
		cfg := httpFlags(fs)
		_ = fs.Parse(os.Args[1:]) // ExitOnError
		run = func(ctx context.Context) error { return httpsuite.Run(ctx, cfg.Config, os.Stdout) }
		if err := finishHTTP(fs, cfg, timeout); err != nil {
			fail(err)
		}
	case "streams":
		c := streams.Flags(fs)
		_ = fs.Parse(os.Args[1:])
		if !isSet(fs, "timeout") {
			*timeout = 5 * time.Minute
		}
		run = func(ctx context.Context) error { return streams.Run(ctx, *c, os.Stdout) }
	case "chaos":
		c := chaos.Flags(fs)
		_ = fs.Parse(os.Args[1:])
		if err := c.Finish(fs); err != nil {
			fail(err)
		}
		if !isSet(fs, "timeout") {
			*timeout = 10 * time.Minute
			if c.Short {
				*timeout = 2 * time.Minute
			}
		}
		run = func(ctx context.Context) error { return chaos.Run(ctx, *c, os.Stdout) }
	case "soak":
		c := soak.Flags(fs)
		_ = fs.Parse(os.Args[1:])
		if err := c.Finish(); err != nil {
			fail(err)
		}
		if !isSet(fs, "timeout") {
			*timeout = c.Duration + 5*time.Minute
		}
		run = func(ctx context.Context) error { return soak.Run(ctx, *c, os.Stdout) }
	default:
		fail(fmt.Errorf("unknown -suite %q (http, streams, chaos or soak)", suite))
	}
	if _, _, err := launch.RaiseFileLimit(); err != nil {
		fail(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	err := run(ctx)
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() == context.DeadlineExceeded {
		err = fmt.Errorf("run bound -timeout %v reached: %w", *timeout, err)
	}
	if err != nil {
		cancel()
		stop()
		fail(err)
	}
}

// fail reports err and exits 1; deferred cleanups have run by then, as run
// returns only once its processes are stopped.
func fail(err error) {
	fmt.Fprintln(os.Stderr, "load:", err)
	os.Exit(1)
}

// suiteOf finds the -suite flag's value before the flags are parsed, as
// each suite has flags of its own.
func suiteOf(args []string) string {
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if !strings.HasPrefix(a, "-") || name != "suite" {
			continue
		}
		if hasVal {
			return val
		}
		if i+1 < len(args) {
			return args[i+1]
		}
	}
	return "http"
}

// isSet reports whether the flag name was given.
func isSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// serveUpstream is the upstream child process: it serves on each address
// given until SIGTERM or SIGINT.
func serveUpstream(addrs []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := upstream.Serve(ctx, addrs); err != nil {
		fmt.Fprintln(os.Stderr, "upstream:", err)
		return 1
	}
	return 0
}
