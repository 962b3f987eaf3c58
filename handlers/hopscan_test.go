package handlers

import (
	"bufio"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

func TestScanSent(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want sentFields
	}{
		{"plain", "Host: a\r\nAccept: */*\r\nX-Request-Id: 1\r\n\r\n", 0},
		{"no CR", "Host: a\nAccept: */*\n\n", 0},
		{"connection", "Host: a\r\nConnection: keep-alive\r\n\r\n", sentHop},
		{"lower-case te", "Host: a\r\nte: trailers\r\n\r\n", sentHop},
		{"upgrade", "Host: a\r\nUPGRADE: h2c\r\n\r\n", sentHop},
		{"trailer", "Host: a\r\nTrailer: X\r\n\r\n", sentHop},
		{"transfer-encoding", "Host: a\r\nTransfer-Encoding: chunked\r\n\r\n", sentHop},
		{"keep-alive", "Keep-Alive: 5\r\n\r\n", sentHop},
		{"proxy-connection", "Proxy-Connection: close\r\n\r\n", sentHop},
		{"proxy-authorization", "Proxy-Authorization: Basic x\r\n\r\n", sentHop},
		{"proxy-authenticate", "Proxy-Authenticate: Basic\r\n\r\n", sentHop},
		{"expect", "Expect: 100-continue\r\n\r\n", sentExpect},
		{"both", "Expect: 100-continue\r\nTE: x\r\n\r\n", sentHop | sentExpect},
		{"space before colon", "Upgrade : h2c\r\n\r\n", sentHop},
		{"prefix is not the name", "Upgrades: x\r\nX-Connection: y\r\n\r\n", 0},
		{"empty block", "", sentAll},
		{"folded line", "X-A: 1\r\n  continued\r\n\r\n", sentAll},
		{"no colon", "X-A 1\r\n\r\n", sentAll},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scanSent([]byte(tt.raw)); got != tt.want {
				t.Errorf("scanSent(%q) = %b, want %b", tt.raw, got, tt.want)
			}
		})
	}
}

// TestPrepareRequestRemovesWhatWasSent parses real requests as fasthttp's
// server does and checks that the upstream copy has lost every hop-by-hop
// field and Expect, whether the raw scan found them or not.
func TestPrepareRequestRemovesWhatWasSent(t *testing.T) {
	for _, name := range append(hopHeaders[:], fasthttp.HeaderExpect) {
		t.Run(name, func(t *testing.T) {
			var ctx fasthttp.RequestCtx
			value := "v"
			if name == fasthttp.HeaderTransferEncoding {
				value = "chunked"
			}
			raw := "GET /api/s/x HTTP/1.1\r\nHost: gw\r\n" + name + ": " + value + "\r\nX-End: kept\r\n\r\n"
			if err := ctx.Request.Header.Read(bufioReader(raw)); err != nil {
				t.Fatal(err)
			}
			var req fasthttp.Request
			prepareRequest(&req, &ctx, nil, nil)
			if v := req.Header.Peek(name); len(v) > 0 {
				t.Errorf("upstream request keeps %s: %q", name, v)
			}
			if string(req.Header.Peek("X-End")) != "kept" {
				t.Error("end-to-end field lost")
			}
		})
	}
}

func bufioReader(s string) *bufio.Reader { return bufio.NewReader(strings.NewReader(s)) }
