package middleware

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"
)

// cacheGateway serves request ids, the cache and a streaming proxy to up
// on loopback, as the app mounts them, with before running first.
func cacheGateway(t *testing.T, upstreamAddr string, cfg *cacheGatewayConfig) (*Cache, string) {
	t.Helper()
	c := cacheTestConfig()
	if cfg.maxBody > 0 {
		c.CacheMaxBodyBytes = cfg.maxBody
	}
	if cfg.maxBytes > 0 {
		c.CacheMaxBytes = cfg.maxBytes
	}
	cache, err := NewCache(c, cfg.opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cache.Close() })
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Use(RequestID(NewRequestIDs()))
	if cfg.before != nil {
		app.Use(cfg.before)
	}
	app.Get("/api/:service/*", cache.Handler(), cacheProxy(upstreamAddr))
	return cache, cacheServe(t, app)
}

type cacheGatewayConfig struct {
	maxBody  int
	maxBytes int64
	before   fiber.Handler
	opts     []CacheOption
}

// cacheClient is an HTTP client that does not follow redirects and keeps
// enough idle connections for a herd.
func cacheClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 200}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// cacheGet does a GET and returns the response with its body read.
func cacheGet(t *testing.T, client *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading %s: %v", url, err)
	}
	return resp, string(b)
}

func TestCacheThunderingHerd(t *testing.T) {
	const n = 100
	tests := []struct {
		name      string
		header    string // Cache-Control of the upstream's answer
		wantCalls int64
		wantHits  int
	}{
		{"cacheable: upstream once", "max-age=60", 1, n - 1},
		{"uncacheable: followers go upstream", "no-store", n, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var arrived, calls atomic.Int64
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				calls.Add(1)
				// Answer only once the whole herd is inside the cache
				// middleware, so every follower meets the leader's flight.
				deadline := time.Now().Add(5 * time.Second)
				for arrived.Load() < n && time.Now().Before(deadline) {
					time.Sleep(time.Millisecond)
				}
				w.Header().Set("Cache-Control", tt.header)
				_, _ = io.WriteString(w, "herd")
			}))
			defer up.Close()
			count := func(c *fiber.Ctx) error { arrived.Add(1); return c.Next() }
			cache, gw := cacheGateway(t, up.Listener.Addr().String(), &cacheGatewayConfig{before: count})
			client := cacheClient(t)

			var wg sync.WaitGroup
			var hits, oks atomic.Int64
			for range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					resp, err := client.Get("http://" + gw + "/api/svc/cold")
					if err != nil {
						t.Error(err)
						return
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode == 200 && string(body) == "herd" {
						oks.Add(1)
					}
					if resp.Header.Get("X-Cache") == "HIT" {
						hits.Add(1)
					}
				}()
			}
			wg.Wait()
			if got := calls.Load(); got != tt.wantCalls {
				t.Errorf("upstream calls = %d, want %d", got, tt.wantCalls)
			}
			if oks.Load() != n || hits.Load() != int64(tt.wantHits) {
				t.Errorf("%d of %d answered 200 herd, %d hits; want all, %d hits", oks.Load(), n, hits.Load(), tt.wantHits)
			}
			if st := cache.Stats(); st.Coalesced == 0 {
				t.Errorf("no request was coalesced: %+v", st)
			}
		})
	}
}

func TestCacheStreamedBodies(t *testing.T) {
	const maxBody = 64 << 10
	tests := []struct {
		name       string
		size       int
		chunked    bool
		wantSecond string
	}{
		{"small stored", 1000, false, "HIT"},
		{"at max stored", maxBody, false, "HIT"},
		{"over max streams through", 4 * maxBody, false, "MISS"},
		{"unknown length streams through", 1000, true, "MISS"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := bytes.Repeat([]byte("0123456789abcdef"), tt.size/16+1)[:tt.size]
			up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if !tt.chunked {
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				}
				_, _ = w.Write(body[:len(body)/2])
				if tt.chunked {
					w.(http.Flusher).Flush()
				}
				_, _ = w.Write(body[len(body)/2:])
			}))
			defer up.Close()
			cache, gw := cacheGateway(t, up.Listener.Addr().String(), &cacheGatewayConfig{maxBody: maxBody})
			client := cacheClient(t)
			for i, want := range []string{"MISS", tt.wantSecond} {
				resp, got := cacheGet(t, client, "http://"+gw+"/api/svc/blob")
				if got != string(body) {
					t.Fatalf("request %d: body of %d bytes differs from the upstream's %d", i, len(got), len(body))
				}
				if xc := resp.Header.Get("X-Cache"); xc != want {
					t.Fatalf("request %d: X-Cache %q, want %q", i, xc, want)
				}
			}
			if st := cache.Stats(); st.Bytes > int64(maxBody)+4096 && tt.wantSecond == "MISS" {
				t.Fatalf("an unstored body was kept: %+v", st)
			}
		})
	}
}

func TestCacheBrokenUpstreamBody(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		// Announce 100 000 bytes and send a tenth: the cache reads the
		// body to store it and must not pass a truncated copy on.
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 100000\r\nCache-Control: max-age=60\r\n\r\n")
		_, _ = buf.Write(make([]byte, 10000))
		_ = buf.Flush()
	}))
	defer up.Close()
	cache, gw := cacheGateway(t, up.Listener.Addr().String(), &cacheGatewayConfig{maxBody: 200000})
	resp, body := cacheGet(t, cacheClient(t), "http://"+gw+"/api/svc/broken")
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, `"requestId"`) {
		t.Fatalf("got %d %q, want a 502 JSON error", resp.StatusCode, body)
	}
	if st := cache.Stats(); st.Stores != 0 {
		t.Fatalf("a broken body was stored: %+v", st)
	}
}

func TestTakeBodyStream(t *testing.T) {
	payload := []byte(strings.Repeat("z", 5000))
	tests := []struct {
		name    string
		reader  io.Reader
		length  int
		wantErr error
	}{
		{"whole", bytes.NewReader(payload), len(payload), nil},
		{"one byte reads", iotest.OneByteReader(bytes.NewReader(payload)), len(payload), nil},
		{"short", bytes.NewReader(payload[:100]), len(payload), errBodyLength},
		{"long", bytes.NewReader(payload), 100, errBodyLength},
		{"read error", iotest.TimeoutReader(bytes.NewReader(payload)), len(payload), iotest.ErrTimeout},
		{"empty", bytes.NewReader(nil), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp fasthttp.Response
			resp.SetBodyStream(tt.reader, tt.length)
			got, err := takeBody(&resp)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !bytes.Equal(got, payload[:tt.length]) || !bytes.Equal(resp.Body(), got) || resp.IsBodyStream() {
				t.Fatalf("body not taken intact (%d bytes, stream %v)", len(got), resp.IsBodyStream())
			}
		})
	}
}

func TestCacheEvictionKeepsBytesUnderCap(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "3000") // else net/http chunks it: unknown length, not stored
		_, _ = w.Write(bytes.Repeat([]byte("e"), 3000))
	}))
	defer up.Close()
	const maxBytes = 64 << 10
	cache, gw := cacheGateway(t, up.Listener.Addr().String(), &cacheGatewayConfig{maxBody: 4096, maxBytes: maxBytes})
	client := cacheClient(t)
	for i := range 100 {
		cacheGet(t, client, fmt.Sprintf("http://%s/api/svc/item/%d", gw, i))
		if st := cache.Stats(); st.Bytes > maxBytes {
			t.Fatalf("after %d stores bytes = %d > %d", i+1, st.Bytes, maxBytes)
		}
	}
	st := cache.Stats()
	if st.Evictions == 0 || st.Stores != 100 {
		t.Fatalf("stats %+v: want 100 stores and some evictions", st)
	}
	if resp, _ := cacheGet(t, client, "http://"+gw+"/api/svc/item/99"); resp.Header.Get("X-Cache") != "HIT" {
		t.Fatal("the newest entry was evicted")
	}
	if resp, _ := cacheGet(t, client, "http://"+gw+"/api/svc/item/0"); resp.Header.Get("X-Cache") != "MISS" {
		t.Fatal("the oldest entry survived 100 stores into a cache that holds far fewer")
	}
}
