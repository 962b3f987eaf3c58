package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"gateway/internal/gatewaytest"
	"gateway/internal/logbuf"
)

// replica is one gateway process of a replicated test.
type replica struct {
	name   string
	cmd    *exec.Cmd
	addr   string // 127.0.0.1:port
	base   string // http://addr
	logs   *logbuf.Buffer
	exited chan struct{} // closed once the process has exited
}

// startReplica starts bin with env on a free loopback port, in a directory
// of its own (no .env), and waits for /healthz. It is killed when the test
// ends, if still running.
func startReplica(t *testing.T, name, bin string, env []string) *replica {
	t.Helper()
	port := freePort(t)
	r := &replica{name: name, logs: &logbuf.Buffer{}, exited: make(chan struct{})}
	r.addr = "127.0.0.1:" + strconv.Itoa(port)
	r.base = "http://" + r.addr
	r.cmd = exec.Command(bin)
	r.cmd.Dir = t.TempDir()
	r.cmd.Env = append(cleanEnv(env...), "HOST=127.0.0.1", "PORT="+strconv.Itoa(port))
	r.cmd.Stderr = r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(func() {
		_ = r.cmd.Process.Kill()
		<-r.exited
	})
	gatewaytest.Eventually(t, 15*time.Second, func() bool {
		select {
		case <-r.exited:
			t.Fatalf("replica %s exited at start:\n%s", name, r.logs)
		default:
		}
		code, err := status(r.base + "/healthz")
		return err == nil && code == 200
	}, "replica "+name+" /healthz")
	return r
}

// signal sends sig to the replica's process.
func (r *replica) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := r.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signalling replica %s: %v", r.name, err)
	}
}

// waitExit waits up to within for the process to exit and returns its exit
// code.
func (r *replica) waitExit(t *testing.T, within time.Duration) int {
	t.Helper()
	select {
	case <-r.exited:
		return r.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("replica %s still running %v after the signal\n%s", r.name, within, r.logs)
		return -1
	}
}

// noKeepAlive sends every request on a connection of its own, as a load
// balancer balancing connections would spread them.
var noKeepAlive = &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}

// status returns the status of GET url on a fresh connection.
func status(url string) (int, error) {
	return get(url, "")
}

// get sends GET url on a fresh connection with X-Client: client (the rate
// limit's key; none when empty) and returns the status.
func get(url, client string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	if client != "" {
		req.Header.Set("X-Client", client)
	}
	resp, err := noKeepAlive.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// startRedisServer starts a throw-away redis-server on a free loopback port
// and waits until it answers PING; it is killed when the test ends.
// Without the binary the test is skipped, unless CI is set.
func startRedisServer(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis-server not found and CI=%s: install it (Debian: redis-server)", os.Getenv("CI"))
		}
		t.Skip("redis-server not installed; skipping (the test runs, and must pass, with CI set)")
	}
	addr := "127.0.0.1:" + strconv.Itoa(freePort(t))
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	gatewaytest.Eventually(t, 10*time.Second, func() bool { return pings(addr) }, "redis-server to answer PING")
	return "redis://" + addr + "/0"
}

// pings reports whether a Redis server on addr answers PING.
func pings(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return false
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return err == nil && strings.HasPrefix(line, "+PONG")
}

// wsClose is the close frame a WebSocket peer received, and when.
type wsClose struct {
	code int
	at   time.Time
}

// wsUpstream is a WebSocket upstream that echoes every message and records
// the close frame each connection gets from a gateway.
type wsUpstream struct {
	url    string
	closes chan wsClose
}

func startWSUpstream(t *testing.T) *wsUpstream {
	t.Helper()
	u := &wsUpstream{closes: make(chan wsClose, 256)}
	up := websocket.Upgrader{CheckOrigin: func(*http.Request) bool { return true }}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, msg, err := c.ReadMessage()
			if err != nil {
				u.closes <- wsClose{closeCode(err), time.Now()}
				return
			}
			if c.WriteMessage(typ, msg) != nil {
				return
			}
		}
	})}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	u.url = "http://" + ln.Addr().String()
	return u
}

// closeCode is the close code err carries, -1 when it is no close frame.
func closeCode(err error) int {
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// dialWS opens a WebSocket through the replica to service "ws" (keyed for
// the rate limit as client) and checks one echo.
func dialWS(r *replica, client string) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws://"+r.addr+"/ws/ws", http.Header{"X-Client": {client}})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dialing %s: %w (status %d)", r.name, err, resp.StatusCode)
		}
		return nil, fmt.Errorf("dialing %s: %w", r.name, err)
	}
	if err := echo(c, "hello"); err != nil {
		c.Close()
		return nil, fmt.Errorf("echo through %s: %w", r.name, err)
	}
	return c, nil
}

// echo sends msg on c and reads it back.
func echo(c *websocket.Conn, msg string) error {
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	defer c.SetReadDeadline(time.Time{}) //nolint:errcheck
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		return err
	}
	_, got, err := c.ReadMessage()
	if err == nil && string(got) != msg {
		err = fmt.Errorf("echoed %q, want %q", got, msg)
	}
	return err
}

// killed reports whether err is the kind of failure a request to a
// SIGKILLed process meets: refused, reset, or closed before an answer.
func killed(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
