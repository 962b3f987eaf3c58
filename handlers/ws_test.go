package handlers_test

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"gateway/internal/gatewaytest"
)

// pattern returns n pseudo-random bytes, different for each seed.
func pattern(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// textOf returns n bytes of printable ASCII.
func textOf(n int) []byte {
	return bytes.Repeat([]byte("héllo wörld "), n/14+1)[:n]
}

func TestWSEchoKeepsTypeAndPayload(t *testing.T) {
	checkLeaks(t)
	up := startWSUpstream(t, nil, echo)
	cfg := wsConfig(map[string][]string{"chat": {up.URL}})
	cfg.WSMaxMessageBytes = 16 << 20
	gw := gatewaytest.Start(t, cfg)

	tests := []struct {
		name  string
		typ   int
		data  []byte
		frags int // >1: written in that many pieces through NextWriter, with a small client write buffer
	}{
		{"text", websocket.TextMessage, []byte("hello"), 1},
		{"empty text", websocket.TextMessage, []byte{}, 1},
		{"utf-8 text", websocket.TextMessage, textOf(3000), 1},
		{"binary", websocket.BinaryMessage, []byte{0, 1, 2, 0xff, 0xfe}, 1},
		{"1 MiB binary", websocket.BinaryMessage, pattern(1<<20, 1), 1},
		{"10 MiB binary", websocket.BinaryMessage, pattern(10<<20, 2), 1},
		{"1 MiB text", websocket.TextMessage, textOf(1 << 20), 1},
		{"fragmented text", websocket.TextMessage, textOf(10000), 7},
		{"fragmented binary", websocket.BinaryMessage, pattern(300000, 3), 13},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := websocket.Dialer{WriteBufferSize: 1024} // small, so multi-write messages go out as many frames
			c, _, err := d.Dial(wsURL(gw, "chat", "path=/echo"), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			w, err := c.NextWriter(tt.typ)
			if err != nil {
				t.Fatal(err)
			}
			step := max(len(tt.data)/tt.frags, 1)
			for rest := tt.data; len(rest) > 0; {
				n := min(step, len(rest))
				if _, err := w.Write(rest[:n]); err != nil {
					t.Fatal(err)
				}
				rest = rest[n:]
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
			typ, got, err := c.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if typ != tt.typ || !bytes.Equal(got, tt.data) {
				t.Fatalf("echo: type %d, %d bytes; want type %d, %d bytes (equal=%v)",
					typ, len(got), tt.typ, len(tt.data), bytes.Equal(got, tt.data))
			}
		})
	}
}

// An upstream that writes one message as many frames, with pings between
// them, reaches the client as that one message.
func TestWSUpstreamFragmentsReassembled(t *testing.T) {
	checkLeaks(t)
	want := pattern(50000, 9)
	up := startWSUpstream(t, nil, func(c *websocket.Conn) {
		w, err := c.NextWriter(websocket.BinaryMessage)
		if err != nil {
			return
		}
		for rest := want; len(rest) > 0; rest = rest[min(len(rest), 999):] {
			if _, err := w.Write(rest[:min(len(rest), 999)]); err != nil {
				return
			}
		}
		_ = w.Close()
		_, _, _ = c.ReadMessage() // until the client goes
	})
	gw := gatewaytest.Start(t, wsConfig(map[string][]string{"s": {up.URL}}))
	c := dialWS(t, wsURL(gw, "s", ""), nil)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, got, err := c.ReadMessage()
	if err != nil || typ != websocket.BinaryMessage || !bytes.Equal(got, want) {
		t.Fatalf("got type %d, %d bytes, err %v; want the %d-byte binary message", typ, len(got), err, len(want))
	}
}

func TestWSHandshakeForwarding(t *testing.T) {
	checkLeaks(t)
	up := startWSUpstream(t, []string{"v2.chat"}, echo)
	gw := gatewaytest.Start(t, wsConfig(map[string][]string{
		"chat":     {up.URL},
		"prefixed": {up.URL + "/base/v1"},
	}))
	tests := []struct {
		name, service, query string
		offer                string // client's Sec-WebSocket-Protocol
		wantURI, wantProto   string
	}{
		{"default path", "chat", "", "", "/", ""},
		{"path", "chat", "path=/room/7", "", "/room/7", ""},
		{"encoded path", "chat", "path=%2Froom%2Fa%2520b", "", "/room/a%20b", ""},
		{"query forwarded, own params dropped", "chat", "a=1&path=/r&access_token=secret&b=x%20y&p%61th=/q",
			"", "/r?a=1&b=x%20y", ""},
		{"base path joined", "prefixed", "path=/ws&x=1", "", "/base/v1/ws?x=1", ""},
		{"base path, default path", "prefixed", "", "", "/base/v1/", ""},
		{"subprotocol chosen by upstream", "chat", "path=/p", "v1.chat, v2.chat", "/p", "v2.chat"},
		{"no common subprotocol", "chat", "path=/p", "v3.chat", "/p", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := http.Header{}
			h.Set("Authorization", "Bearer abc")
			h.Set("Cookie", "session=s1; theme=dark")
			h.Set("X-Request-Id", "req-"+strings.NewReplacer(" ", "-", ",", "").Replace(tt.name))
			h.Set("Origin", "http://app.example")
			if tt.offer != "" {
				h.Set("Sec-WebSocket-Protocol", tt.offer)
			}
			d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
			c, resp, err := d.Dial(wsURL(gw, tt.service, tt.query), h)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			s := <-up.seen
			if s.URI != tt.wantURI {
				t.Errorf("upstream request URI %q, want %q", s.URI, tt.wantURI)
			}
			if want := strings.TrimPrefix(up.URL, "http://"); s.Host != want {
				t.Errorf("upstream Host %q, want its own %q", s.Host, want)
			}
			for name, want := range map[string]string{
				"Authorization":     "Bearer abc",
				"Cookie":            "session=s1; theme=dark",
				"X-Request-Id":      h.Get("X-Request-Id"),
				"Origin":            "http://app.example",
				"X-Forwarded-For":   "127.0.0.1",
				"X-Forwarded-Proto": "http",
				"X-Forwarded-Host":  gw.Addr,
			} {
				if got := s.Header.Get(name); got != want {
					t.Errorf("upstream %s = %q, want %q", name, got, want)
				}
			}
			if got := s.Header.Get("Sec-WebSocket-Protocol"); got != tt.offer {
				t.Errorf("upstream saw offer %q, want %q", got, tt.offer)
			}
			if ext := s.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
				t.Errorf("upstream saw extensions %q; the bridge negotiates none", ext)
			}
			if c.Subprotocol() != tt.wantProto || resp.Header.Get("Sec-WebSocket-Protocol") != tt.wantProto {
				t.Errorf("client got subprotocol %q (header %q), want %q",
					c.Subprotocol(), resp.Header.Get("Sec-WebSocket-Protocol"), tt.wantProto)
			}
			if resp.Header.Get("X-Request-Id") != h.Get("X-Request-Id") {
				t.Errorf("101 x-request-id %q, want %q", resp.Header.Get("X-Request-Id"), h.Get("X-Request-Id"))
			}
			if err := c.WriteMessage(websocket.TextMessage, []byte("ping?")); err != nil {
				t.Fatal(err)
			}
			if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "ping?" {
				t.Fatalf("echo %q, %v", msg, err)
			}
		})
	}
}

// unmasked returns payload unmasked with key.
func unmasked(key, payload []byte) string {
	out := make([]byte, len(payload))
	for i := range payload {
		out[i] = payload[i] ^ key[i%4]
	}
	return string(out)
}

// acceptKey is the Sec-WebSocket-Accept for key (RFC 6455 §4.2.2).
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

// A frame an upstream sends in the same write as its 101 reaches the
// client; a frame a client sends right behind its handshake, without
// waiting for the 101, reaches the upstream.
func TestWSEarlyFrames(t *testing.T) {
	checkLeaks(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan struct{})
	gotEarly := make(chan string, 1)
	go func() { // a bare upstream: 101 and a first message in one write, then reads
		defer close(served)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
			acceptKey(req.Header.Get("Sec-WebSocket-Key")) + "\r\n\r\n"
		frame := append([]byte{0x81, byte(len("first"))}, "first"...)
		if _, err := c.Write(append([]byte(resp), frame...)); err != nil {
			return
		}
		p := make([]byte, 11) // the client's early frame, masked by the gateway: 2 + 4 + 5 bytes
		if _, err := io.ReadFull(br, p); err != nil {
			gotEarly <- err.Error()
			return
		}
		if p[0] != 0x81 || p[1] != 0x80|5 {
			gotEarly <- fmt.Sprintf("frame header %x", p[:2])
			return
		}
		gotEarly <- unmasked(p[2:6], p[6:11])
		_, _ = io.Copy(io.Discard, br) // until the gateway closes
	}()
	t.Cleanup(func() { ln.Close(); <-served })
	gw := gatewaytest.Start(t, wsConfig(map[string][]string{"s": {"http://" + ln.Addr().String()}}))

	c, err := net.Dial("tcp", gw.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	req := "GET /ws/s HTTP/1.1\r\nHost: " + gw.Addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + key + "\r\nSec-WebSocket-Version: 13\r\n\r\n"
	mask := [4]byte{1, 2, 3, 4}
	early := []byte{0x81, 0x80 | byte(len("early")), mask[0], mask[1], mask[2], mask[3]}
	for i, b := range []byte("early") {
		early = append(early, b^mask[i%4])
	}
	if _, err := c.Write(append([]byte(req), early...)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != acceptKey(key) {
		t.Fatalf("handshake answer %d, accept %q", resp.StatusCode, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	hdr := make([]byte, 2)
	if _, err := io.ReadFull(br, hdr); err != nil {
		t.Fatal(err)
	}
	payload := make([]byte, hdr[1]&0x7f)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatal(err)
	}
	if hdr[0] != 0x81 || string(payload) != "first" {
		t.Fatalf("client got frame %x %q, want the upstream's first text message", hdr, payload)
	}
	if got := gatewaytest.Receive(t, gotEarly, 5*time.Second, "the upstream's first frame"); got != "early" {
		t.Fatalf("upstream's first frame: %s, want the client's early text message", got)
	}
	c.Close()
}

// Cookies the upstream sets in its 101 reach the client's 101.
func TestWSUpstreamSetCookie(t *testing.T) {
	checkLeaks(t)
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, http.Header{"Set-Cookie": {"a=1; Path=/", "b=2"}})
		if err != nil {
			return
		}
		defer c.Close()
		_, _, _ = c.ReadMessage()
	}))
	t.Cleanup(srv.Close)
	gw := gatewaytest.Start(t, wsConfig(map[string][]string{"s": {srv.URL}}))
	c, resp, err := websocket.DefaultDialer.Dial(wsURL(gw, "s", ""), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := resp.Header.Values("Set-Cookie"); len(got) != 2 || got[0] != "a=1; Path=/" || got[1] != "b=2" {
		t.Fatalf("client's 101 Set-Cookie %q, want the upstream's two", got)
	}
}
