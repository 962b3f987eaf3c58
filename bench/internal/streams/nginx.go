package streams

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"

	"gateway/bench/internal/launch"
	"gateway/bench/internal/proc"
)

// nginxConf proxies the mode's route for the bench service to the upstream
// the way nginx is configured for event streams and WebSockets: HTTP/1.1
// upstream keep-alive, no response buffering, long read timeout, upgrade
// headers passed on. worker_processes auto uses both cores, as the gateway
// does.
const nginxConf = `worker_processes auto;
worker_rlimit_nofile %[5]d;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
daemon off;
events { worker_connections %[6]d; }
http {
  access_log off;
  client_body_temp_path %[1]s/tmp;
  proxy_temp_path %[1]s/tmp;
  fastcgi_temp_path %[1]s/tmp;
  uwsgi_temp_path %[1]s/tmp;
  scgi_temp_path %[1]s/tmp;
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  upstream bench { server %[2]s; keepalive 64; }
  server {
    listen 127.0.0.1:%[3]d backlog=4096;
    location %[4]s {
      proxy_pass http://bench/;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_buffering off;
      proxy_read_timeout 1h;
      proxy_send_timeout 1h;
    }
  }
}
`

// startNginx runs nginx in the foreground with nginxConf. Its master and
// worker processes are all measured.
func (t *target) startNginx(_ context.Context, port int, route, upURL string) error {
	u, err := url.Parse(upURL)
	if err != nil {
		return err
	}
	soft, _, err := launch.RaiseFileLimit()
	if err != nil {
		return err
	}
	if err := os.Mkdir(filepath.Join(t.dir, "tmp"), 0o777); err != nil {
		return err
	}
	conf := filepath.Join(t.dir, "nginx.conf")
	text := fmt.Sprintf(nginxConf, t.dir, u.Host, port, route+service+"/", soft, soft-100)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return err
	}
	if err := t.run(exec.Command("nginx", "-p", t.dir, "-c", conf, "-e", filepath.Join(t.dir, "error.log")), os.Environ()); err != nil {
		return err
	}
	t.pids = func() []int { return proc.Tree(t.cmd.Process.Pid) }
	return nil
}
