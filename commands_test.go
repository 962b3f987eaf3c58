package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gateway/internal/gatewaytest"
	"gateway/internal/logbuf"
)

// dockerBuildLine is the builder stage's go build command, read from the
// Dockerfile so that the tests build exactly what the image builds.
func dockerBuildLine(t *testing.T) string {
	t.Helper()
	f, err := os.Open("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if cmd, ok := strings.CutPrefix(sc.Text(), "RUN CGO_ENABLED=0 go build "); ok {
			return "CGO_ENABLED=0 go build " + cmd
		}
	}
	t.Fatal("no `RUN CGO_ENABLED=0 go build` line in the Dockerfile")
	return ""
}

// buildAsDockerfile runs the Dockerfile's build command through sh, with
// the VERSION build argument set, into a temporary directory.
func buildAsDockerfile(t *testing.T, version string) string {
	t.Helper()
	return buildAsDockerfileIn(t, ".", version)
}

// buildAsDockerfileIn is buildAsDockerfile in the source tree dir.
func buildAsDockerfileIn(t *testing.T, dir, version string) string {
	t.Helper()
	line := dockerBuildLine(t)
	if !strings.Contains(line, "-o /out/gateway .") {
		t.Fatalf("the Dockerfile's build line no longer writes /out/gateway: %s", line)
	}
	bin := filepath.Join(t.TempDir(), "gateway")
	cmd := exec.Command("sh", "-c", strings.Replace(line, "/out/gateway", bin, 1))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VERSION="+version)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", line, err, out)
	}
	return bin
}

// cleanEnv is an environment with none of the gateway's variables, so
// that only what a test sets (and its .env) configures the binary.
func cleanEnv(vars ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}, vars...)
}

// runIn runs bin with args in dir and returns its exit code and output.
func runIn(t *testing.T, bin, dir string, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = dir, env, &out, &errb
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("gateway %v did not exit (it serves?)\n%s", args, errb.String())
	}
	return cmd.ProcessState.ExitCode(), out.String(), errb.String()
}

// TestCheckCommand runs `gateway check` on good and bad configurations: it
// exits 0 with a summary, or 2 with the same message a failed start prints,
// and it never listens (it succeeds with its PORT already taken, where
// serving would fail).
func TestCheckCommand(t *testing.T) {
	bin := buildGateway(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := strconv.Itoa(taken.Addr().(*net.TCPAddr).Port)

	tests := []struct {
		name     string
		dotenv   string // "" = no .env
		env      []string
		code     int
		stdout   string   // for code 0
		badVars  []string // for code 2: each named in the message
		goodVars []string // for code 2: none of these named
	}{
		{
			name:   "valid .env, port in use",
			dotenv: "UPSTREAMS='{\"users\":[\"http://127.0.0.1:9001\",\"http://127.0.0.1:9002\"],\"orders\":[\"http://127.0.0.1:9003\"]}'\n",
			env:    []string{"HOST=127.0.0.1", "PORT=" + takenPort},
			code:   0,
			stdout: "gateway: configuration OK: 2 services, 3 upstreams, listen 127.0.0.1:" + takenPort + "\n",
		},
		{
			name:   "environment only",
			env:    []string{`UPSTREAMS={"a":["https://a.internal"]}`},
			code:   0,
			stdout: "gateway: configuration OK: 1 services, 1 upstreams, listen 0.0.0.0:8080\n",
		},
		{
			name:    "every bad variable named",
			dotenv:  "PORT=eighty\nCB_COOLDOWN_MS=-5\n",
			env:     []string{"LOG_LEVEL=loud"},
			code:    2,
			badVars: []string{"UPSTREAMS", "PORT", "CB_COOLDOWN_MS", "LOG_LEVEL"},
		},
		{
			name:     "environment wins over .env",
			dotenv:   "UPSTREAMS='{\"a\":[\"http://127.0.0.1:1\"]}'\nLOG_LEVEL=info\n",
			env:      []string{"LOG_LEVEL=loud"},
			code:     2,
			badVars:  []string{"LOG_LEVEL"},
			goodVars: []string{"UPSTREAMS"},
		},
		{
			name:    "malformed .env",
			dotenv:  "UPSTREAMS\n",
			code:    2,
			badVars: []string{".env"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if tt.dotenv != "" {
				if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(tt.dotenv), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			env := cleanEnv(tt.env...)
			code, stdout, stderr := runIn(t, bin, dir, env, "check")
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tt.code, stdout, stderr)
			}
			if tt.code == 0 {
				if stdout != tt.stdout || stderr != "" {
					t.Fatalf("stdout %q (want %q), stderr %q", stdout, tt.stdout, stderr)
				}
				return
			}
			for _, v := range tt.badVars {
				if !strings.Contains(stderr, v) {
					t.Errorf("message does not name %s:\n%s", v, stderr)
				}
			}
			for _, v := range tt.goodVars {
				if strings.Contains(stderr, v) {
					t.Errorf("message names %s, which is fine:\n%s", v, stderr)
				}
			}
			// The same message as a start with this configuration (which
			// exits before it listens).
			scode, _, sstderr := runIn(t, bin, dir, env)
			if scode != 2 || sstderr != stderr {
				t.Errorf("serving exits %d with\n%s\ncheck printed\n%s", scode, sstderr, stderr)
			}
		})
	}
}

// startBinary starts bin serving in dir with env on a free loopback port and
// waits for /healthz. Its stderr (the JSON log) goes to the returned buffer.
func startBinary(t *testing.T, bin, dir string, env []string) (base string, logs *logbuf.Buffer) {
	t.Helper()
	port := freePort(t)
	logs = &logbuf.Buffer{}
	cmd := exec.Command(bin)
	cmd.Dir = dir
	cmd.Env = append(env, "HOST=127.0.0.1", "PORT="+strconv.Itoa(port))
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("gateway did not stop on SIGINT\n%s", logs)
		}
	})
	base = fmt.Sprintf("http://127.0.0.1:%d", port)
	gatewaytest.Eventually(t, 15*time.Second, func() bool {
		select {
		case <-exited:
			t.Fatalf("gateway exited at start:\n%s", logs)
		default:
		}
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	}, "gateway /healthz")
	return base, logs
}

// TestVersionFromBuild builds the binary with the Dockerfile's own command
// and a VERSION, and finds that version in `gateway version`, /admin/stats
// and the gateway_build_info metric; an unstamped build reports another.
func TestVersionFromBuild(t *testing.T) {
	const version = "v9.8.7-3-gabcdef0-dirty"
	bin := buildAsDockerfile(t, version)
	code, stdout, stderr := runIn(t, bin, t.TempDir(), cleanEnv(), "version")
	if code != 0 || stdout != version+"\n" {
		t.Fatalf("gateway version: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	dir := t.TempDir()
	base, _ := startBinary(t, bin, dir, cleanEnv(`UPSTREAMS={"a":["http://127.0.0.1:1"]}`, "LOG_LEVEL=warn"))
	resp, err := http.Get(base + "/admin/stats")
	if err != nil {
		t.Fatal(err)
	}
	var stats struct {
		Version string `json:"version"`
	}
	err = json.NewDecoder(resp.Body).Decode(&stats)
	resp.Body.Close()
	if err != nil || stats.Version != version {
		t.Errorf("/admin/stats version %q (%v), want %q", stats.Version, err, version)
	}
	fams := gatewaytest.Scrape(t, base)
	bi := fams["gateway_build_info"]
	if bi == nil || len(bi.Metric) != 1 {
		t.Fatalf("gateway_build_info: %v", bi)
	}
	got := ""
	for _, l := range bi.Metric[0].Label {
		if l.GetName() == "version" {
			got = l.GetValue()
		}
	}
	if got != version {
		t.Errorf("gateway_build_info{version=%q}, want %q", got, version)
	}

	plain := buildGateway(t)
	if _, out, _ := runIn(t, plain, t.TempDir(), cleanEnv(), "version"); strings.TrimSpace(out) == "" || out == stdout {
		t.Errorf("a build without -X reports %q", out)
	}
}

// whoUpstream answers every request with its name.
func whoUpstream(t *testing.T, name string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, name)
	})}
	go srv.Serve(ln) //nolint:errcheck
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// servedBy returns the body of GET base/api/svc/who, or "" on any error.
func servedBy(base string) string {
	resp, err := http.Get(base + "/api/svc/who")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return ""
	}
	return string(b)
}

// TestConfigWatchReloadsWithoutSIGHUP runs the real binary with
// CONFIG_WATCH=true: replacing .env's UPSTREAMS moves traffic to the new
// upstream with no signal sent; an invalid .env is refused with a log line
// and the running configuration keeps serving.
func TestConfigWatchReloadsWithoutSIGHUP(t *testing.T) {
	a, b := whoUpstream(t, "A"), whoUpstream(t, "B")
	bin := buildGateway(t)
	dir := t.TempDir()
	envPath := filepath.Join(dir, ".env")
	write := func(content string) { // by rename, as an atomic writer does
		t.Helper()
		tmp := envPath + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, envPath); err != nil {
			t.Fatal(err)
		}
	}
	write("CONFIG_WATCH=true\nUPSTREAMS='{\"svc\":[\"" + a + "\"]}'\n")
	base, logs := startBinary(t, bin, dir, cleanEnv("LOG_LEVEL=info"))
	if got := servedBy(base); got != "A" {
		t.Fatalf("before the edit: served by %q, want A", got)
	}
	gatewaytest.Eventually(t, 5*time.Second, func() bool {
		return strings.Contains(logs.String(), "watching for configuration changes")
	}, "the watch to start")

	write("CONFIG_WATCH=true\nUPSTREAMS='{\"svc\":[\"" + b + "\"]}'\n")
	gatewaytest.Eventually(t, 10*time.Second, func() bool { return servedBy(base) == "B" },
		"traffic to move to the new upstream B")

	// Invalid: the file in place, truncated and rewritten.
	if err := os.WriteFile(envPath, []byte("CONFIG_WATCH=true\nUPSTREAMS='{\"svc\":[\"ftp://nope\"]}'\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gatewaytest.Eventually(t, 10*time.Second, func() bool {
		for _, l := range logs.Lines() {
			if l["msg"] == "reload refused: invalid configuration" && strings.Contains(fmt.Sprint(l["error"]), "UPSTREAMS") {
				return true
			}
		}
		return false
	}, "the invalid file to be refused in the log")
	for range 20 {
		if got := servedBy(base); got != "B" {
			t.Fatalf("after the invalid edit: served by %q, want B still", got)
		}
	}
}
