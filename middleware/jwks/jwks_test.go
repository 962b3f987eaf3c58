package jwks_test

import (
	"context"
	"crypto"
	"errors"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"gateway/internal/jwkstest"
	"gateway/internal/logbuf"
	"gateway/middleware/jwks"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// start builds and starts a Set for urls, closed when the test ends.
func start(t *testing.T, urls []string, opts ...jwks.Option) *jwks.Set {
	t.Helper()
	s, err := jwks.New(urls, opts...)
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	t.Cleanup(s.Close)
	return s
}

// eventually polls cond every 5 ms until it holds, failing after timeout.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a wait for an outcome
	}
}

// keyWithin calls Key and fails the test unless it returns within d: Key
// must never wait for a fetch.
func keyWithin(t *testing.T, s *jwks.Set, d time.Duration, kid, alg string) (crypto.PublicKey, error) {
	t.Helper()
	type result struct {
		pub crypto.PublicKey
		err error
	}
	ch := make(chan result, 1)
	go func() {
		pub, err := s.Key(kid, alg)
		ch <- result{pub, err}
	}()
	select {
	case r := <-ch:
		return r.pub, r.err
	case <-time.After(d):
		t.Fatalf("Key(%q, %q) still waiting after %v", kid, alg, d)
		return nil, nil
	}
}

func has(s *jwks.Set, k *jwkstest.Key) func() bool {
	return func() bool {
		pub, err := s.Key(k.Kid, k.Alg)
		return err == nil && pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(k.Private.Public())
	}
}

func TestSetKeysOfEveryURL(t *testing.T) {
	r, e, d := jwkstest.RSA(t, "r1"), jwkstest.EC(t, "e1"), jwkstest.Ed25519(t, "d1")
	a, b := jwkstest.NewServer(t, r, e), jwkstest.NewServer(t, d)
	s := start(t, []string{a.URL, b.URL}, jwks.WithMinRefetch(50*time.Millisecond))
	for _, k := range []*jwkstest.Key{r, e, d} {
		eventually(t, 5*time.Second, "key "+k.Kid, has(s, k))
	}
	tests := []struct {
		name, kid, alg string
		err            error
	}{
		{"RSA key for ES256", "r1", jwks.ES256, jwks.ErrAlgMismatch},
		{"EC key for RS256", "e1", jwks.RS256, jwks.ErrAlgMismatch},
		{"OKP key for ES256", "d1", jwks.ES256, jwks.ErrAlgMismatch},
		{"RSA key for HS256", "r1", "HS256", jwks.ErrAlgMismatch},
		{"unknown kid", "zz", jwks.RS256, jwks.ErrUnknownKey},
		{"no kid, one EdDSA key", "", jwks.EdDSA, nil},
		{"no kid, no HS256 key", "", "HS256", jwks.ErrUnknownKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Key(tt.kid, tt.alg); !errors.Is(err, tt.err) {
				t.Fatalf("Key(%q, %q) err %v, want %v", tt.kid, tt.alg, err, tt.err)
			}
		})
	}
	b.SetKeys(d, jwkstest.Ed25519(t, "d2"))
	eventually(t, 5*time.Second, "the second EdDSA key", func() bool {
		_, err := s.Key("d2", jwks.EdDSA)
		return err == nil
	})
	if _, err := s.Key("", jwks.EdDSA); !errors.Is(err, jwks.ErrKIDRequired) {
		t.Fatalf("no kid with two EdDSA keys: %v, want ErrKIDRequired", err)
	}
}

func TestSetRotationByUnknownKid(t *testing.T) {
	old, next := jwkstest.RSA(t, "2024"), jwkstest.EC(t, "2025")
	srv := jwkstest.NewServer(t, old)
	s := start(t, []string{srv.URL}, jwks.WithRefresh(time.Hour), jwks.WithMinRefetch(200*time.Millisecond))
	eventually(t, 5*time.Second, "the first key", has(s, old))
	srv.SetKeys(next) // rotated: old removed, next added
	if _, err := keyWithin(t, s, time.Second, next.Kid, next.Alg); !errors.Is(err, jwks.ErrUnknownKey) {
		t.Fatalf("new kid before refetch: %v, want ErrUnknownKey", err)
	}
	eventually(t, 3*time.Second, "the rotated key", has(s, next))
	if _, err := s.Key(old.Kid, old.Alg); !errors.Is(err, jwks.ErrUnknownKey) {
		t.Fatalf("removed key: %v, want ErrUnknownKey", err)
	}
	if n := srv.Fetches(); n != 2 {
		t.Errorf("%d fetches, want 2 (start, one refetch)", n)
	}
}

func TestSetPeriodicRefresh(t *testing.T) {
	k1, k2 := jwkstest.Ed25519(t, "same"), jwkstest.Ed25519(t, "same")
	srv := jwkstest.NewServer(t, k1)
	s := start(t, []string{srv.URL}, jwks.WithRefresh(100*time.Millisecond))
	eventually(t, 5*time.Second, "the first key", has(s, k1))
	srv.SetKeys(k2) // same kid, new material: only a refresh can see it
	eventually(t, 5*time.Second, "the refreshed key", has(s, k2))
}

// TestSetRefetchRateLimited hammers unknown kids from several goroutines:
// the fetches stay within one per minimum interval.
func TestSetRefetchRateLimited(t *testing.T) {
	const minRefetch = 300 * time.Millisecond
	k := jwkstest.RSA(t, "k")
	srv := jwkstest.NewServer(t, k)
	s := start(t, []string{srv.URL}, jwks.WithRefresh(time.Hour), jwks.WithMinRefetch(minRefetch))
	eventually(t, 5*time.Second, "the first key", has(s, k))
	began := time.Now()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := 0; time.Since(began) < 4*minRefetch; i++ {
				_, _ = s.Key("made-up-"+string(rune('a'+g))+string(rune('a'+i%26)), jwks.RS256)
				time.Sleep(time.Millisecond) // pacing: leave the fetch goroutine some CPU
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(began)
	maxFetches := 1 + int64(elapsed/minRefetch) + 1 // start, one per interval, one in flight
	if n := srv.Fetches(); n < 3 || n > maxFetches {
		t.Fatalf("%d fetches in %v, want between 3 and %d", n, elapsed, maxFetches)
	}
}

// TestSetDefaultRefetchLimit: with the defaults, unknown kids right after
// the first fetch cause no second one (10 s must pass first).
func TestSetDefaultRefetchLimit(t *testing.T) {
	k := jwkstest.RSA(t, "k")
	srv := jwkstest.NewServer(t, k)
	s := start(t, []string{srv.URL})
	eventually(t, 5*time.Second, "the first key", has(s, k))
	for deadline := time.Now().Add(300 * time.Millisecond); time.Now().Before(deadline); {
		_, _ = s.Key("unknown", jwks.RS256)
	}
	if n := srv.Fetches(); n != 1 {
		t.Fatalf("%d fetches, want 1", n)
	}
}

func deadURL(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u := "http://" + ln.Addr().String() + "/jwks.json"
	_ = ln.Close()
	return u
}

// TestSetBadEndpoints: an endpoint that is down, slow, huge or serves
// something other than a JWK Set never yields a key and never makes Key
// wait; the fetch is bounded (a retry follows), the failure is logged, and
// the set recovers when the endpoint does.
func TestSetBadEndpoints(t *testing.T) {
	const maxBody = 4 << 10
	k := jwkstest.EC(t, "k")
	valid := jwkstest.Set(k)
	huge := append(valid[:len(valid)-1:len(valid)-1], []byte(strings.Repeat(" ", maxBody)+"}")...)
	tests := []struct {
		name  string
		setup func(*jwkstest.Server)
		dead  bool
		log   string
	}{
		{"down", nil, true, "connection refused"},
		{"hangs", func(s *jwkstest.Server) { s.Hang() }, false, "deadline exceeded"},
		{"huge", func(s *jwkstest.Server) { s.Respond(200, "application/json", huge) }, false, "larger than"},
		{"status 500", func(s *jwkstest.Server) { s.Respond(500, "application/json", valid) }, false, "status 500"},
		{"status 302 without location", func(s *jwkstest.Server) { s.Respond(302, "application/json", valid) }, false, "status 302"},
		{"html", func(s *jwkstest.Server) { s.Respond(200, "text/html", valid) }, false, "not JSON"},
		{"garbage", func(s *jwkstest.Server) { s.Respond(200, "application/json", []byte("\x00\xff{")) }, false, "decoding"},
		{"not a set", func(s *jwkstest.Server) { s.Respond(200, "application/json", []byte(`{"kty":"EC"}`)) }, false, "not a JWK Set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := jwkstest.NewServer(t)
			u := srv.URL
			if tt.dead {
				u = deadURL(t)
			} else {
				tt.setup(srv)
			}
			var logs logbuf.Buffer
			s := start(t, []string{u}, jwks.WithTimeout(300*time.Millisecond), jwks.WithMaxBody(maxBody),
				jwks.WithBackoff(20*time.Millisecond, 100*time.Millisecond), jwks.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil))))
			eventually(t, 5*time.Second, "a logged failure", func() bool { return strings.Contains(logs.String(), tt.log) })
			if _, err := keyWithin(t, s, 100*time.Millisecond, k.Kid, k.Alg); err == nil {
				t.Fatal("a key from a bad endpoint")
			}
			if tt.dead {
				return
			}
			eventually(t, 5*time.Second, "a retry", func() bool { return srv.Fetches() >= 2 })
			if _, err := keyWithin(t, s, 100*time.Millisecond, k.Kid, k.Alg); err == nil {
				t.Fatal("a key from a bad endpoint after a retry")
			}
			srv.SetKeys(k)
			eventually(t, 5*time.Second, "recovery", has(s, k))
		})
	}
}

// TestSetCloseDuringHangingFetch: Close returns at once even while a fetch
// waits on a server that never answers.
func TestSetCloseDuringHangingFetch(t *testing.T) {
	srv := jwkstest.NewServer(t)
	srv.Hang()
	s, err := jwks.New([]string{srv.URL}, jwks.WithTimeout(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	s.Start(context.Background())
	eventually(t, 5*time.Second, "the fetch to start", func() bool { return srv.Fetches() == 1 })
	done := make(chan struct{})
	go func() { s.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close waited on the hanging fetch")
	}
}

func TestNewRefusesBadInput(t *testing.T) {
	tests := []struct {
		name string
		urls []string
		opts []jwks.Option
	}{
		{"no URL", nil, nil},
		{"relative", []string{"/jwks.json"}, nil},
		{"ftp", []string{"ftp://idp/jwks"}, nil},
		{"zero timeout", []string{"http://idp/jwks"}, []jwks.Option{jwks.WithTimeout(0)}},
		{"zero body", []string{"http://idp/jwks"}, []jwks.Option{jwks.WithMaxBody(0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := jwks.New(tt.urls, tt.opts...); err == nil {
				t.Fatal("New accepted it")
			}
		})
	}
}
