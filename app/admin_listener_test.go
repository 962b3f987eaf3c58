package app_test

import (
	"context"
	"encoding/json"
	"net"
	"strings"
	"testing"
	"time"

	"gateway/app"
	"gateway/internal/gatewaytest"
)

// adminAddr waits for the ADMIN_ADDR listener, which Listener starts in
// the goroutine gatewaytest runs it in, and returns its address.
func adminAddr(t *testing.T, gw *gatewaytest.Gateway) string {
	t.Helper()
	gatewaytest.Eventually(t, 5*time.Second, func() bool { return gw.App.AdminAddr() != "" }, "the admin listener")
	return gw.App.AdminAddr()
}

var adminPaths = []string{"/admin", "/admin/stats", "/metrics", "/_pressure", "/admin/decisions"}

// With ADMIN_ADDR set, the operator's routes answer only there: the main
// listener says 404 in the JSON error shape, the admin listener serves
// them (and nothing else), and Shutdown closes it with the main one.
func TestAdminOnItsOwnListener(t *testing.T) {
	up, _ := echoUpstream(t, "a")
	cfg := gatewaytest.Config(map[string][]string{"users": {up.URL}})
	cfg.AdminAddr = "127.0.0.1:0"
	logs := &app.LogBuffer{}
	gw := gatewaytest.StartLogged(t, cfg, logs)
	admin := adminAddr(t, gw)
	if admin == gw.Addr {
		t.Fatalf("admin listener %q, main %q", admin, gw.Addr)
	}
	for _, p := range adminPaths {
		code, body := getBody(t, gw.URL+p)
		var e struct{ Error, RequestID string }
		if err := json.Unmarshal([]byte(body), &e); code != 404 || err != nil || e.RequestID == "" {
			t.Errorf("main listener %s: %d %s", p, code, body)
		}
		if code, body := getBody(t, "http://"+admin+p); code != 200 {
			t.Errorf("admin listener %s: %d %s", p, code, body)
		}
	}
	const id = "admin-apart-1"
	resp := httpGet(t, gw.URL+"/api/users/x", map[string]string{"X-Request-Id": id})
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("main listener /api: %d", resp.StatusCode)
	}
	if code, body := getBody(t, gw.URL+"/admin/decisions/"+id); code != 404 || strings.Contains(body, `"chosen"`) {
		t.Errorf("main listener /admin/decisions/%s: %d %s", id, code, body)
	}
	if code, body := getBody(t, "http://"+admin+"/admin/decisions/"+id); code != 200 || !strings.Contains(body, id) {
		t.Errorf("admin listener /admin/decisions/%s: %d %s", id, code, body)
	}
	if code, _ := getBody(t, "http://"+admin+"/api/users/x"); code != 404 {
		t.Errorf("admin listener /api: %d, want 404", code)
	}
	fams := gatewaytest.Scrape(t, "http://"+admin)
	if fams["gateway_upstream_requests_total"] == nil {
		t.Errorf("admin /metrics lacks gateway_upstream_requests_total")
	}
	if strings.Contains(logs.String(), "reachable without auth") {
		t.Errorf("warned about a loopback admin address:\n%s", logs.String())
	}
}

// Shutdown stops the admin listener along with the main one.
func TestAdminListenerShutsDown(t *testing.T) {
	up, _ := echoUpstream(t, "a")
	cfg := gatewaytest.Config(map[string][]string{"users": {up.URL}})
	cfg.AdminAddr = "127.0.0.1:0"
	gw, served := gatewaytest.Serve(t, cfg)
	admin := adminAddr(t, gw)
	if code, _ := getBody(t, "http://"+admin+"/admin/stats"); code != 200 {
		t.Fatalf("admin /admin/stats: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := gw.App.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	gatewaytest.Receive(t, served, 10*time.Second, "main listener to stop")
	if c, err := net.DialTimeout("tcp", admin, time.Second); err == nil {
		c.Close()
		t.Fatalf("admin listener %s still accepts after Shutdown", admin)
	}
}

// /admin answering without auth on an address other than loopback is
// logged as a warning at start; on loopback it is not.
func TestAdminExposedWarning(t *testing.T) {
	tests := []struct {
		name      string
		adminAddr string
		auth      bool
		warn      bool
	}{
		{"main listener on loopback", "", false, false},
		{"admin on loopback", "127.0.0.1:0", false, false},
		{"admin on every interface", "0.0.0.0:0", false, true},
		{"admin on every interface, auth on", "0.0.0.0:0", true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up, _ := echoUpstream(t, "a")
			cfg := gatewaytest.Config(map[string][]string{"users": {up.URL}})
			cfg.AdminAddr = tt.adminAddr
			if tt.auth {
				cfg.AuthRequired, cfg.JWTSecret = true, strings.Repeat("k", 32)
			}
			logs := &app.LogBuffer{}
			gw := gatewaytest.StartLogged(t, cfg, logs)
			// Listener runs in a goroutine; an answered request means it
			// is past the check.
			if code, _ := getBody(t, gw.URL+"/healthz"); code != 200 {
				t.Fatalf("/healthz: %d", code)
			}
			if got := strings.Contains(logs.String(), "reachable without auth"); got != tt.warn {
				t.Errorf("warning logged %v, want %v:\n%s", got, tt.warn, logs.String())
			}
		})
	}
}

// The last error /admin/stats shows for an upstream that answered garbage
// is printable ASCII and bounded, never the raw bytes it sent.
func TestAdminLastErrorSanitized(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	garbage := "\x1b[2J\x00<script>alert(1)</script>" + strings.Repeat("\xff\x07A", 2000) + "\r\n\r\n"
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				buf := make([]byte, 4096)
				_, _ = c.Read(buf)
				_, _ = c.Write([]byte(garbage))
			}()
		}
	}()
	cfg := gatewaytest.Config(map[string][]string{"users": {"http://" + ln.Addr().String()}})
	gw := gatewaytest.Start(t, cfg)
	if code, _ := getBody(t, gw.URL+"/api/users/x"); code != 502 {
		t.Fatalf("garbage upstream: %d, want 502", code)
	}
	_, body := getBody(t, gw.URL+"/admin/stats")
	var stats struct {
		Services []struct {
			Upstreams []struct{ LastError string }
		}
	}
	if err := json.Unmarshal([]byte(body), &stats); err != nil {
		t.Fatal(err)
	}
	last := stats.Services[0].Upstreams[0].LastError
	if last == "" || len(last) > 256 {
		t.Fatalf("last error %d bytes: %q", len(last), last)
	}
	for i := 0; i < len(last); i++ {
		if last[i] < 0x20 || last[i] > 0x7e {
			t.Fatalf("last error has byte %#x at %d: %q", last[i], i, last)
		}
	}
}
