package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestInvalidConfigExitsWith2(t *testing.T) {
	t.Chdir(t.TempDir()) // no .env here
	tests := []struct{ name, upstreams string }{
		{"missing", ""},
		{"not JSON", "{"},
		{"bad scheme", `{"billing":["ftp://x"]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("UPSTREAMS", tt.upstreams)
			if code := serve(false); code != exitConfig {
				t.Fatalf("exit code %d, want %d", code, exitConfig)
			}
		})
	}
}

// buildGateway builds the binary as the Dockerfile does, once per test.
func buildGateway(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "gateway")
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(t *testing.T) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// rssKiB reads a process's resident set size.
func rssKiB(pid int) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// zeros is an endless reader of zero bytes that costs nothing to produce.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// TestGiBBodiesStreamInBoundedMemory runs the real binary, sends 1 GiB up
// and pulls 1 GiB down through it, and checks the gateway's RSS grows by
// less than 64 MiB: bodies stream, they are never held whole.
func TestGiBBodiesStreamInBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 2 GiB through the gateway; skipped with -short")
	}
	const size = 1 << 30
	var uploaded atomic.Int64
	up := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost {
			n, _ := io.Copy(io.Discard, r.Body)
			uploaded.Store(n)
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		_, _ = io.Copy(w, io.LimitReader(zeros{}, size))
	})}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go up.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { up.Close() })

	bin := buildGateway(t)
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, bin)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "HOST=127.0.0.1", "PORT="+strconv.Itoa(port), "LOG_LEVEL=warn",
		`UPSTREAMS={"big":["http://`+ln.Addr().String()+`"]}`)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Signal(os.Interrupt); _ = cmd.Wait() })
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway never answered /healthz: %v", err)
		}
		time.Sleep(20 * time.Millisecond) // polling for start-up
	}
	hc := exec.Command(bin, "healthcheck")
	hc.Env = append(os.Environ(), "PORT="+strconv.Itoa(port))
	if out, err := hc.CombinedOutput(); err != nil {
		t.Fatalf("gateway healthcheck against the running gateway: %v %s", err, out)
	}
	hc = exec.Command(bin, "healthcheck")
	hc.Env = append(os.Environ(), "PORT="+strconv.Itoa(freePort(t)))
	if err := hc.Run(); err == nil {
		t.Fatal("gateway healthcheck succeeded where nothing listens")
	}
	startRSS := rssKiB(cmd.Process.Pid)
	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			if r := rssKiB(cmd.Process.Pid); r > peak.Load() {
				peak.Store(r)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	req, _ := http.NewRequest(http.MethodPost, base+"/api/big/up", io.LimitReader(zeros{}, size))
	req.ContentLength = size
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || uploaded.Load() != size {
		t.Fatalf("upload: status %d, upstream got %d bytes", resp.StatusCode, uploaded.Load())
	}
	resp, err = http.Get(base + "/api/big/down")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil || n != size {
		t.Fatalf("download: %d bytes, %v", n, err)
	}
	close(stop)
	<-sampled
	growth := peak.Load() - startRSS
	t.Logf("gateway RSS: start %d KiB, peak %d KiB, growth %d KiB over 1 GiB up + 1 GiB down", startRSS, peak.Load(), growth)
	if growth >= 64<<10 {
		t.Fatalf("gateway RSS grew %d KiB, want < 64 MiB", growth)
	}
}
