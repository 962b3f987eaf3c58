package faultup

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func newServer(t *testing.T) (*Server, *httptest.Server, string) {
	t.Helper()
	ids := filepath.Join(t.TempDir(), "ids")
	s, err := New("b", ids)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, ts, ids
}

func get(t *testing.T, url, id string) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set(HeaderID, id)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestModes(t *testing.T) {
	s, ts, _ := newServer(t)
	resp, body, err := get(t, ts.URL+PathGet, "id-1")
	if err != nil || resp.StatusCode != 200 || resp.Header.Get(HeaderUpstream) != "b" || resp.Header.Get(HeaderID) != "id-1" || len(body) < 2000 {
		t.Fatalf("ok mode: %v %v %q", resp, err, resp.Header)
	}
	// A re-added upstream's base path is taken off.
	if resp, _, err := get(t, ts.URL+"/r3"+PathGet, "x"); err != nil || resp.StatusCode != 200 {
		t.Fatalf("/r3/get: %v %v", resp, err)
	}
	s.SetMode(Mode500)
	if resp, _, err := get(t, ts.URL+PathGet, "x"); err != nil || resp.StatusCode != 500 {
		t.Fatalf("500 mode: %v %v", resp, err)
	}
	s.SetMode(ModeDrop)
	if _, body, err := get(t, ts.URL+PathGet, "x"); err == nil {
		t.Fatalf("drop mode: whole answer of %d bytes read", len(body))
	}
	s.SetMode(ModeHang)
	done := make(chan error, 1)
	go func() { _, _, err := get(t, ts.URL+PathGet, "x"); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("hang mode answered: %v", err)
	case <-time.After(200 * time.Millisecond): // nothing may come; 200 ms is a sample of "never"
	}
	s.SetMode(ModeOK)
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("a hung request got an answer once the hang ended; want its connection dropped")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a hung request still hangs after the mode changed")
	}
}

func TestPostIDsLogged(t *testing.T) {
	_, ts, ids := newServer(t)
	for _, id := range []string{"p1", "p2"} {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, ts.URL+PathPost, strings.NewReader("{}"))
		req.Header.Set(HeaderID, id)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("POST: %v %v", resp, err)
		}
		resp.Body.Close()
	}
	b, err := os.ReadFile(ids)
	if err != nil || string(b) != "p1\np2\n" {
		t.Fatalf("id log %q %v", b, err)
	}
}

func TestStripGeneration(t *testing.T) {
	for in, want := range map[string]string{"/r1/get": "/get", "/r12/ws": "/ws", "/get": "/get", "/r/get": "/r/get", "/r1": "/r1", "/rx/get": "/rx/get"} {
		if got := stripGeneration(in); got != want {
			t.Errorf("stripGeneration(%q) = %q, want %q", in, got, want)
		}
	}
}
