package main

import (
	"fmt"
	"io"

	"gateway/config"
	"gateway/internal/buildinfo"
)

// envFile is the dotenv file the gateway reads from its working directory,
// and the one CONFIG_WATCH watches.
const envFile = ".env"

// check validates the configuration as serve would load it (the environment
// plus ./.env) and listens on nothing, as nginx -t and caddy validate do: it
// exits 0 with a one-line summary, or exitConfig with serve's own message.
func check(stdout, stderr io.Writer) int {
	cfg, err := config.Load(envFile)
	if err != nil {
		printConfigError(stderr, err)
		return exitConfig
	}
	upstreams := 0
	for _, urls := range cfg.Upstreams {
		upstreams += len(urls)
	}
	fmt.Fprintf(stdout, "gateway: configuration OK: %d services, %d upstreams, listen %s\n",
		len(cfg.Upstreams), upstreams, cfg.Addr())
	return 0
}

// printConfigError writes the message naming every bad variable, the same
// for a failed start and a failed check.
func printConfigError(w io.Writer, err error) {
	fmt.Fprintln(w, "gateway: invalid configuration:")
	fmt.Fprintln(w, err)
}

// printVersion writes the build's version (see internal/buildinfo) alone on
// a line, for scripts.
func printVersion(w io.Writer) int {
	fmt.Fprintln(w, buildinfo.Version())
	return 0
}
