// Package rig starts what the chaos and soak suites run against: the
// built gateway binary in front of two upstreams, each a child process
// (the harness's own binary in its serve-fault-upstream mode, see
// package faultup) behind a blackhole proxy, so that a fault script can
// SIGKILL an upstream, restart it, switch its behaviour and freeze its
// network. Every process ends with the run (package launch).
package rig

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gateway/bench/internal/blackhole"
	"gateway/bench/internal/faultup"
	"gateway/bench/internal/launch"
	"gateway/bench/internal/target"
)

// Service is the gateway's name for the two upstreams.
const Service = "chaos"

// ChildCommand is the harness's first argument that makes it an upstream
// (Upstream.spec); the command's main dispatches on it.
const ChildCommand = "serve-fault-upstream"

// Options say what to start.
type Options struct {
	Self    string   // the harness binary, run as the upstreams
	Gateway string   // the gateway binary
	Dir     string   // scratch directory: logs, id files, the gateway's cwd
	Env     []string // KEY=VALUE for the gateway, after the rig's own
}

// Rig is the running gateway and upstreams.
type Rig struct {
	Upstreams []*Upstream
	Gateway   *launch.Proc
	Addr      string // the gateway's host:port
	group     *launch.Group
	dir       string
	http      *http.Client
}

// Upstream is one upstream process and the proxy the gateway reaches it
// through.
type Upstream struct {
	Name    string
	Backend string // the process's own address (the harness's way in)
	Proxy   *blackhole.Proxy
	IDs     string // the file its POST ids go to
	group   *launch.Group
	spec    launch.Spec
	proc    *launch.Proc
	http    *http.Client
	// gen is the base path generation of the upstream's URL in the
	// gateway's configuration: Readd moves it on (see URL).
	gen int
}

// URL is the upstream's base URL in the gateway's configuration: its
// proxy, and from the first Readd on a base path /r<gen> that the upstream
// strips (faultup.Server), so that the gateway sees a new upstream.
func (u *Upstream) URL() string {
	if u.gen == 0 {
		return "http://" + u.Proxy.Addr()
	}
	return "http://" + u.Proxy.Addr() + "/r" + strconv.Itoa(u.gen)
}

// Start starts two upstreams ("a", "b") and the gateway, and returns once
// all of them answer. Stop ends them, also when Start fails.
func Start(ctx context.Context, o Options) (*Rig, error) {
	r := &Rig{group: &launch.Group{}, dir: o.Dir, http: &http.Client{Timeout: 2 * time.Second}}
	for _, name := range []string{"a", "b"} {
		u, err := r.startUpstream(ctx, o, name)
		if err != nil {
			return r, err
		}
		r.Upstreams = append(r.Upstreams, u)
	}
	if err := r.startGateway(ctx, o); err != nil {
		return r, err
	}
	return r, nil
}

func (r *Rig) startUpstream(ctx context.Context, o Options, name string) (*Upstream, error) {
	backend, err := target.FreeAddr()
	if err != nil {
		return nil, err
	}
	u := &Upstream{
		Name: name, Backend: backend, IDs: filepath.Join(o.Dir, name+".ids"), group: r.group,
		http: &http.Client{Timeout: 2 * time.Second},
	}
	u.spec = launch.Spec{
		Name: "upstream " + name, Path: o.Self, CPU: -1,
		Args: []string{ChildCommand, "-name", name, "-addr", backend, "-ids", u.IDs},
		Log:  filepath.Join(o.Dir, "upstream-"+name+".log"),
	}
	if err := u.start(ctx); err != nil {
		return nil, err
	}
	if u.Proxy, err = blackhole.Listen("127.0.0.1:0", backend); err != nil {
		return nil, err
	}
	return u, nil
}

// writeEnv writes the gateway's ./.env: UPSTREAMS, the one variable a
// reload (SIGHUP) applies, is kept there rather than in the environment,
// which would win over the file.
func (r *Rig) writeEnv() error {
	var urls []string
	for _, u := range r.Upstreams {
		urls = append(urls, u.URL())
	}
	ups, _ := json.Marshal(map[string][]string{Service: urls})
	tmp := filepath.Join(r.dir, ".env.tmp")
	if err := os.WriteFile(tmp, []byte("UPSTREAMS="+string(ups)+"\n"), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(r.dir, ".env"))
}

func (r *Rig) startGateway(ctx context.Context, o Options) error {
	addr, err := target.FreeAddr()
	if err != nil {
		return err
	}
	if err := r.writeEnv(); err != nil {
		return err
	}
	host, port, _ := strings.Cut(addr, ":")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "UPSTREAMS=") {
			env = append(env, kv)
		}
	}
	env = append(env, "HOST="+host, "PORT="+port, "APP_ENV=development", "LOG_LEVEL=warn", "LOG_FORMAT=json")
	env = append(env, o.Env...)
	// The gateway runs in o.Dir (its ./.env), so a relative path given on
	// the command line must be resolved against ours first.
	bin, err := filepath.Abs(o.Gateway)
	if err != nil {
		return err
	}
	p, err := r.group.Start(launch.Spec{Name: "gateway", Path: bin, Env: env, Dir: o.Dir, CPU: -1,
		Log: filepath.Join(o.Dir, "gateway.log")})
	if err != nil {
		return err
	}
	r.Gateway, r.Addr = p, addr
	return target.WaitReady(ctx, p, "http://"+addr+"/healthz")
}

// Stop ends every process and proxy.
func (r *Rig) Stop() {
	for _, u := range r.Upstreams {
		if u.Proxy != nil {
			u.Proxy.Close()
		}
	}
	r.group.Stop(3 * time.Second)
}

// URL is the gateway's URL for path.
func (r *Rig) URL(path string) string { return "http://" + r.Addr + path }

// GatewayLog is the file the gateway's stderr goes to.
func (r *Rig) GatewayLog() string { return filepath.Join(r.dir, "gateway.log") }

// GatewayLogTail is the end of the gateway's log, for error messages.
func (r *Rig) GatewayLogTail() string { return r.Gateway.LogTail(3000) }

// start starts the process and waits for its health path.
func (u *Upstream) start(ctx context.Context) error {
	p, err := u.group.Start(u.spec)
	if err != nil {
		return err
	}
	u.proc = p
	return target.WaitReady(ctx, p, "http://"+u.Backend+faultup.PathHealthz)
}

// Kill sends SIGKILL to the upstream process, waits for it to die, and
// has its proxy refuse and reset connections, as the host of a dead
// process does.
func (u *Upstream) Kill() {
	_ = syscall.Kill(u.proc.Pid(), syscall.SIGKILL)
	<-u.proc.Done()
	u.Proxy.Refuse()
}

// Restart starts a new upstream process on the same address and lets
// connections through again once it answers.
func (u *Upstream) Restart(ctx context.Context) error {
	if err := u.start(ctx); err != nil {
		return err
	}
	return u.Proxy.Resume()
}

// SetMode switches the upstream's behaviour through its own address (not
// through the proxy, which may be frozen).
func (u *Upstream) SetMode(ctx context.Context, m faultup.Mode) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://"+u.Backend+faultup.PathMode+"?m="+string(m), nil)
	if err != nil {
		return err
	}
	resp, err := u.http.Do(req)
	if err != nil {
		return fmt.Errorf("setting upstream %s to %s: %w", u.Name, m, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		return fmt.Errorf("setting upstream %s to %s: status %d", u.Name, m, resp.StatusCode)
	}
	return nil
}

// Readd gives u a new URL in the gateway's configuration (a new base path)
// and reloads the gateway with SIGHUP, as an operator re-registering an
// upstream would: the gateway drops what it knew of u (breaker, latency
// estimate) and takes it as a new upstream. It returns once /metrics shows
// the new URL.
func (r *Rig) Readd(ctx context.Context, u *Upstream) error {
	u.gen++
	if err := r.writeEnv(); err != nil {
		return err
	}
	if err := syscall.Kill(r.Gateway.Pid(), syscall.SIGHUP); err != nil {
		return fmt.Errorf("reloading the gateway: %w", err)
	}
	want := u.URL()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if fams, err := r.Metrics(ctx, r.http); err == nil {
			if _, ok := Gauge(fams, "gateway_upstream_breaker_state", want); ok {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the gateway did not take %s within 10s of SIGHUP:\n%s", want, r.GatewayLogTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Pid is the running upstream process's id.
func (u *Upstream) Pid() int { return u.proc.Pid() }
