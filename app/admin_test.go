package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"gateway/handlers"
	"gateway/internal/gatewaytest"
)

// kind names a JSON value's type as encoding/json decodes it into any.
func kind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case float64:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	}
	return "?"
}

// TestAdminStatsSchema checks /admin/stats against the schema documented in
// docs/admin-stats.md: every field there, with its JSON type.
func TestAdminStatsSchema(t *testing.T) {
	a, _ := echoUpstream(t, "a")
	b, _ := echoUpstream(t, "b")
	gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"users": {a.URL, b.URL}, "orders": {a.URL}}))
	get(t, gw.URL+"/api/users/x", 10)

	resp, err := http.Get(gw.URL + "/admin/stats")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") ||
		resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("GET /admin/stats: %d %v", resp.StatusCode, resp.Header)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	top := map[string]string{
		"takenAt": "string", "startedAt": "string", "uptimeSeconds": "number",
		"version": "string", "commit": "string", "goVersion": "string",
		"totals": "object", "retryBudget": "object", "decisionLog": "object", "services": "array",
	}
	totals := map[string]string{
		"requests": "number", "errors": "number", "inflight": "number", "retries": "number", "rps": "number",
		"upstreams": "number", "openBreakers": "number", "activeWebSocket": "number", "activeSse": "number",
	}
	up := map[string]string{
		"service": "string", "url": "string", "state": "string", "trips": "number",
		"requests": "number", "successes": "number", "failures": "number", "canceled": "number",
		"retries": "number", "inflight": "number", "ewmaMs": "number",
		"p50Ms": "number", "p95Ms": "number", "p99Ms": "number", "lastMinuteRequests": "number", "rps": "number",
		"activeSse": "number", "activeWebSocket": "number", "history": "object",
		"poolFull": "number", "connsDiscarded": "object",
		"health": "string", "probesPassed": "number", "probesFailed": "number",
	}
	history := map[string]string{"start": "string", "requests": "array", "p95Ms": "array"}
	check := func(where string, obj any, want map[string]string) {
		t.Helper()
		m, ok := obj.(map[string]any)
		if !ok {
			t.Fatalf("%s is %s, want object", where, kind(obj))
		}
		for k, typ := range want {
			if got := kind(m[k]); got != typ {
				t.Errorf("%s.%s is %s, want %s", where, k, got, typ)
			}
		}
	}
	check("$", doc, top)
	check("totals", doc["totals"], totals)
	check("retryBudget", doc["retryBudget"], map[string]string{"active": "number", "limit": "number"})
	check("decisionLog", doc["decisionLog"], map[string]string{"size": "number", "recorded": "number", "dropped": "number"})
	services := doc["services"].([]any)
	if len(services) != 2 {
		t.Fatalf("%d services, want 2", len(services))
	}
	for _, s := range services {
		check("service", s, map[string]string{"name": "string", "upstreams": "array"})
		for _, u := range s.(map[string]any)["upstreams"].([]any) {
			check("upstream", u, up)
			h := u.(map[string]any)["history"]
			check("history", h, history)
			if n := len(h.(map[string]any)["requests"].([]any)); n != 60 {
				t.Errorf("history has %d seconds, want 60", n)
			}
		}
	}

	// The values add up.
	var st struct {
		handlers.AdminStats
		Services []struct { // shadows AdminStats.Services: State decodes as a string
			Name      string
			Upstreams []struct {
				URL                string
				State              string
				LastMinuteRequests uint64
			}
		} `json:"services"`
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		t.Fatal(err)
	}
	if st.Totals.Requests != 10 || st.Totals.Upstreams != 3 || st.Totals.OpenBreakers != 0 || st.UptimeSeconds <= 0 {
		t.Errorf("totals %+v uptime %g", st.Totals, st.UptimeSeconds)
	}
	var lastMinute uint64
	for _, u := range st.Services[1].Upstreams {
		lastMinute += u.LastMinuteRequests
		if u.State != "closed" {
			t.Errorf("%s state %s", u.URL, u.State)
		}
	}
	if st.Services[1].Name != "users" || lastMinute != 10 {
		t.Errorf("users upstreams saw %d requests in the last minute, want 10", lastMinute)
	}
	if time.Since(st.TakenAt) > time.Minute || st.GoVersion == "" {
		t.Errorf("takenAt %v goVersion %q", st.TakenAt, st.GoVersion)
	}
}

func TestAdminPage(t *testing.T) {
	a, _ := echoUpstream(t, "a")
	b, _ := echoUpstream(t, "b")
	gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"users": {a.URL, b.URL}}))

	resp, err := http.Get(gw.URL + "/admin?access_token=abc")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	page := string(raw)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("GET /admin: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"a row per upstream, server-rendered", strings.Count(page, `<tr class="upstream" data-key="users `) == 2},
		{"row of a", strings.Contains(page, `data-key="users `+a.URL+`" data-state="closed"`)},
		{"row of b", strings.Contains(page, `data-key="users `+b.URL+`" data-state="closed"`)},
		{"stats path for the script", strings.Contains(page, `data-stats="/admin/stats"`)},
		{"inline script", strings.Contains(page, "access_token") && strings.Contains(page, "setTimeout(poll")},
		{"inline style", strings.Contains(page, "--open:")},
		{"phone viewport", strings.Contains(page, `name="viewport"`)},
		{"no referrer leaks the token", resp.Header.Get("Referrer-Policy") == "no-referrer"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("page: %s", c.name)
		}
	}
	// Nothing is loaded from elsewhere: no src or href, no CSS import or url().
	external := regexp.MustCompile(`(?i)(\bsrc\s*=|\bhref\s*=|@import|url\()`)
	if m := external.FindString(page); m != "" {
		t.Errorf("page references an external asset: %q", m)
	}
}
