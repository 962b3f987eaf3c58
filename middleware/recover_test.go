package middleware

import (
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"gateway/internal/logbuf"
)

func TestRecoverer(t *testing.T) {
	tests := []struct {
		name   string
		before bool // the panic happens before the request-id middleware ran
		id     string
	}{
		{"in a handler, client id kept", false, "client-id-1"},
		{"in a handler, id issued", false, ""},
		{"before the request id", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &logbuf.Buffer{}
			ids := NewRequestIDs()
			r := NewRecoverer(slog.New(slog.NewJSONHandler(logs, nil)), ids)
			app := fiber.New()
			app.Use(r.Handler())
			if tt.before {
				app.Use(func(*fiber.Ctx) error { panic("early") })
			}
			app.Use(RequestID(ids))
			app.Get("/p", func(c *fiber.Ctx) error {
				c.Set("X-Half-Built", "yes")
				c.Context().Hijack(func(net.Conn) {}) // never run: the panic cancels it
				panic("boom")
			})
			req := httptest.NewRequest("GET", "/p", nil)
			if tt.id != "" {
				req.Header.Set("X-Request-Id", tt.id)
			}
			resp, err := app.Test(req, -1)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			var e struct{ Error, RequestID string }
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body %q: %v", body, err)
			}
			id := resp.Header.Get("X-Request-Id")
			switch {
			case resp.StatusCode != 500, e.Error != "Internal Server Error":
				t.Errorf("status %d body %s", resp.StatusCode, body)
			case id == "" || e.RequestID != id || (tt.id != "" && id != tt.id):
				t.Errorf("request id header %q body %q, client sent %q", id, e.RequestID, tt.id)
			case resp.Header.Get("X-Half-Built") != "":
				t.Errorf("the panicking handler's headers were kept")
			case !resp.Close:
				t.Errorf("connection kept open after a panic")
			case r.Panics() != 1:
				t.Errorf("Panics() = %d, want 1", r.Panics())
			}
			line := logs.String()
			if !strings.Contains(line, `"msg":"handler panic"`) || !strings.Contains(line, `"requestId":"`+id+`"`) ||
				!strings.Contains(line, "recover_test.go") {
				t.Errorf("log line lacks message, request id %q or stack: %s", id, line)
			}
		})
	}
}
