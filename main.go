// Command gateway is a high-concurrency API gateway on Fiber and fasthttp.
//
//	gateway              serve, configured from the environment and ./.env
//	gateway demo         serve in front of built-in demo upstreams on loopback
//	gateway healthcheck  exit 0 when the local /healthz answers (container HEALTHCHECK)
//	gateway check        validate the configuration and exit, listening on nothing
//	gateway version      print the build's version
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"gateway/app"
	"gateway/config"
	"gateway/internal/demo"
)

// Exit codes: 1 for a failure while running, 2 for bad configuration.
const (
	exitFailure = 1
	exitConfig  = 2
)

func main() {
	cmd := ""
	if len(os.Args) > 1 {
		cmd = os.Args[1]
	}
	switch cmd {
	case "":
		os.Exit(serve(false))
	case "demo":
		os.Exit(serve(true))
	case "healthcheck":
		os.Exit(healthcheck())
	case "check":
		os.Exit(check(os.Stdout, os.Stderr))
	case "version":
		os.Exit(printVersion(os.Stdout))
	default:
		fmt.Fprintf(os.Stderr, "usage: gateway [demo|healthcheck|check|version]\n")
		os.Exit(exitConfig)
	}
}

// serve runs the gateway until SIGINT or SIGTERM, then drains it.
func serve(withDemo bool) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	seen, _ := os.ReadFile(envFile) // what loadConfig reads; CONFIG_WATCH compares with it
	cfg, err := loadConfig(ctx, withDemo)
	if err != nil {
		printConfigError(os.Stderr, err)
		return exitConfig
	}
	log := app.NewLogger(os.Stderr, cfg.LogLevel, cfg.LogFormat)
	raiseFileLimit(log)
	gw, err := app.New(cfg, app.Options{Logger: log})
	if err != nil {
		log.Error("starting gateway", slog.Any("error", err))
		return exitFailure
	}
	ln, err := net.Listen("tcp", cfg.Addr())
	if err != nil {
		log.Error("listening", slog.String("addr", cfg.Addr()), slog.Any("error", err))
		return exitFailure
	}
	log.Info("gateway listening", slog.String("addr", ln.Addr().String()))
	if withDemo {
		printDemo(os.Stdout, ln.Addr().String())
	}
	go reloadOnHUP(ctx, gw, log)
	if cfg.ConfigWatch && !withDemo {
		go watchConfig(ctx, gw, log, seen)
	}

	errc := make(chan error, 1)
	go func() { errc <- gw.Listener(ln) }()
	select {
	case err := <-errc:
		log.Error("serving", slog.Any("error", err))
		return exitFailure
	case <-ctx.Done():
	}
	stop() // a second signal ends the process at once
	log.Info("shutting down", slog.Duration("delay", cfg.ShutdownDelay), slog.Duration("timeout", cfg.ShutdownTimeout))
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownDelay+cfg.ShutdownTimeout)
	defer cancel()
	if err := gw.Shutdown(sctx); err != nil {
		log.Warn("shutdown incomplete", slog.Any("error", err))
	}
	return 0
}

// loadConfig reads the configuration; in demo mode the demo's upstreams
// stand in for UPSTREAMS and the rest keeps its defaults or environment.
func loadConfig(ctx context.Context, withDemo bool) (*config.Config, error) {
	if !withDemo {
		return config.Load(envFile)
	}
	set, err := demo.Start(ctx)
	if err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.Upstreams = set.Services
	if p, err := strconv.Atoi(os.Getenv("PORT")); err == nil && p > 0 {
		cfg.Port = p
	}
	cfg.Host = "127.0.0.1"
	cfg.LogFormat = "text"
	return cfg, nil
}

// reloadOnHUP reloads the upstream list from the environment and .env on
// each SIGHUP, keeping open connections.
func reloadOnHUP(ctx context.Context, gw *app.App, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			reload(gw, log, "SIGHUP")
		}
	}
}

func printDemo(w io.Writer, addr string) {
	base := "http://" + addr
	fmt.Fprintf(w, `
Gateway demo running on %[1]s (Ctrl-C to stop). Try:
  curl -i %[1]s/api/users/hello?name=you       # proxied to the faster of two users upstreams
  curl -i -X POST --data 'hi' %[1]s/api/orders/new
  curl -i %[1]s/api/nope/x                     # unknown service: 404 JSON
  curl -N %[1]s/sse/ticks/clock                # server-sent events, one a second, streamed
  websocat 'ws://%[2]s/ws/chat?path=/room/1&nick=me'   # WebSocket bridge to an echo server
    (or in a browser console: new WebSocket("ws://%[2]s/ws/chat?path=/room/1").onmessage = e => console.log(e.data))
  curl -i %[1]s/healthz
  curl -i %[1]s/readyz
  open %[1]s/admin                               # live dashboard of every upstream
  curl -s %[1]s/metrics | grep ^gateway_           # Prometheus metrics
`, base, addr)
}

// healthcheck asks the local gateway's /healthz; for the container's
// HEALTHCHECK, which has no curl.
func healthcheck() int {
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + port + "/healthz")
	if err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		return exitFailure
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(os.Stderr, "healthcheck: status", resp.StatusCode)
		return exitFailure
	}
	return 0
}
