package app_test

import (
	"io"
	"net/http"
	"testing"

	"gateway/internal/gatewaytest"
)

// Reload swaps the upstream list: a new service answers, a removed one is
// unknown, and an unchanged upstream keeps its identity and stats.
func TestReloadReplacesUpstreams(t *testing.T) {
	a, _ := echoUpstream(t, "a")
	b, _ := echoUpstream(t, "b")
	cfg := gatewaytest.Config(map[string][]string{"old": {a.URL}, "kept": {a.URL}})
	gw := gatewaytest.Start(t, cfg)
	status := func(path string) int {
		resp, err := http.Get(gw.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode
	}
	if status("/api/kept/x") != 200 || status("/api/old/x") != 200 || status("/api/new/x") != 404 {
		t.Fatal("before reload: want kept and old 200, new 404")
	}
	kept := gw.App.Pool().Service("kept").Upstreams()[0]

	next := gatewaytest.Config(map[string][]string{"kept": {a.URL}, "new": {b.URL}})
	if err := gw.App.Reload(next); err != nil {
		t.Fatal(err)
	}
	if got := status("/api/new/x"); got != 200 {
		t.Errorf("new service after reload: %d", got)
	}
	if got := status("/api/old/x"); got != 404 {
		t.Errorf("removed service after reload: %d", got)
	}
	if got := status("/api/kept/x"); got != 200 {
		t.Errorf("kept service after reload: %d", got)
	}
	u := gw.App.Pool().Service("kept").Upstreams()[0]
	if u != kept || u.Snapshot().Requests != 2 {
		t.Errorf("kept upstream replaced or its stats lost: same=%v requests=%d", u == kept, u.Snapshot().Requests)
	}
	if err := gw.App.Reload(gatewaytest.Config(map[string][]string{"bad": {"ftp://x"}})); err == nil {
		t.Error("reload with a bad URL accepted")
	}
	if got := status("/api/new/x"); got != 200 {
		t.Errorf("a refused reload changed the table: new service %d", got)
	}
}
