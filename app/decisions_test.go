package app_test

import (
	"encoding/json"
	"io"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"gateway/internal/gatewaytest"
	"gateway/upstream"
)

// getJSON GETs url with header and decodes a JSON answer into v; it
// returns the status.
func getJSON(t *testing.T, url string, header map[string]string, v any) int {
	t.Helper()
	resp := httpGet(t, url, header)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("GET %s: %d %q: %v", url, resp.StatusCode, raw, err)
	}
	return resp.StatusCode
}

// TestDecisionThroughTheGateway proxies a request with a chosen id and
// reads back why it went where it went.
func TestDecisionThroughTheGateway(t *testing.T) {
	a, _ := echoUpstream(t, "a")
	b, _ := echoUpstream(t, "b")
	gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"users": {a.URL, b.URL}}))

	const id = "trace.me:1_A-b"
	resp := httpGet(t, gw.URL+"/api/users/x", map[string]string{"X-Request-Id": id})
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	answered := map[string]string{"a": a.URL, "b": b.URL}[resp.Header.Get("X-Upstream")]

	var d upstream.Decision
	if code := getJSON(t, gw.URL+"/admin/decisions/"+id, nil, &d); code != 200 {
		t.Fatalf("GET decision: %d", code)
	}
	if d.RequestID != id || d.Service != "users" || d.Kind != "request" || d.Chosen != answered || len(d.Retries) != 0 {
		t.Errorf("decision = %+v, want chosen %s", d, answered)
	}
	if time.Since(d.Time) > time.Minute || len(d.Candidates) != 2 {
		t.Errorf("decision = %+v", d)
	}
	for _, c := range d.Candidates {
		if c.Upstream != a.URL && c.Upstream != b.URL || c.Breaker != upstream.StateClosed || c.Skipped != "" {
			t.Errorf("candidate %+v", c)
		}
	}

	var list struct{ Decisions []upstream.Decision }
	if code := getJSON(t, gw.URL+"/admin/decisions?limit=5", nil, &list); code != 200 ||
		len(list.Decisions) != 1 || list.Decisions[0].RequestID != id {
		t.Errorf("recent = %d %+v", code, list)
	}
	var e struct{ Error, RequestID string }
	if code := getJSON(t, gw.URL+"/admin/decisions/never-made", nil, &e); code != 404 || e.Error == "" || e.RequestID == "" {
		t.Errorf("unknown id: %d %+v", code, e)
	}
	if code := getJSON(t, gw.URL+"/admin/decisions?limit=abc", nil, &e); code != 400 || e.Error == "" {
		t.Errorf("bad limit: %d %+v", code, e)
	}
}

// TestDecisionRecordsTheRetry sends an idempotent request to two dead
// upstreams: the first attempt fails, the retry goes to the other, and the
// decision says so with the reason.
func TestDecisionRecordsTheRetry(t *testing.T) {
	x, y := gatewaytest.DeadURL(t), gatewaytest.DeadURL(t)
	gw := gatewaytest.Start(t, gatewaytest.Config(map[string][]string{"s": {x, y}}))
	resp := httpGet(t, gw.URL+"/api/s/x", map[string]string{"X-Request-Id": "retried-1"})
	resp.Body.Close()
	if resp.StatusCode != 502 {
		t.Fatalf("status %d, want 502", resp.StatusCode)
	}
	var d upstream.Decision
	if code := getJSON(t, gw.URL+"/admin/decisions/retried-1", nil, &d); code != 200 {
		t.Fatalf("GET decision: %d", code)
	}
	other := map[string]string{x: y, y: x}[d.Chosen]
	if other == "" || len(d.Retries) != 1 {
		t.Fatalf("decision = %+v", d)
	}
	if r := d.Retries[0]; r.Upstream != d.Chosen || r.RetriedOn != other || r.Reason == "" {
		t.Errorf("retry = %+v, want from %s to %s with a reason", r, d.Chosen, other)
	}
}

// TestDecisionsNeedAdminAuth: the decision routes are behind the same
// guard as /admin.
func TestDecisionsNeedAdminAuth(t *testing.T) {
	up, _ := echoUpstream(t, "a")
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.AuthRequired = true
	cfg.JWTSecret = testSecret
	gw := gatewaytest.Start(t, cfg)
	good := hs256(t, jwt.MapClaims{"sub": "ops", "exp": time.Now().Add(time.Hour).Unix()})
	resp := httpGet(t, gw.URL+"/api/s/x", map[string]string{"Authorization": "Bearer " + good, "X-Request-Id": "authed-1"})
	resp.Body.Close()
	for _, path := range []string{"/admin/decisions/authed-1", "/admin/decisions"} {
		var v map[string]any
		if code := getJSON(t, gw.URL+path, nil, &v); code != 401 {
			t.Errorf("GET %s without token: %d, want 401", path, code)
		}
		if code := getJSON(t, gw.URL+path, map[string]string{"Authorization": "Bearer " + good}, &v); code != 200 {
			t.Errorf("GET %s with token: %d, want 200", path, code)
		}
	}
}

// TestDecisionLogOff: DECISION_LOG_SIZE=0 keeps nothing.
func TestDecisionLogOff(t *testing.T) {
	up, _ := echoUpstream(t, "a")
	cfg := gatewaytest.Config(map[string][]string{"s": {up.URL}})
	cfg.DecisionLogSize = 0
	gw := gatewaytest.Start(t, cfg)
	resp := httpGet(t, gw.URL+"/api/s/x", map[string]string{"X-Request-Id": "off-1"})
	resp.Body.Close()
	var v map[string]any
	if code := getJSON(t, gw.URL+"/admin/decisions/off-1", nil, &v); code != 404 {
		t.Errorf("decision with the log off: %d, want 404", code)
	}
}
