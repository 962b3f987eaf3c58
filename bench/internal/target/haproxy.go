package target

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gateway/bench/internal/launch"
	"gateway/bench/internal/upstream"
)

// HAProxyPath is where Debian's haproxy package puts the binary.
const HAProxyPath = "/usr/sbin/haproxy"

// haproxyConf is HAProxy in the same shape as nginx: one thread, leastconn,
// connections to the upstreams kept and shared (http-reuse always), the
// route prefix stripped. The access log, when on, goes to stdout, which
// the harness sends to the file.
const haproxyConf = `global
  nbthread 1
  maxconn 60000
  pidfile {{dir}}/haproxy.pid
{{globallog}}
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
{{defaultslog}}
frontend fe
  bind {{listen}}
  default_backend be
backend be
  balance leastconn
  http-request set-path %[path,regsub(^{{prefix}}/,/)]
{{servers}}`

// HAProxyConfig returns HAProxy's configuration listening on addr.
func HAProxyConfig(o Options, addr string) string {
	var servers strings.Builder
	for i, u := range o.Upstreams {
		fmt.Fprintf(&servers, "  server s%d %s\n", i+1, u)
	}
	globalLog, defaultsLog := "", ""
	if o.AccessLog != "" {
		globalLog = "  log stdout format raw local0"
		defaultsLog = "  log global\n  option httplog"
	}
	return strings.NewReplacer("{{dir}}", o.Dir, "{{globallog}}", globalLog, "{{defaultslog}}", defaultsLog,
		"{{listen}}", addr, "{{prefix}}", Prefix, "{{servers}}", servers.String()).Replace(haproxyConf)
}

// HAProxy runs haproxy (the binary at bin) in the foreground (-db).
func HAProxy(ctx context.Context, g *launch.Group, bin string, o Options) (*Target, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	conf := filepath.Join(o.Dir, "haproxy.cfg")
	if err := os.WriteFile(conf, []byte(HAProxyConfig(o, addr)), 0o644); err != nil {
		return nil, err
	}
	log := filepath.Join(o.Dir, "haproxy.out")
	if o.AccessLog != "" {
		log = o.AccessLog
	}
	p, err := g.Start(launch.Spec{Name: "haproxy", Path: bin, Args: []string{"-db", "-f", conf}, Dir: o.Dir, Log: log, CPU: o.CPU})
	if err != nil {
		return nil, err
	}
	t := &Target{Name: "haproxy", Addr: addr, Prefix: Prefix, Proc: p}
	if err := WaitReady(ctx, p, t.URL(upstream.PathJSON)); err != nil {
		return nil, err
	}
	return t, nil
}
