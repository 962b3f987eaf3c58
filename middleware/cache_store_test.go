package middleware

import (
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func newTestEntry(key string, body int) *cacheEntry {
	e := &cacheEntry{kind: kindResponse, key: key, body: make([]byte, body)}
	e.size = int64(len(key)+body) + cacheEntryOverhead
	return e
}

func TestCacheStoreKeepsBytesUnderCap(t *testing.T) {
	for _, shards := range []int{1, 4} {
		t.Run(fmt.Sprintf("shards=%d", shards), func(t *testing.T) {
			var stats cacheCounters
			const maxBytes = 20_000
			s := newCacheStore(shards, maxBytes, &stats)
			hot := newTestEntry("/hot", 1000)
			s.put(hot)
			for i := range 200 {
				s.put(newTestEntry(fmt.Sprintf("/k%d", i), 1000))
				if s.get([]byte("/hot")) == nil && shards == 1 {
					t.Fatalf("after %d puts the most recently used entry was evicted", i)
				}
				if b := stats.bytes.Load(); b > maxBytes {
					t.Fatalf("after %d puts bytes = %d > cap %d", i, b, maxBytes)
				}
			}
			if stats.evictions.Load() == 0 {
				t.Fatal("no evictions counted")
			}
			var sum int64
			for i := range s.shards {
				sum += s.shards[i].bytes
			}
			if sum != stats.bytes.Load() {
				t.Fatalf("shard bytes %d != counted bytes %d", sum, stats.bytes.Load())
			}
			var n int64
			for i := range s.shards {
				n += int64(s.shards[i].lru.Len())
			}
			if n != stats.entries.Load() {
				t.Fatalf("entries %d != counted %d", n, stats.entries.Load())
			}
		})
	}
}

func TestCacheStoreReplaceAndRemove(t *testing.T) {
	var stats cacheCounters
	s := newCacheStore(1, 1<<20, &stats)
	a1, a2 := newTestEntry("/a", 100), newTestEntry("/a", 300)
	s.put(a1)
	s.put(a2)
	if got := stats.bytes.Load(); got != a2.size || stats.entries.Load() != 1 {
		t.Fatalf("after replace bytes=%d entries=%d, want %d and 1", got, stats.entries.Load(), a2.size)
	}
	s.remove(a1) // no longer stored: a2 must stay
	if s.get([]byte("/a")) != a2 {
		t.Fatal("removing a replaced entry dropped its successor")
	}
	s.remove(a2)
	if s.get([]byte("/a")) != nil || stats.bytes.Load() != 0 || stats.entries.Load() != 0 {
		t.Fatalf("after remove: bytes=%d entries=%d", stats.bytes.Load(), stats.entries.Load())
	}
}

func TestCacheStoreRefusesOversized(t *testing.T) {
	var stats cacheCounters
	s := newCacheStore(2, 2000, &stats) // 1000 per shard
	if s.put(newTestEntry("/big", 1000)) {
		t.Fatal("stored an entry larger than its shard")
	}
	if stats.bytes.Load() != 0 {
		t.Fatal("oversized entry was counted")
	}
}

func TestCacheStoreHashCollisionIsAMiss(t *testing.T) {
	var stats cacheCounters
	s := newCacheStore(1, 1<<20, &stats)
	e := newTestEntry("/a", 1)
	h := maphash.Bytes(s.seed, []byte("/b")) // pretend "/a" and "/b" collide
	s.shards[0].lru.Add(h, e)
	if s.get([]byte("/b")) != nil {
		t.Fatal("a colliding key returned another key's entry")
	}
}

func TestCacheShardCount(t *testing.T) {
	tests := []struct {
		maxBytes, maxBody int64
		want              int
	}{
		{64 << 20, 1 << 20, 8},
		{128 << 20, 1 << 20, 16},
		{16 << 20, 1 << 20, 2},
		{1 << 20, 1 << 20, 1},
		{64 << 10, 4 << 10, 2},
	}
	for _, tt := range tests {
		if got := cacheShardCount(tt.maxBytes, tt.maxBody); got != tt.want {
			t.Errorf("cacheShardCount(%d, %d) = %d, want %d", tt.maxBytes, tt.maxBody, got, tt.want)
		}
	}
}

func TestCopyStoredHeaders(t *testing.T) {
	var h fasthttp.ResponseHeader
	for _, kv := range [][2]string{
		{"Content-Type", "application/json"}, {"ETag", `"v1"`}, {"Link", "</a>"}, {"Link", "</b>"},
		{"Connection", "X-Hop"}, {"X-Hop", "1"}, {"Keep-Alive", "timeout=5"}, {"Proxy-Authenticate", "Basic"},
		{"Upgrade", "h2c"}, {"Trailer", "X-T"}, {"X-Request-Id", "abc"}, {"Age", "3"}, {"X-Cache", "MISS"},
		{"RateLimit-Remaining", "9"}, {"X-RateLimit-Limit", "10"}, {"Vary", "Accept-Encoding"},
	} {
		h.Add(kv[0], kv[1])
	}
	h.SetContentLength(5)
	fields, size := copyStoredHeaders(&h)
	var got []string
	n := 0
	for _, f := range fields {
		got = append(got, string(f.key)+": "+string(f.value))
		n += len(f.key) + len(f.value)
	}
	want := []string{"Content-Type: application/json", "Etag: \"v1\"", "Link: </a>", "Link: </b>", "Vary: Accept-Encoding"}
	if !slices.Equal(got, want) {
		t.Fatalf("stored headers:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n != size {
		t.Fatalf("size = %d, want %d", size, n)
	}
	h.Set("ETag", `"changed"`) // the copies must not alias fasthttp's buffers
	if string(fields[1].value) != `"v1"` {
		t.Fatal("stored header aliases the response buffer")
	}
}

func TestParseVary(t *testing.T) {
	tests := []struct {
		name   string
		values []string
		want   []string
		star   bool
	}{
		{"none", nil, nil, false},
		{"one", []string{"Accept-Encoding"}, []string{"accept-encoding"}, false},
		{"sorted deduped", []string{"Accept-Language, accept-encoding", "ACCEPT-ENCODING"}, []string{"accept-encoding", "accept-language"}, false},
		{"star", []string{"Accept, *"}, nil, true},
		{"empty items", []string{" , ,"}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h fasthttp.ResponseHeader
			for _, v := range tt.values {
				h.Add("Vary", v)
			}
			got, star := parseVary(&h)
			if !slices.Equal(got, tt.want) || star != tt.star {
				t.Fatalf("parseVary = %q, %v; want %q, %v", got, star, tt.want, tt.star)
			}
		})
	}
}

func TestCacheKeyVariants(t *testing.T) {
	var a, b fasthttp.RequestHeader
	a.Add("Accept-Encoding", "gzip")
	b.Add("Accept-Encoding", "gzip")
	b.Add("Accept-Encoding", "br")
	var k cacheKeyBuf
	k.reset([]byte("/api/s/x?q=1"), "")
	base := string(k.b)
	k.withVary([]string{"accept-encoding"}, &a)
	ka := string(k.b)
	k.withVary([]string{"accept-encoding"}, &b)
	kb := string(k.b)
	if ka == kb || !strings.HasPrefix(ka, base) || ka == base {
		t.Fatalf("variant keys not distinct: base %q a %q b %q", base, ka, kb)
	}
	k.toBase()
	if string(k.b) != base {
		t.Fatal("toBase did not restore the base key")
	}
	k.reset([]byte("/api/s/x?q=1"), "alice")
	if string(k.b) == base {
		t.Fatal("subject does not change the key")
	}
}

func TestSplitServicePath(t *testing.T) {
	tests := []struct{ uri, service, path string }{
		{"/api/users/x/y?q=1", "users", "/x/y?q=1"},
		{"/api/users/", "users", "/"},
		{"/api/users", "users", "/"},
		{"/api/users?q=1", "users", "/?q=1"},
		{"http://gw.example/api/users/x", "users", "/x"},
		{"/api", "", "/"},
		{"/api/users/a%2Fb", "users", "/a%2Fb"},
	}
	for _, tt := range tests {
		s, p := splitServicePath([]byte(tt.uri))
		if s != tt.service || p != tt.path {
			t.Errorf("splitServicePath(%q) = %q, %q; want %q, %q", tt.uri, s, p, tt.service, tt.path)
		}
	}
}
