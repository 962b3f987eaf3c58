// Package launch starts the processes of a benchmark run (the proxies, the
// upstreams, wrk) so that every one of them ends with the run: each in its
// own process group, killed with the harness if it dies (PR_SET_PDEATHSIG),
// and all of them stopped by one Group.Stop that the command defers and
// runs on SIGINT or SIGTERM too.
package launch

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Spec says how to start one process.
type Spec struct {
	Name string   // in messages
	Path string   // the program
	Args []string // its arguments, without the program
	Env  []string // its whole environment; nil: the harness's
	Dir  string   // working directory; "": the harness's
	Log  string   // file that gets its stdout and stderr; "": discarded
	// CPU pins the process (and every thread and child it starts) to one
	// CPU with taskset(1); negative: not pinned.
	CPU int
}

// Group is the set of processes a run started. The zero value is ready;
// it is safe for concurrent use.
type Group struct {
	mu    sync.Mutex
	procs []*Proc
}

// Proc is one started process.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	log  string
	done chan struct{} // closed once the process has been waited for
	err  error         // Wait's result, set before done closes
}

// Start starts s in a process group of its own and returns once it runs.
func (g *Group) Start(s Spec) (*Proc, error) {
	path, args := s.Path, s.Args
	if s.CPU >= 0 {
		ts, err := exec.LookPath("taskset")
		if err != nil {
			return nil, fmt.Errorf("pinning %s: taskset (util-linux) not found: %w", s.Name, err)
		}
		path, args = ts, append([]string{"-c", strconv.Itoa(s.CPU), s.Path}, args...)
	}
	cmd := exec.Command(path, args...)
	cmd.Env, cmd.Dir = s.Env, s.Dir
	cmd.SysProcAttr = groupAttr()
	var logf *os.File
	if s.Log != "" {
		f, err := os.OpenFile(s.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		logf, cmd.Stdout, cmd.Stderr = f, f, f
	}
	if err := cmd.Start(); err != nil {
		if logf != nil {
			logf.Close()
		}
		return nil, fmt.Errorf("starting %s: %w", s.Name, err)
	}
	p := &Proc{Name: s.Name, cmd: cmd, log: s.Log, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		if logf != nil {
			logf.Close()
		}
		close(p.done)
	}()
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	return p, nil
}

// groupAttr puts a child in its own process group, so that a stop reaches
// every process it starts (nginx's workers, go build's compilers), and has
// the kernel kill it should the harness die without cleaning up.
func groupAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// Stop stops every process of the group still running, the last started
// first, each within grace.
func (g *Group) Stop(grace time.Duration) {
	g.mu.Lock()
	procs := g.procs
	g.procs = nil
	g.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop(grace)
	}
}

// Pid is the process's id; for a pinned process, that of the program
// itself (taskset execs it).
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Done is closed once the process has exited.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Err is the process's exit status once Done is closed.
func (p *Proc) Err() error {
	<-p.done
	return p.err
}

// Stop sends SIGTERM to the process group, then SIGKILL once grace has
// passed, and waits for the process to exit. It is idempotent.
func (p *Proc) Stop(grace time.Duration) {
	pg := -p.cmd.Process.Pid
	select {
	case <-p.done:
		_ = syscall.Kill(pg, syscall.SIGKILL) // stragglers of the group, if any
		return
	default:
	}
	_ = syscall.Kill(pg, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.done:
	case <-t.C:
	}
	_ = syscall.Kill(pg, syscall.SIGKILL)
	<-p.done
}

// LogTail returns the last n bytes of the process's log.
func (p *Proc) LogTail(n int) string {
	if p.log == "" {
		return ""
	}
	b, _ := os.ReadFile(p.log)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// Run runs a short-lived command (a build, an install) to its end, in its
// own process group, killed as a group when ctx ends.
func Run(ctx context.Context, cmd *exec.Cmd) error {
	cmd.SysProcAttr = groupAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		return err
	}
	err := cmd.Wait()
	if ctx.Err() != nil {
		return errors.Join(err, ctx.Err())
	}
	return err
}
