// Package httpsuite is the harness's request–response suite: it starts the
// loopback upstreams, the gateway, nginx and optionally HAProxy, drives
// each scenario at them in alternating rounds (A B C A B C …) with the
// proxy pinned to one CPU and everything else on the other, and reports
// per target the throughput, latency quantiles, CPU per request from
// /proc, peak memory and errors, as a Markdown table, JSON and an SVG
// chart.
package httpsuite

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"gateway/bench/internal/upstream"
)

// Config is one run's parameters, from the command's flags.
type Config struct {
	Scenarios  []string           // names from Scenarios
	Loads      []string           // "closed", "open"
	Rounds     int                // alternating rounds per scenario and load
	Warmup     time.Duration      // before each round's window, same connections
	Duration   time.Duration      // each round's measurement window
	Conns      int                // client connections
	Rates      map[string]float64 // open loop: requests a second, by scenario
	Generator  string             // closed loop: "auto" (wrk when installed), "wrk" or "own"
	HAProxy    bool               // measure HAProxy too
	AccessLog  bool               // every proxy logs requests to a file (else none does)
	Repo       string             // the gateway repository ("": found from the working directory)
	Binary     string             // a prebuilt gateway ("": built from Repo)
	Env        []string           // extra KEY=VALUE for the gateway
	Out        string             // directory for results.json and latency.svg ("": a new temporary one)
	Profile    string             // file for a CPU profile of the gateway under GET load ("": none)
	ProfileFor time.Duration      // that profile's length
	Smoke      bool               // a short run that fails on any error or unreadable output
	Self       string             // this program, run as the upstream ("serve-upstream")
	Command    string             // the command line, for the report
}

// Scenario is one kind of request.
type Scenario struct {
	Name   string
	Title  string
	Method string
	Path   string // on the upstream
	Body   int    // request body bytes
}

// Scenarios returns the request kinds the suite knows.
func Scenarios() []Scenario {
	return []Scenario{
		{Name: "get", Title: "GET 512 B JSON", Method: "GET", Path: upstream.PathJSON},
		{Name: "post", Title: "POST 64 KiB body", Method: "POST", Path: upstream.PathSink, Body: 64 << 10},
		{Name: "big", Title: "GET 1 MiB answer", Method: "GET", Path: upstream.PathBig},
	}
}

// scenario returns the scenario named name.
func scenario(name string) (Scenario, bool) {
	for _, s := range Scenarios() {
		if s.Name == name {
			return s, true
		}
	}
	return Scenario{}, false
}

// Check reports the first thing wrong with c.
func (c *Config) Check() error {
	for _, s := range c.Scenarios {
		if _, ok := scenario(s); !ok {
			return fmt.Errorf("unknown scenario %q (get, post, big)", s)
		}
	}
	for _, l := range c.Loads {
		if l != "closed" && l != "open" {
			return fmt.Errorf("unknown load %q (closed, open)", l)
		}
		if l == "open" {
			for _, s := range c.Scenarios {
				if c.Rates[s] <= 0 {
					return fmt.Errorf("no open-loop rate for scenario %s (-rate %s=N)", s, s)
				}
			}
		}
	}
	switch {
	case len(c.Scenarios) == 0 || len(c.Loads) == 0:
		return fmt.Errorf("no scenario or no load to run")
	case c.Rounds < 1 || c.Conns < 1:
		return fmt.Errorf("-rounds and -c must be positive")
	case c.Duration <= 0 || c.Warmup < 0:
		return fmt.Errorf("-duration must be positive, -warmup not negative")
	case c.Generator != "auto" && c.Generator != "wrk" && c.Generator != "own":
		return fmt.Errorf("unknown generator %q (auto, wrk, own)", c.Generator)
	}
	return nil
}

// ParseRates parses "get=10000,post=2000": open-loop rates by scenario.
func ParseRates(s string) (map[string]float64, error) {
	m := map[string]float64{}
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part == "" {
			continue
		}
		k, v, ok := strings.Cut(part, "=")
		if !ok {
			return nil, fmt.Errorf("rate %q: want scenario=requests-per-second", part)
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("rate %q: not a positive number", part)
		}
		m[k] = n
	}
	return m, nil
}

// List splits a comma-separated flag value.
func List(s string) []string {
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}
