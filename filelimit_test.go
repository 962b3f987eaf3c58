//go:build linux

package main

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"gateway/internal/gatewaytest"
)

// fileLimit is the RLIMIT_NOFILE (soft and hard) the gateway runs under
// in TestConnectionFloodPastTheFileLimit; its MAX_CONNS default is then
// (256 − 128) / 3.
const (
	fileLimit   = 256
	budgetConns = (fileLimit - 128) / 3
	floodConns  = 300 // past the file limit, not only past the budget
)

// withFileLimit writes a shell script that lowers RLIMIT_NOFILE, soft and
// hard, to n and then execs bin: the gateway's own raise to the hard limit
// cannot undo it, and the test process keeps its own limit.
func withFileLimit(t *testing.T, bin string, n int) string {
	t.Helper()
	script := filepath.Join(t.TempDir(), "gateway-nofile")
	body := "#!/bin/sh\nulimit -n " + strconv.Itoa(n) + " || exit 97\nexec '" + bin + "' \"$@\"\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	return script
}

// connCounts reads the open client connections and those refused over
// MAX_CONNS from the admin listener's /metrics.
func connCounts(t *testing.T, admin string) (open, refused int) {
	t.Helper()
	fams := gatewaytest.Scrape(t, "http://"+admin)
	if f := fams["gateway_client_connections_open"]; f != nil && len(f.Metric) == 1 {
		open = int(f.Metric[0].GetGauge().GetValue())
	}
	if f := fams["gateway_client_connections_refused_total"]; f != nil {
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "limit" && l.GetValue() == "total" {
					refused = int(m.GetCounter().GetValue())
				}
			}
		}
	}
	return open, refused
}

// TestConnectionFloodPastTheFileLimit runs the gateway binary with an
// open-file limit of 256 and MAX_CONNS unset, so the limit defaults to what
// 256 descriptors hold. 300 connections arrive at once: those past the
// limit get a 503 and a closed socket, the others are served (and their
// requests hold upstream sockets too), and a second flood while they are
// held is refused the same way. Accept never fails with EMFILE (fasthttp
// would log it and pause its accept loop), and once the flood is gone a
// normal client is answered.
func TestConnectionFloodPastTheFileLimit(t *testing.T) {
	release := make(chan struct{})
	var held atomic.Int64
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			held.Add(1)
			<-release
		}
		_, _ = w.Write([]byte("ok"))
	})}
	uln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go up.Serve(uln) //nolint:errcheck
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	t.Cleanup(func() { unblock(); up.Close() })

	admin := "127.0.0.1:" + strconv.Itoa(freePort(t))
	gw := startReplica(t, "nofile", withFileLimit(t, buildGateway(t), fileLimit), []string{
		"UPSTREAMS={\"s\":[\"http://" + uln.Addr().String() + "\"]}", "ADMIN_ADDR=" + admin,
		"LOG_LEVEL=info", "SERVER_IDLE_TIMEOUT_MS=60000", "SERVER_READ_TIMEOUT_MS=60000",
	})
	if want := `"max_conns":` + strconv.Itoa(budgetConns); !strings.Contains(gw.logs.String(), want) {
		t.Fatalf("start log lacks %s:\n%s", want, gw.logs)
	}
	noEMFILE := func() {
		t.Helper()
		if l := gw.logs.String(); strings.Contains(l, "too many open files") || strings.Contains(l, "EMFILE") {
			t.Fatalf("the gateway ran out of descriptors:\n%s", l)
		}
	}
	_, refusedBefore := connCounts(t, admin)

	kept := flood(t, gw, floodConns, admin, refusedBefore)
	noEMFILE()
	if len(kept) == 0 || len(kept) > budgetConns {
		t.Fatalf("%d connections served, want 1..%d", len(kept), budgetConns)
	}
	// The served connections now hold an upstream socket each.
	for _, c := range kept {
		if _, err := c.Write([]byte("GET /api/s/slow HTTP/1.1\r\nHost: gw\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
	}
	gatewaytest.Eventually(t, 10*time.Second, func() bool { return held.Load() == int64(len(kept)) },
		"every served connection's request to reach the upstream")
	_, refused := connCounts(t, admin)
	if again := flood(t, gw, 100, admin, refused); len(again) != 0 {
		t.Errorf("%d connections served past the limit while it was full", len(again))
	}
	noEMFILE()

	unblock()
	for _, c := range kept {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("held request: %v %v", resp, err)
		}
		c.Close()
	}
	gatewaytest.Eventually(t, 10*time.Second, func() bool {
		code, err := status(gw.base + "/api/s/x")
		return err == nil && code == 200
	}, "a normal client to be answered after the flood")
	noEMFILE()
}

// flood opens n connections to gw at once without sending anything,
// waits until the gateway has counted every one as open or refused (read
// from /metrics on admin, refusedBefore being the refused count before),
// and returns those it kept open; each refused one must have read a 503
// and then the end of the stream.
func flood(t *testing.T, gw *replica, n int, admin string, refusedBefore int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, 0, n)
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	openBefore, _ := connCounts(t, admin)
	for range n {
		c, err := net.DialTimeout("tcp", gw.addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v; gateway log:\n%s", len(conns), err, tail(gw.logs.String(), 2000))
		}
		conns = append(conns, c)
	}
	gatewaytest.Eventually(t, 15*time.Second, func() bool {
		open, refused := connCounts(t, admin)
		return open-openBefore+refused-refusedBefore == n
	}, "the gateway to accept or refuse every connection of the flood")

	// A refused connection has its answer and FIN queued already; a kept
	// one has nothing to read, which the deadline shows.
	kept := make([]net.Conn, 0)
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Go(func() {
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				_ = c.SetReadDeadline(time.Time{})
				mu.Lock()
				kept = append(kept, c)
				mu.Unlock()
				return
			}
			if err != nil || resp.StatusCode != http.StatusServiceUnavailable || !resp.Close {
				t.Errorf("refused connection: %v %v", resp, err)
				return
			}
			resp.Body.Close()
			if _, err := c.Read(make([]byte, 1)); err == nil {
				t.Errorf("refused connection still open after its 503")
			}
		})
	}
	wg.Wait()
	return kept
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	return s[max(0, len(s)-n):]
}
