package httpsuite

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"time"

	"gateway/bench/internal/launch"
	"gateway/bench/internal/loadgen"
	"gateway/bench/internal/target"
)

// profile takes a CPU profile of the gateway from its PPROF_ADDR listener
// while the closed-loop GET load runs, writes it to cfg.Profile and prints
// `go tool pprof -top`'s first 15 lines, by flat and by cumulative time.
func (b *bench) profile(ctx context.Context, w io.Writer) error {
	var gw *target.Target
	for _, t := range b.targets {
		if t.Name == "gateway" {
			gw = t
		}
	}
	if gw == nil || gw.Pprof == "" {
		return errors.New("profile: the gateway has no PPROF_ADDR listener")
	}
	secs := max(int(b.cfg.ProfileFor/time.Second), 1)
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", gw.Pprof, secs)
	fmt.Fprintf(w, "\nprofiling the gateway for %ds under the closed-loop GET load: %s\n", secs, url)
	got := make(chan error, 1)
	mark := func(start bool) {
		if start {
			go func() { got <- fetch(ctx, url, b.cfg.Profile, time.Duration(secs+30)*time.Second) }()
		}
	}
	sc, _ := scenario("get")
	req := loadgen.Request{Method: sc.Method, URL: gw.URL(sc.Path)}
	window := time.Duration(secs)*time.Second + time.Second
	var err error
	if b.wrk != "" {
		_, err = loadgen.Wrk{Path: b.wrk, Dir: b.dir, CPU: b.loadCPU, Group: b.group}.Closed(ctx, req, b.cfg.Conns, time.Second, window, mark)
	} else {
		_, err = loadgen.Closed(ctx, req, b.cfg.Conns, time.Second, window, mark)
	}
	if err != nil {
		return fmt.Errorf("profile load: %w", err)
	}
	if err := <-got; err != nil {
		return err
	}
	fmt.Fprintf(w, "wrote %s\n", b.cfg.Profile)
	for _, sort := range []string{"-flat", "-cum"} {
		cmd := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", sort, "-nodecount=15", b.gateway, b.cfg.Profile)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := launch.Run(ctx, cmd); err != nil {
			return fmt.Errorf("go tool pprof: %w\n%s", err, out.String())
		}
		fmt.Fprintf(w, "\n$ go tool pprof -top %s -nodecount=15 gateway %s\n%s", sort, b.cfg.Profile, out.String())
	}
	return nil
}

// fetch saves the body of a GET of url to path.
func fetch(ctx context.Context, url, path string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetching the profile: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("reading the profile: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("fetching the profile: %s: %s", resp.Status, body)
	}
	return os.WriteFile(path, body, 0o644)
}
