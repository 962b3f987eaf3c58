package app

import (
	"errors"
	"testing"
	"time"

	"gateway/config"
	"gateway/upstream"
)

// TestBreakerEventsLogged drives one upstream's breaker closed → open →
// half-open → closed and checks the three log events and their reasons.
func TestBreakerEventsLogged(t *testing.T) {
	cfg := config.Default()
	cfg.Upstreams = map[string][]string{"s": {"http://127.0.0.1:1"}}
	cfg.CBFailureThreshold = 2
	cfg.CBCooldown = time.Millisecond
	cfg.CBMaxCooldown = time.Millisecond
	var logs LogBuffer
	pool, err := upstream.New(poolOptions(cfg, NewLogger(&logs, "info", "json")))
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	svc := pool.Service("s")
	for range 2 {
		l, err := svc.Pick(nil)
		if err != nil {
			t.Fatal(err)
		}
		l.Done(upstream.Outcome{Err: errors.New("dial tcp 127.0.0.1:1: connect: connection refused")})
	}
	// Wait out the cooldown: the next Pick is the half-open probe.
	var probe upstream.Lease
	deadline := time.Now().Add(5 * time.Second)
	for probe, err = svc.Pick(nil); err != nil; probe, err = svc.Pick(nil) {
		if time.Now().After(deadline) {
			t.Fatal("breaker never let a probe through")
		}
		time.Sleep(time.Millisecond) // polling interval for the 1ms cooldown
	}
	probe.Done(upstream.Outcome{Status: 200})

	want := []struct {
		msg, level, from, to, reason string
	}{
		{"upstream opened", "WARN", "closed", "open", "2 consecutive failures; last: dial tcp 127.0.0.1:1: connect: connection refused"},
		{"upstream half-open", "INFO", "open", "half-open", "cooldown elapsed; letting one probe through"},
		{"upstream closed", "INFO", "half-open", "closed", "probe succeeded"},
	}
	got := logs.Lines()
	if len(got) != len(want) {
		t.Fatalf("%d log lines, want %d: %v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if g["msg"] != w.msg || g["level"] != w.level || g["from"] != w.from || g["to"] != w.to ||
			g["reason"] != w.reason || g["service"] != "s" || g["upstream"] != "http://127.0.0.1:1" {
			t.Errorf("event %d = %v, want %+v", i, g, w)
		}
	}
}
