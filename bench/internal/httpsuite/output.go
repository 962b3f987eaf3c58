package httpsuite

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gateway/bench/internal/report"
)

// Results is the JSON report.
type Results struct {
	Command  string    `json:"command"`
	Started  time.Time `json:"started"`
	LoadAvg  string    `json:"loadavg"` // /proc/loadavg when the run ended
	Versions []string  `json:"versions"`
	Notes    []string  `json:"notes"`
	Config   struct {
		Rounds    int                `json:"rounds"`
		WarmupMs  int64              `json:"warmupMs"`
		WindowMs  int64              `json:"windowMs"`
		Conns     int                `json:"conns"`
		Rates     map[string]float64 `json:"openLoopRates"`
		AccessLog bool               `json:"accessLog"`
	} `json:"config"`
	Summary []Summary `json:"summary"`
	Rounds  []Round   `json:"rounds"`
}

// results gathers the report.
func (b *bench) results(rounds []Round) Results {
	r := Results{Command: b.cfg.Command, Started: b.started, Versions: versions(), Notes: b.notes, Rounds: rounds, Summary: summaries(rounds)}
	la, _ := os.ReadFile("/proc/loadavg")
	r.LoadAvg = strings.TrimSpace(string(la))
	r.Config.Rounds, r.Config.Conns, r.Config.Rates, r.Config.AccessLog = b.cfg.Rounds, b.cfg.Conns, b.cfg.Rates, b.cfg.AccessLog
	r.Config.WarmupMs, r.Config.WindowMs = b.cfg.Warmup.Milliseconds(), b.cfg.Duration.Milliseconds()
	return r
}

// write prints the Markdown tables and writes results.json and
// latency.svg to dir.
func (r Results) write(w io.Writer, dir string) error {
	fmt.Fprintf(w, "\n%s\nload average at the end: %s\n\n", r.Command, r.LoadAvg)
	for _, t := range r.tables() {
		if err := t.Markdown(w); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	js, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	var svg bytes.Buffer
	if err := report.SVG(&svg, "Latency by target (ms, log scale): "+r.Command, r.panels()); err != nil {
		return err
	}
	for name, b := range map[string][]byte{"results.json": append(js, '\n'), "latency.svg": svg.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "wrote %s and %s\n", filepath.Join(dir, "results.json"), filepath.Join(dir, "latency.svg"))
	return nil
}

// groups splits the summary by scenario and load, in order.
func (r Results) groups() [][]Summary {
	var out [][]Summary
	for _, s := range r.Summary {
		if n := len(out); n > 0 && out[n-1][0].Scenario == s.Scenario && out[n-1][0].Load == s.Load {
			out[n-1] = append(out[n-1], s)
			continue
		}
		out = append(out, []Summary{s})
	}
	return out
}

// title names a scenario and load.
func (r Results) title(s Summary) string {
	sc, _ := scenario(s.Scenario)
	load := fmt.Sprintf("closed loop, %d connections", r.Config.Conns)
	if s.Load == "open" {
		load = fmt.Sprintf("open loop at %.0f req/s, %d connections, latency from the intended send time", r.Config.Rates[s.Scenario], r.Config.Conns)
	}
	return fmt.Sprintf("%s · %s · medians of %d rounds", sc.Title, load, s.Rounds)
}

// tables renders the summary, one table per scenario and load.
func (r Results) tables() []report.Table {
	var out []report.Table
	for _, g := range r.groups() {
		t := report.Table{
			Title:  r.title(g[0]),
			Header: []string{"target", "req/s", "p50 ms", "p99 ms", "p99.9 ms", "CPU µs/req (min–max)", "user µs", "sys µs", "× nginx CPU", "cores", "peak RSS MiB", "failures"},
			Right:  []bool{false, true, true, true, true, true, true, true, true, true, true, true},
		}
		for _, s := range g {
			vs := "–"
			if s.VsNginx > 0 {
				vs = fmt.Sprintf("%.2f", s.VsNginx)
			}
			t.Rows = append(t.Rows, []string{s.Target, thousands(s.RPS), f3(s.P50), f3(s.P99), f3(s.P999),
				fmt.Sprintf("%.1f (%.1f–%.1f)", s.CPUPerReq, s.CPUMin, s.CPUMax), fmt.Sprintf("%.1f", s.UserPerReq),
				fmt.Sprintf("%.1f", s.SysPerReq), vs, fmt.Sprintf("%.2f", s.CPUCores), fmt.Sprintf("%.1f", s.PeakRSSMiB),
				fmt.Sprint(s.Failures)})
		}
		out = append(out, t)
	}
	return out
}

// panels charts the summary's quantiles.
func (r Results) panels() []report.Panel {
	var out []report.Panel
	for _, g := range r.groups() {
		p := report.Panel{Title: r.title(g[0]), Series: []string{"p50", "p99", "p99.9"}}
		for _, s := range g {
			p.Groups = append(p.Groups, s.Target)
			p.Values = append(p.Values, []float64{s.P50, s.P99, s.P999})
		}
		out = append(out, p)
	}
	return out
}

// smokeCheck fails on any failed request or an output file that does not
// read back.
func smokeCheck(r Results, dir string) error {
	var errs []error
	for _, rd := range r.Rounds {
		if rd.Result.Failures() > 0 || rd.Result.Requests == 0 {
			errs = append(errs, fmt.Errorf("%s %s %s: %d answered, %d non-2xx, %d errors, %d missed",
				rd.Target, rd.Scenario, rd.Load, rd.Result.Requests, rd.Result.Non2xx, rd.Result.Errors, rd.Result.Missed))
		}
	}
	var back Results
	if b, err := os.ReadFile(filepath.Join(dir, "results.json")); err != nil {
		errs = append(errs, err)
	} else if err := json.Unmarshal(b, &back); err != nil || len(back.Rounds) != len(r.Rounds) {
		errs = append(errs, fmt.Errorf("results.json does not read back: %v", err))
	}
	if b, err := os.ReadFile(filepath.Join(dir, "latency.svg")); err != nil {
		errs = append(errs, err)
	} else if err := wellFormed(b); err != nil {
		errs = append(errs, fmt.Errorf("latency.svg: %w", err))
	}
	return errors.Join(errs...)
}

// wellFormed reports whether b is well-formed XML.
func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := d.Token(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

func f3(v float64) string { return fmt.Sprintf("%.3f", v) }

// thousands formats a rate with thousands separators.
func thousands(v float64) string {
	s := fmt.Sprintf("%.0f", v)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
