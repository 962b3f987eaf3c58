package handlers

import (
	"net/http/httptest"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestReadyz(t *testing.T) {
	tests := []struct {
		name   string
		checks []ReadyCheck
		want   int
	}{
		{"no checks", nil, 200},
		{"all pass", []ReadyCheck{func() string { return "" }}, 200},
		{"draining", []ReadyCheck{func() string { return "" }, func() string { return "draining" }}, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := NewHealth(tt.checks...)
			app := fiber.New()
			app.Get("/readyz", h.Ready)
			app.Get("/healthz", h.Live)
			resp, err := app.Test(httptest.NewRequest("GET", "/readyz", nil))
			if err != nil || resp.StatusCode != tt.want {
				t.Fatalf("readyz: %v %v, want %d", resp, err, tt.want)
			}
			resp, err = app.Test(httptest.NewRequest("GET", "/healthz", nil))
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("healthz: %v %v", resp, err)
			}
		})
	}
}
