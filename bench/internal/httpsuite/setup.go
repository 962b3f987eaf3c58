package httpsuite

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"gateway/bench/internal/launch"
	"gateway/bench/internal/loadgen"
	"gateway/bench/internal/target"
	"gateway/bench/internal/upstream"
)

// bench is a run's running parts.
type bench struct {
	cfg      Config
	dir      string // scratch: configurations, logs, wrk's output
	group    *launch.Group
	proxyCPU int // -1: not pinned
	loadCPU  int
	up       *launch.Proc
	upAddrs  []string
	targets  []*target.Target
	gateway  string // the gateway binary
	wrk      string // the wrk binary, "" for the own generator
	notes    []string
	started  time.Time
}

// pin picks the CPUs: the proxy on the first this process may use, the
// rest (this process, the upstreams, wrk) on the second, and pins this
// process there. With one CPU nothing is pinned.
func (b *bench) pin(w io.Writer) error {
	b.proxyCPU, b.loadCPU = -1, -1
	cpus, err := launch.CPUs()
	if err != nil {
		return err
	}
	if _, err := exec.LookPath("taskset"); err != nil || len(cpus) < 2 {
		b.note(w, fmt.Sprintf("not pinned (CPUs %v, taskset: %v): figures mix the proxy with the load", cpus, err))
		return nil
	}
	b.proxyCPU, b.loadCPU = cpus[0], cpus[1]
	if err := launch.PinSelf(b.loadCPU); err != nil {
		return err
	}
	// Two Ps on the one CPU: the open loop's pacer holds one while it
	// sleeps in a system call (loadgen.Open).
	runtime.GOMAXPROCS(2)
	b.note(w, fmt.Sprintf("proxy on CPU %d; load generator and upstreams on CPU %d", b.proxyCPU, b.loadCPU))
	return nil
}

// note prints a line and keeps it for the JSON report.
func (b *bench) note(w io.Writer, s string) {
	fmt.Fprintln(w, s)
	b.notes = append(b.notes, s)
}

// startUpstreams runs two upstreams on loopback in one child process
// (this program's serve-upstream mode) on the load CPU, so that its CPU
// is measured apart from the generator's.
func (b *bench) startUpstreams(ctx context.Context) error {
	for range 2 {
		a, err := target.FreeAddr()
		if err != nil {
			return err
		}
		b.upAddrs = append(b.upAddrs, a)
	}
	p, err := b.group.Start(launch.Spec{
		Name: "upstream", Path: b.cfg.Self, Args: append([]string{"serve-upstream"}, b.upAddrs...),
		Env: append(os.Environ(), "GOMAXPROCS=1"), Log: filepath.Join(b.dir, "upstream.log"), CPU: b.loadCPU,
	})
	if err != nil {
		return err
	}
	b.up = p
	for _, a := range b.upAddrs {
		if err := target.WaitReady(ctx, p, "http://"+a+upstream.PathJSON); err != nil {
			return err
		}
	}
	return nil
}

// startTargets builds the gateway and starts every target, in the order
// the rounds visit them: gateway, direct, nginx, HAProxy.
func (b *bench) startTargets(ctx context.Context, w io.Writer) error {
	if err := b.buildGateway(ctx); err != nil {
		return err
	}
	opts := func(name string) (target.Options, error) {
		o := target.Options{Dir: filepath.Join(b.dir, name), Upstreams: b.upAddrs, CPU: b.proxyCPU}
		if b.cfg.AccessLog {
			o.AccessLog = filepath.Join(b.dir, name+"-access.log")
		}
		return o, os.MkdirAll(o.Dir, 0o755)
	}
	o, err := opts("gateway")
	if err != nil {
		return err
	}
	pprof := ""
	if b.cfg.Profile != "" {
		if pprof, err = target.FreeAddr(); err != nil {
			return err
		}
	}
	gw, err := target.Gateway(ctx, b.group, b.gateway, o, pprof, b.cfg.Env)
	if err != nil {
		return err
	}
	b.targets = append(b.targets, gw, &target.Target{Name: "direct", Addr: b.upAddrs[0], Proc: b.up})
	if err := b.addProxy(ctx, w, "nginx", target.NginxPath, opts, target.Nginx); err != nil {
		return err
	}
	if b.cfg.HAProxy {
		return b.addProxy(ctx, w, "haproxy", target.HAProxyPath, opts, target.HAProxy)
	}
	return nil
}

// starter starts one of the third-party proxies.
type starter func(context.Context, *launch.Group, string, target.Options) (*target.Target, error)

// addProxy installs (when missing) and starts nginx or HAProxy. In a smoke
// run a proxy that cannot be installed is skipped with a line saying so.
func (b *bench) addProxy(ctx context.Context, w io.Writer, name, path string, opts func(string) (target.Options, error), start starter) error {
	bin, err := target.Ensure(ctx, path, name, w)
	if err != nil {
		if b.cfg.Smoke {
			b.note(w, fmt.Sprintf("SKIP %s: %v", name, err))
			return nil
		}
		return err
	}
	o, err := opts(name)
	if err != nil {
		return err
	}
	t, err := start(ctx, b.group, bin, o)
	if err != nil {
		return err
	}
	b.targets = append(b.targets, t)
	return nil
}

// buildGateway builds the gateway unless a binary was given.
func (b *bench) buildGateway(ctx context.Context) error {
	if b.cfg.Binary != "" {
		b.gateway = b.cfg.Binary
		return nil
	}
	repo, err := target.RepoRoot(b.cfg.Repo)
	if err != nil {
		return err
	}
	b.gateway = filepath.Join(b.dir, "gateway-bin")
	return target.Build(ctx, repo, b.gateway)
}

// pickGenerator chooses the closed-loop generator.
func (b *bench) pickGenerator(w io.Writer) error {
	switch b.cfg.Generator {
	case "own":
	case "wrk", "auto":
		b.wrk = loadgen.LookWrk()
		if b.wrk == "" && b.cfg.Generator == "wrk" {
			return fmt.Errorf("-gen wrk: wrk not installed (apt-get install wrk)")
		}
	}
	gen := "own fasthttp generator"
	if b.wrk != "" {
		gen = "wrk -t1 (" + b.wrk + ")"
	}
	b.note(w, fmt.Sprintf("closed loop: %s, %d connections; open loop: own generator, %d connections", gen, b.cfg.Conns, b.cfg.Conns))
	return nil
}

// versions says what was measured.
func versions() []string {
	var out []string
	for _, c := range [][]string{{target.NginxPath, "-v"}, {target.HAProxyPath, "-v"}, {"wrk", "-v"}} {
		b, _ := exec.Command(c[0], c[1]).CombinedOutput()
		if line, _, _ := strings.Cut(string(b), "\n"); line != "" {
			out = append(out, strings.TrimSpace(line))
		}
	}
	return append(out, runtime.Version())
}
