package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"gateway/bench/internal/faultup"
)

// serveFaultUpstream is the chaos and soak suites' upstream child process
// (package rig starts it): it serves until SIGTERM or SIGINT, or dies by
// the SIGKILL of the fault script.
func serveFaultUpstream(args []string) int {
	fs := flag.NewFlagSet("serve-fault-upstream", flag.ContinueOnError)
	name := fs.String("name", "", "the upstream's name, sent in X-Upstream")
	addr := fs.String("addr", "", "host:port to listen on")
	ids := fs.String("ids", "", "file the POST ids are appended to")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *name == "" || *addr == "" || *ids == "" {
		fmt.Fprintln(os.Stderr, "serve-fault-upstream: -name, -addr and -ids are required")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := faultup.New(*name, *ids)
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve-fault-upstream:", err)
		return 1
	}
	defer s.Close()
	if err := faultup.Serve(ctx, s, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "serve-fault-upstream:", err)
		return 1
	}
	return 0
}
