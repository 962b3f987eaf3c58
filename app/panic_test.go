package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"gateway/app"
	"gateway/internal/gatewaytest"
)

// A handler that panics is answered 500 in the JSON error shape with its
// request id, logged with that id, counted in gateway_panics_total, and the
// gateway goes on serving.
func TestHandlerPanicRecovered(t *testing.T) {
	up, _ := echoUpstream(t, "a")
	cfg := gatewaytest.Config(map[string][]string{"users": {up.URL}})
	logs := &app.LogBuffer{}
	gw, err := app.New(cfg, app.Options{Logger: app.NewLogger(logs, "info", "json")})
	if err != nil {
		t.Fatal(err)
	}
	gw.HandleForTest("/test/panic", func(*fiber.Ctx) error { panic("handler bug") })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- gw.Listener(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := gw.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
	})
	base := "http://" + ln.Addr().String()

	for i := range 3 {
		resp, err := http.Get(base + "/test/panic")
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct{ Error, RequestID string }
		if err := json.Unmarshal(body, &e); err != nil || resp.StatusCode != 500 || e.RequestID == "" ||
			e.RequestID != resp.Header.Get("X-Request-Id") {
			t.Fatalf("request %d: %d %s (%v)", i, resp.StatusCode, body, err)
		}
		if !strings.Contains(logs.String(), `"requestId":"`+e.RequestID+`"`) {
			t.Errorf("no log line with request id %s:\n%s", e.RequestID, logs.String())
		}
	}
	resp, err := http.Get(base + "/api/users/x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after the panics: /api/users/x answered %d", resp.StatusCode)
	}
	fams := gatewaytest.Scrape(t, base)
	f := fams["gateway_panics_total"]
	if f == nil || len(f.GetMetric()) != 1 || f.GetMetric()[0].GetCounter().GetValue() != 3 {
		t.Errorf("gateway_panics_total = %v, want 3", f)
	}
}
