package target

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"gateway/bench/internal/launch"
	"gateway/bench/internal/upstream"
)

// Build builds the gateway binary of the repository at repo into out.
func Build(ctx context.Context, repo, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, ".")
	cmd.Dir, cmd.Stdout, cmd.Stderr = repo, os.Stderr, os.Stderr
	if err := launch.Run(ctx, cmd); err != nil {
		return fmt.Errorf("building the gateway: %w", err)
	}
	return nil
}

// Gateway runs the gateway binary bin with its defaults (request id,
// metrics, selection, breaker; no auth, rate limit or cache), one P
// (GOMAXPROCS=1, as on the one CPU it is pinned to), in o.Dir so that no
// .env is read. pprof, when non-empty, is its PPROF_ADDR; env is appended
// last and wins.
func Gateway(ctx context.Context, g *launch.Group, bin string, o Options, pprof string, env []string) (*Target, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	host, port, _ := strings.Cut(addr, ":")
	var ups []string
	for _, u := range o.Upstreams {
		ups = append(ups, "http://"+u)
	}
	upJSON, _ := json.Marshal(map[string][]string{Service: ups})
	level := "warn" // the access log is written at info
	if o.AccessLog != "" {
		level = "info"
	}
	full := append(os.Environ(),
		"HOST="+host, "PORT="+port, "APP_ENV=development", "UPSTREAMS="+string(upJSON),
		"LOG_LEVEL="+level, "LOG_FORMAT=json", "GOMAXPROCS=1", "PPROF_ADDR="+pprof)
	full = append(full, env...)
	log := filepath.Join(o.Dir, "gateway.log")
	if o.AccessLog != "" {
		log = o.AccessLog // the gateway logs requests to stderr
	}
	p, err := g.Start(launch.Spec{Name: "gateway", Path: bin, Env: full, Dir: o.Dir, Log: log, CPU: o.CPU})
	if err != nil {
		return nil, err
	}
	t := &Target{Name: "gateway", Addr: addr, Prefix: Prefix, Proc: p, Pprof: pprof}
	if err := WaitReady(ctx, p, t.URL(upstream.PathJSON)); err != nil {
		return nil, err
	}
	return t, nil
}

// RepoRoot returns dir, or the nearest directory up from the working one
// holding the gateway's go.mod.
func RepoRoot(dir string) (string, error) {
	if dir != "" {
		return dir, nil
	}
	d, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && strings.HasPrefix(string(b), "module gateway\n") {
			return d, nil
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", errors.New("gateway repository not found above the working directory; pass -repo")
		}
		d = parent
	}
}
