package handlers

import (
	"strings"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

func TestTickInterval(t *testing.T) {
	tests := []struct{ heartbeat, want time.Duration }{
		{0, liveCheckInterval},
		{50 * time.Millisecond, 50 * time.Millisecond},
		{500 * time.Millisecond, 500 * time.Millisecond},
		{700 * time.Millisecond, 350 * time.Millisecond},
		{15 * time.Second, 500 * time.Millisecond},
		{1600 * time.Millisecond, 400 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := tickInterval(tt.heartbeat); got != tt.want {
			t.Errorf("tickInterval(%v) = %v, want %v", tt.heartbeat, got, tt.want)
		}
	}
}

func TestIsEventStream(t *testing.T) {
	tests := []struct {
		status int
		ctype  string
		want   bool
	}{
		{200, "text/event-stream", true},
		{200, "text/event-stream; charset=utf-8", true},
		{200, "Text/Event-Stream ;charset=utf-8", true},
		{204, "text/event-stream", true},
		{200, "text/event-streams", false},
		{200, "application/json", false},
		{200, "", false},
		{302, "text/event-stream", false},
		{500, "text/event-stream", false},
	}
	for _, tt := range tests {
		var resp fasthttp.Response
		resp.SetStatusCode(tt.status)
		resp.Header.SetContentType(tt.ctype)
		if got := isEventStream(&resp); got != tt.want {
			t.Errorf("isEventStream(%d %q) = %v, want %v", tt.status, tt.ctype, got, tt.want)
		}
	}
}

func TestRelayBufferFrame(t *testing.T) {
	tests := []struct {
		n        int
		identity bool
		head     string
	}{
		{1, false, "1\r\n"},
		{15, false, "f\r\n"},
		{16, false, "10\r\n"},
		{255, false, "ff\r\n"},
		{256, false, "100\r\n"},
		{len(new(relayBuffer).payload()), false, "ff9\r\n"},
		{27, true, ""},
	}
	for _, tt := range tests {
		var b relayBuffer
		p := b.payload()
		for i := range tt.n {
			p[i] = 'x'
		}
		want := tt.head + strings.Repeat("x", tt.n)
		if !tt.identity {
			want += "\r\n"
		}
		if got := string(b.frame(tt.n, tt.identity)); got != want {
			t.Errorf("frame(%d, identity %v) = %.12q..., want %.12q...", tt.n, tt.identity, got, want)
		}
	}
}
