package streams

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"gateway/bench/internal/proc"
)

// service is the service name the upstream is configured under.
const service = "bench"

// target is the proxy under test, running as its own process group.
type target struct {
	name string
	addr string // host:port it listens on
	dir  string // scratch directory: binary, config, logs
	cmd  *exec.Cmd
	log  string        // path of its stderr
	pids func() []int  // the processes whose memory and CPU count
	done chan struct{} // closed when cmd has exited
}

// startTarget starts the proxy named by c.target in front of upURL and waits
// until it answers.
func startTarget(ctx context.Context, c Config, route, upURL string) (*target, error) {
	dir, err := os.MkdirTemp("", "streams-bench-")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	t := &target{name: c.target, addr: "127.0.0.1:" + strconv.Itoa(port), dir: dir, log: filepath.Join(dir, "stderr.log")}
	switch c.target {
	case "gateway":
		err = t.startGateway(ctx, c, port, upURL)
	case "nginx":
		err = t.startNginx(ctx, port, route, upURL)
	default:
		err = fmt.Errorf("unknown target %q (gateway or nginx)", c.target)
	}
	if err != nil {
		t.stop()
		return nil, err
	}
	if err := t.waitReady(ctx, route); err != nil {
		t.stop()
		return nil, err
	}
	return t, nil
}

// startGateway runs the gateway binary c.binary (Run builds one when
// none is given), with its working directory in the scratch directory so
// no .env is read.
func (t *target) startGateway(_ context.Context, c Config, port int, upURL string) error {
	bin := c.binary
	ups, _ := json.Marshal(map[string][]string{service: {upURL}})
	env := append(os.Environ(),
		"PORT="+strconv.Itoa(port), "HOST=127.0.0.1", "APP_ENV=development",
		"UPSTREAMS="+string(ups), "LOG_LEVEL=warn",
		"SSE_HEARTBEAT_MS="+strconv.FormatInt(c.heartbeat.Milliseconds(), 10))
	env = append(env, c.env...)
	if err := t.run(exec.Command(bin), env); err != nil {
		return err
	}
	t.pids = func() []int { return []int{t.cmd.Process.Pid} }
	return nil
}

// run starts cmd with env in the scratch directory, stderr to the log.
func (t *target) run(cmd *exec.Cmd, env []string) error {
	logf, err := os.Create(t.log)
	if err != nil {
		return err
	}
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = t.dir, env, logf, logf
	// stop reaches every process it starts; the kernel kills it should the
	// harness die without stopping it
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("starting %s: %w", t.name, err)
	}
	t.cmd, t.done = cmd, make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(t.done)
	}()
	return nil
}

// waitReady polls the proxy until it answers an HTTP request.
func (t *target) waitReady(ctx context.Context, route string) error {
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-t.done:
			return fmt.Errorf("%s exited at start:\n%s", t.name, t.logTail())
		default:
		}
		if resp, err := client.Head("http://" + t.addr + route + service + "/ready"); err == nil {
			resp.Body.Close()
			return nil
		}
		if err := sleepCtx(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
	return fmt.Errorf("%s not answering on %s:\n%s", t.name, t.addr, t.logTail())
}

// sample reads the target's memory and CPU.
func (t *target) sample() (proc.Sample, error) { return proc.Read(t.pids()) }

// stop ends the target's process group (SIGTERM, then SIGKILL after 10 s)
// and removes the scratch directory.
func (t *target) stop() {
	if t.cmd != nil && t.cmd.Process != nil {
		pgid := t.cmd.Process.Pid
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
		select {
		case <-t.done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			<-t.done
		}
	}
	_ = os.RemoveAll(t.dir)
}

// logTail returns the end of the target's stderr.
func (t *target) logTail() string {
	b, _ := os.ReadFile(t.log)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return string(b)
}
