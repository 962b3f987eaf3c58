package launch

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Stop ends the whole process group, the children a process started
// included, even one that ignores SIGTERM.
func TestStopEndsTheGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child")
	var g Group
	p, err := g.Start(Spec{Name: "sh", Path: "/bin/sh", CPU: -1, Log: filepath.Join(dir, "log"),
		Args: []string{"-c", `trap "" TERM; sleep 300 & echo $! > ` + pidFile + `; wait`}})
	if err != nil {
		t.Fatal(err)
	}
	var child int
	for deadline := time.Now().Add(5 * time.Second); child == 0; {
		if b, err := os.ReadFile(pidFile); err == nil && strings.HasSuffix(string(b), "\n") {
			child, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never started")
		}
		time.Sleep(10 * time.Millisecond) // polling for the file
	}
	g.Stop(200 * time.Millisecond)
	select {
	case <-p.Done():
	default:
		t.Fatal("Stop returned before the process exited")
	}
	// The grandchild is reaped by init once killed; wait for it to go.
	for deadline := time.Now().Add(5 * time.Second); syscall.Kill(child, 0) == nil; {
		if time.Now().After(deadline) {
			t.Fatalf("child %d survived Stop", child)
		}
		time.Sleep(10 * time.Millisecond)
	}
	g.Stop(time.Second) // idempotent
}

// A pinned process runs on the CPU asked for.
func TestStartPinned(t *testing.T) {
	cpus, err := CPUs()
	if err != nil || len(cpus) == 0 {
		t.Fatalf("CPUs: %v %v", cpus, err)
	}
	cpu := cpus[len(cpus)-1]
	dir := t.TempDir()
	var g Group
	defer g.Stop(time.Second)
	log := filepath.Join(dir, "log")
	p, err := g.Start(Spec{Name: "grep", Path: "/bin/grep", Args: []string{"Cpus_allowed_list", "/proc/self/status"}, CPU: cpu, Log: log})
	if err != nil {
		t.Skipf("no taskset: %v", err)
	}
	if err := p.Err(); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(log)
	if got := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(b)), "Cpus_allowed_list:")); got != strconv.Itoa(cpu) {
		t.Errorf("pinned process allowed on %q, want %d", got, cpu)
	}
}
