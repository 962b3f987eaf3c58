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

// NginxPath is where Debian's nginx package puts the binary.
const NginxPath = "/usr/sbin/nginx"

// nginxConf is nginx as a reverse proxy is usually tuned: one worker (on
// the one CPU it is pinned to), least_conn over the upstreams with
// HTTP/1.1 keep-alive to them, bodies streamed both ways rather than
// spooled to temporary files (proxy_request_buffering off,
// proxy_max_temp_file_size 0), as the gateway streams them. Everything it
// writes stays in the scratch directory.
const nginxConf = `worker_processes 1;
worker_rlimit_nofile 65536;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
daemon off;
events { worker_connections 16384; }
http {
  access_log {{accesslog}};
  client_body_temp_path {{dir}}/tmp;
  proxy_temp_path {{dir}}/tmp;
  fastcgi_temp_path {{dir}}/tmp;
  uwsgi_temp_path {{dir}}/tmp;
  scgi_temp_path {{dir}}/tmp;
  keepalive_requests 1000000;
  upstream bench {
    least_conn;
{{servers}}    keepalive 64;
    keepalive_requests 1000000;
  }
  server {
    listen {{listen}} backlog=4096;
    location {{prefix}}/ {
      proxy_pass http://bench/;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_request_buffering off;
      proxy_max_temp_file_size 0;
      client_max_body_size 16m;
    }
  }
}
`

// NginxConfig returns nginx's configuration listening on addr.
func NginxConfig(o Options, addr string) string {
	var servers strings.Builder
	for _, u := range o.Upstreams {
		fmt.Fprintf(&servers, "    server %s;\n", u)
	}
	logTo := "off"
	if o.AccessLog != "" {
		logTo = o.AccessLog
	}
	return strings.NewReplacer("{{dir}}", o.Dir, "{{accesslog}}", logTo, "{{servers}}", servers.String(),
		"{{listen}}", addr, "{{prefix}}", Prefix).Replace(nginxConf)
}

// Nginx runs nginx (the binary at bin) in the foreground with
// NginxConfig: a master and its one worker, both measured.
func Nginx(ctx context.Context, g *launch.Group, bin string, o Options) (*Target, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(o.Dir, "tmp"), 0o777); err != nil {
		return nil, err
	}
	conf := filepath.Join(o.Dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(NginxConfig(o, addr)), 0o644); err != nil {
		return nil, err
	}
	p, err := g.Start(launch.Spec{
		Name: "nginx", Path: bin, Args: []string{"-p", o.Dir, "-c", conf, "-e", filepath.Join(o.Dir, "error.log")},
		Dir: o.Dir, Log: filepath.Join(o.Dir, "nginx.out"), CPU: o.CPU,
	})
	if err != nil {
		return nil, err
	}
	t := &Target{Name: "nginx", Addr: addr, Prefix: Prefix, Proc: p}
	if err := WaitReady(ctx, p, t.URL(upstream.PathJSON)); err != nil {
		return nil, fmt.Errorf("%w\nerror.log: %s", err, tail(filepath.Join(o.Dir, "error.log")))
	}
	return t, nil
}

// tail returns the end of a file, for error messages.
func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
