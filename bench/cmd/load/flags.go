package main

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gateway/bench/internal/httpsuite"
)

// httpFlagValues holds the http suite's list flags until finishHTTP.
type httpFlagValues struct {
	scenarios, loads, rates string
	env                     multiFlag
}

// multiFlag is a repeatable string flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

// httpConfig pairs the suite's Config with the raw list flags.
type httpConfig struct {
	httpsuite.Config
	raw httpFlagValues
}

// httpFlags defines the http suite's flags.
func httpFlags(fs *flag.FlagSet) *httpConfig {
	c := &httpConfig{}
	fs.StringVar(&c.raw.scenarios, "scenarios", "get,post,big", "request kinds: get (512 B JSON), post (64 KiB body), big (1 MiB answer)")
	fs.StringVar(&c.raw.loads, "load", "closed,open", "closed (throughput; wrk when installed) and/or open (fixed rate, latency from the intended send time)")
	fs.StringVar(&c.raw.rates, "rate", "get=10000,post=2000,big=300", "open-loop requests per second, by scenario")
	fs.IntVar(&c.Rounds, "rounds", 3, "alternating rounds (A B C A B C …) per scenario and load")
	fs.DurationVar(&c.Warmup, "warmup", 2*time.Second, "warm-up before each round's window")
	fs.DurationVar(&c.Duration, "duration", 5*time.Second, "each round's measurement window")
	fs.IntVar(&c.Conns, "c", 64, "client connections")
	fs.StringVar(&c.Generator, "gen", "auto", "closed-loop generator: auto (wrk when installed), wrk or own")
	fs.BoolVar(&c.HAProxy, "haproxy", false, "measure HAProxy too")
	fs.BoolVar(&c.AccessLog, "accesslog", false, "every proxy writes an access log to a file (default: none does)")
	fs.StringVar(&c.Repo, "repo", "", "gateway repository to build (default: found from the working directory)")
	fs.StringVar(&c.Binary, "binary", "", "prebuilt gateway binary (default: build one)")
	fs.Var(&c.raw.env, "env", "extra KEY=VALUE for the gateway's environment (repeatable)")
	fs.StringVar(&c.Out, "out", "", "directory for results.json and latency.svg (default: a new one under $TMPDIR)")
	fs.StringVar(&c.Profile, "profile", "", "file for a CPU profile of the gateway under the GET load, from its PPROF_ADDR; prints its top 15")
	fs.DurationVar(&c.ProfileFor, "profile-seconds", 10*time.Second, "length of that profile")
	fs.BoolVar(&c.Smoke, "smoke", false, "a short run (1 round of 1 s per target, scenario and load) that fails on any failed request or unreadable output")
	return c
}

// finishHTTP turns the parsed flags into the suite's Config.
func finishHTTP(fs *flag.FlagSet, c *httpConfig, timeout *time.Duration) error {
	rates, err := httpsuite.ParseRates(c.raw.rates)
	if err != nil {
		return err
	}
	c.Scenarios, c.Loads, c.Rates, c.Env = httpsuite.List(c.raw.scenarios), httpsuite.List(c.raw.loads), rates, c.raw.env
	if c.Smoke {
		c.Rounds, c.Warmup, c.Duration = 1, 300*time.Millisecond, time.Second
		if !isSet(fs, "rate") {
			c.Rates = map[string]float64{"get": 2000, "post": 500, "big": 100}
		}
		if !isSet(fs, "timeout") {
			*timeout = 5 * time.Minute
		}
	}
	if c.Self, err = os.Executable(); err != nil {
		return err
	}
	if c.Out == "" {
		c.Out = filepath.Join(os.TempDir(), "gateway-bench-"+time.Now().Format("20060102-150405"))
	}
	c.Command = "go run ./bench/cmd/load " + strings.Join(os.Args[1:], " ")
	if c.Profile != "" {
		c.Profile, err = filepath.Abs(c.Profile)
	}
	return err
}
