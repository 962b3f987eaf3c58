package httpsuite

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"gateway/bench/internal/launch"
)

// Run does the whole suite and writes its report to w; the files go to
// cfg.Out. Every process it starts is stopped before it returns, whether
// it returns with an error or because ctx ended.
func Run(ctx context.Context, cfg Config, w io.Writer) (err error) {
	if err := cfg.Check(); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "gateway-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	b := &bench{cfg: cfg, dir: dir, group: &launch.Group{}, started: time.Now()}
	defer b.group.Stop(5 * time.Second)

	if err := b.pin(w); err != nil {
		return err
	}
	if err := b.pickGenerator(w); err != nil {
		return err
	}
	if err := b.startUpstreams(ctx); err != nil {
		return err
	}
	if err := b.startTargets(ctx, w); err != nil {
		return err
	}
	rounds, err := b.rounds(ctx, w)
	if err != nil {
		return err
	}
	res := b.results(rounds)
	if err := res.write(w, cfg.Out); err != nil {
		return err
	}
	if cfg.Smoke {
		if err := smokeCheck(res, cfg.Out); err != nil {
			return err
		}
		fmt.Fprintln(w, "smoke: every target answered every request; results.json and latency.svg read back")
	}
	if cfg.Profile != "" {
		return b.profile(ctx, w)
	}
	return nil
}

// rounds runs, for each scenario and load, cfg.Rounds rounds over the
// targets in turn.
func (b *bench) rounds(ctx context.Context, w io.Writer) ([]Round, error) {
	var out []Round
	for _, name := range b.cfg.Scenarios {
		sc, _ := scenario(name)
		for _, load := range b.cfg.Loads {
			for r := 1; r <= b.cfg.Rounds; r++ {
				for _, t := range b.targets {
					rd, err := b.measure(ctx, t, sc, load, r)
					if err != nil {
						return nil, err
					}
					fmt.Fprintf(w, "%-4s %-6s round %d/%d %-8s %9.0f req/s  p99 %7.3f ms  %6.1f µs CPU/req  %5.1f MiB  failures %d\n",
						sc.Name, load, r, b.cfg.Rounds, t.Name, rd.RPS, ms(rd.Result.Latency.P99), rd.CPUPerReq,
						float64(rd.PeakRSSKiB)/1024, rd.Result.Failures())
					out = append(out, rd)
				}
			}
		}
	}
	return out, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
