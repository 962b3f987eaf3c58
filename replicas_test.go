package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"gateway/internal/gatewaytest"
)

// The replicated set-up: three gateway processes, one binary, one
// redis-server, the same upstreams.
const (
	replicaRateMax = 40
	shutdownDelay  = time.Second
	streamDrain    = 2 * time.Second
	shutdownBudget = 5 * time.Second // SHUTDOWN_TIMEOUT_MS
)

// apiUpstream answers GET /who with "ok" and GET /slow?ms=N after N ms;
// a request with ?tell=1 is announced on arrived as it arrives.
func apiUpstream(t *testing.T) (url string, arrived <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tell := make(chan struct{}, 16)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("tell") == "1" {
			tell <- struct{}{}
		}
		if ms, err := strconv.Atoi(r.URL.Query().Get("ms")); err == nil {
			time.Sleep(time.Duration(ms) * time.Millisecond) // the upstream's service time
		}
		_, _ = io.WriteString(w, "ok")
	})}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String(), tell
}

// TestThreeReplicas runs three gateway processes sharing one redis-server
// in front of the same upstreams, with traffic round-robin across them: the
// global rate limit holds across the three, SIGKILL of one loses none of
// the requests the other two serve, and SIGTERM drains one (readiness 503
// for SHUTDOWN_DELAY_MS while still serving, in-flight requests finish,
// WebSockets get 1001 spread over STREAM_DRAIN_MS, exit 0 within its
// budget) while its WebSocket clients reconnect to another replica at once.
func TestThreeReplicas(t *testing.T) {
	redisURL := startRedisServer(t)
	bin := buildGateway(t)
	ws := startWSUpstream(t)
	api, arrived := apiUpstream(t)
	env := []string{
		`UPSTREAMS={"api":["` + api + `"],"ws":["` + ws.url + `"]}`,
		"REDIS_URL=" + redisURL, "RATE_LIMIT_KEY=header:X-Client",
		"RATE_LIMIT_MAX=" + strconv.Itoa(replicaRateMax), "RATE_LIMIT_WINDOW_MS=60000",
		"SHUTDOWN_DELAY_MS=" + strconv.Itoa(int(shutdownDelay.Milliseconds())),
		"STREAM_DRAIN_MS=" + strconv.Itoa(int(streamDrain.Milliseconds())),
		"SHUTDOWN_TIMEOUT_MS=" + strconv.Itoa(int(shutdownBudget.Milliseconds())),
		"LOG_LEVEL=warn",
	}
	rs := []*replica{startReplica(t, "a", bin, env), startReplica(t, "b", bin, env), startReplica(t, "c", bin, env)}

	t.Run("global rate limit", func(t *testing.T) { sharedRateLimit(t, rs) })
	t.Run("SIGKILL", func(t *testing.T) { killOne(t, rs[:2], rs[2]) })
	t.Run("SIGTERM", func(t *testing.T) { drainOne(t, rs[1], rs[0], ws, arrived) })
}

// sharedRateLimit sends three times the limit for one client, round-robin
// over the replicas, well inside one window: the three together let the
// limit through, not three times it.
func sharedRateLimit(t *testing.T, rs []*replica) {
	allowed := make(map[string]int)
	total := 0
	for i := range 3 * replicaRateMax {
		r := rs[i%len(rs)]
		code, err := get(r.base+"/api/api/who", "limited")
		if err != nil {
			t.Fatalf("request %d to %s: %v", i, r.name, err)
		}
		switch code {
		case 200:
			allowed[r.name]++
			total++
		case http.StatusTooManyRequests:
		default:
			t.Fatalf("request %d to %s: status %d", i, r.name, code)
		}
	}
	if total < replicaRateMax || total > replicaRateMax+replicaRateMax/10 {
		t.Errorf("the three replicas let %d requests through (%v), want the one limit %d", total, allowed, replicaRateMax)
	}
}

// loadResult counts one replica's answers under load.
type loadResult struct {
	ok, failed atomic.Int64
	lastErr    atomic.Value // error
}

// roundRobin sends slow requests round-robin over rs from workers
// goroutines until stop is closed; each request has its own rate-limit key.
func roundRobin(rs []*replica, workers int, stop <-chan struct{}) (map[*replica]*loadResult, *sync.WaitGroup) {
	res := make(map[*replica]*loadResult, len(rs))
	for _, r := range rs {
		res[r] = &loadResult{}
	}
	var wg sync.WaitGroup
	var seq atomic.Int64
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				n := seq.Add(1)
				r := rs[int(n)%len(rs)]
				code, err := get(r.base+"/api/api/slow?ms=20", fmt.Sprintf("load-%d", n))
				if err == nil && code == 200 {
					res[r].ok.Add(1)
					continue
				}
				if err == nil {
					err = fmt.Errorf("status %d", code)
				}
				res[r].failed.Add(1)
				res[r].lastErr.Store(err)
			}
		})
	}
	return res, &wg
}

// killOne puts load on the survivors and the victim, SIGKILLs the victim
// mid-load and checks that none of the survivors' requests failed.
func killOne(t *testing.T, survivors []*replica, victim *replica) {
	all := append(append([]*replica{}, survivors...), victim)
	stop := make(chan struct{})
	res, wg := roundRobin(all, 6, stop)
	defer func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		wg.Wait()
	}()
	gatewaytest.Eventually(t, 10*time.Second, func() bool { return res[victim].ok.Load() >= 20 }, "load on the victim")
	victim.signal(t, syscall.SIGKILL)
	victim.waitExit(t, 5*time.Second)
	before := make([]int64, len(survivors))
	for i, r := range survivors {
		before[i] = res[r].ok.Load()
	}
	gatewaytest.Eventually(t, 10*time.Second, func() bool {
		for i, r := range survivors {
			if res[r].ok.Load() < before[i]+20 {
				return false
			}
		}
		return true
	}, "the survivors to serve on after the kill")
	close(stop)
	wg.Wait()
	for _, r := range survivors {
		if f := res[r].failed.Load(); f != 0 {
			t.Errorf("replica %s failed %d of its requests (last: %v) while %s was killed", r.name, f, res[r].lastErr.Load(), victim.name)
		}
	}
	if err, _ := res[victim].lastErr.Load().(error); res[victim].failed.Load() == 0 || !killed(err) {
		t.Errorf("requests to the killed replica: %d failed, last %v; want refused or reset", res[victim].failed.Load(), err)
	}
	t.Logf("served: %s %d, %s %d; killed %s served %d, then %d refused",
		survivors[0].name, res[survivors[0]].ok.Load(), survivors[1].name, res[survivors[1]].ok.Load(),
		victim.name, res[victim].ok.Load(), res[victim].failed.Load())
}

// reconnect is a drained WebSocket client's close and its reconnection.
type reconnect struct {
	code int
	at   time.Time
	err  error // of the reconnection to the other replica
}

// drainOne SIGTERMs r while it holds WebSockets and a request in flight,
// with other still serving, and checks the drain.
func drainOne(t *testing.T, r, other *replica, ws *wsUpstream, arrived <-chan struct{}) {
	const n = 8
	for len(ws.closes) > 0 {
		<-ws.closes
	}
	done := make(chan reconnect, n)
	for i := range n {
		c, err := dialWS(r, fmt.Sprintf("ws-%d", i))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer c.Close()
			_ = c.SetReadDeadline(time.Now().Add(shutdownDelay + shutdownBudget + 5*time.Second))
			var rc reconnect
			for {
				if _, _, err := c.NextReader(); err != nil {
					rc.code, rc.at = closeCode(err), time.Now()
					break
				}
			}
			// At once, to the next replica, as a load balancer would send it.
			nc, err := dialWS(other, fmt.Sprintf("ws-again-%d", rc.at.UnixNano()))
			if err == nil {
				t.Cleanup(func() { nc.Close() })
			}
			rc.err = err
			done <- rc
		}()
	}
	inflight := make(chan error, 1)
	go func() {
		code, err := get(r.base+"/api/api/slow?tell=1&ms="+strconv.Itoa(int(shutdownDelay.Milliseconds()+500)), "inflight")
		if err == nil && code != 200 {
			err = fmt.Errorf("status %d", code)
		}
		inflight <- err
	}()
	gatewaytest.Receive(t, arrived, 5*time.Second, "the in-flight request to reach the upstream")

	signalled := time.Now()
	r.signal(t, syscall.SIGTERM)
	gatewaytest.Eventually(t, 3*time.Second, func() bool {
		code, err := status(r.base + "/readyz")
		return err == nil && code == http.StatusServiceUnavailable
	}, "/readyz of the draining replica to answer 503")
	code, err := get(r.base+"/api/api/who", "during-delay")
	if time.Since(signalled) < shutdownDelay && (err != nil || code != 200) {
		t.Errorf("a new request during SHUTDOWN_DELAY_MS: %d %v, want 200", code, err)
	}
	if err := gatewaytest.Receive(t, inflight, shutdownDelay+shutdownBudget, "the in-flight request"); err != nil {
		t.Errorf("the request in flight at SIGTERM: %v, want 200", err)
	}
	if exit := r.waitExit(t, shutdownDelay+shutdownBudget+5*time.Second); exit != 0 {
		t.Errorf("drained replica exited %d, want 0\n%s", exit, r.logs)
	}
	if took := time.Since(signalled); took > shutdownDelay+shutdownBudget+time.Second {
		t.Errorf("drained replica took %v to exit, over SHUTDOWN_DELAY_MS + SHUTDOWN_TIMEOUT_MS", took)
	}

	var at []time.Time
	for i := range n {
		rc := gatewaytest.Receive(t, done, 5*time.Second, "a drained WebSocket client")
		if rc.code != websocket.CloseGoingAway {
			t.Errorf("bridge %d: client got close %d, want 1001", i, rc.code)
		}
		if rc.at.Sub(signalled) < shutdownDelay {
			t.Errorf("bridge %d closed %v after SIGTERM, inside SHUTDOWN_DELAY_MS", i, rc.at.Sub(signalled))
		}
		if rc.err != nil {
			t.Errorf("bridge %d: reconnecting to %s at once: %v", i, other.name, rc.err)
		}
		u := gatewaytest.Receive(t, ws.closes, 5*time.Second, "the upstream's close frame")
		if u.code != websocket.CloseGoingAway {
			t.Errorf("bridge %d: upstream got close %d, want 1001", i, u.code)
		}
		at = append(at, rc.at)
	}
	lo, hi := at[0], at[0]
	for _, x := range at {
		if x.Before(lo) {
			lo = x
		}
		if x.After(hi) {
			hi = x
		}
	}
	if hi.Sub(lo) < streamDrain/2 {
		t.Errorf("the %d bridges closed within %v of each other, want spread over at least half of STREAM_DRAIN_MS (%v)", n, hi.Sub(lo), streamDrain)
	}
	if code, err := status(other.base + "/readyz"); err != nil || code != 200 {
		t.Errorf("%s /readyz after %s drained: %d %v", other.name, r.name, code, err)
	}
}
