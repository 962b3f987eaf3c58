package httpsuite

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"time"

	"gateway/bench/internal/loadgen"
	"gateway/bench/internal/proc"
	"gateway/bench/internal/target"
)

// Round is one target's measurement in one round.
type Round struct {
	Scenario string         `json:"scenario"`
	Load     string         `json:"load"`
	Target   string         `json:"target"`
	Round    int            `json:"round"`
	Result   loadgen.Result `json:"result"`
	RPS      float64        `json:"rps"`
	// CPU of the target's process tree over the window, per answered
	// request, in µs, and its user and system parts.
	CPUPerReq  float64 `json:"cpuUsPerReq"`
	UserPerReq float64 `json:"userUsPerReq"`
	SysPerReq  float64 `json:"sysUsPerReq"`
	// CPUCores is the tree's CPU over the window ÷ its length: 1.0 is one
	// core kept busy.
	CPUCores float64 `json:"cpuCores"`
	// PeakRSSKiB is the largest VmRSS of the tree sampled every 100 ms in
	// the window; HWMKiB the tree's VmHWM summed at its end (its peak over
	// the whole run so far).
	PeakRSSKiB int64 `json:"peakRssKiB"`
	HWMKiB     int64 `json:"hwmKiB"`
	// UpstreamPerReq is the upstream process's CPU per request, µs: it
	// shares the load CPU with the generator.
	UpstreamPerReq float64 `json:"upstreamUsPerReq"`
}

// rssEvery is the memory sampling interval.
const rssEvery = 100 * time.Millisecond

// measure runs one round of sc under load at t.
func (b *bench) measure(ctx context.Context, t *target.Target, sc Scenario, load string, round int) (Round, error) {
	pids, upPids := proc.Tree(t.Proc.Pid()), proc.Tree(b.up.Pid())
	req := loadgen.Request{Method: sc.Method, URL: t.URL(sc.Path), Body: bytes.Repeat([]byte("x"), sc.Body)}
	var s0, s1, u0, u1 proc.Sample
	var markErr error
	sampler := newPeakSampler(pids)
	mark := func(start bool) {
		s, err1 := proc.Read(pids)
		u, err2 := proc.Read(upPids)
		if err := firstErr(err1, err2); err != nil && markErr == nil {
			markErr = err
		}
		if start {
			s0, u0 = s, u
			sampler.start()
			return
		}
		sampler.stop()
		s1, u1 = s, u
	}
	var res loadgen.Result
	var err error
	switch {
	case load == "open":
		res, err = loadgen.Open(ctx, req, b.cfg.Rates[sc.Name], b.cfg.Conns, b.cfg.Warmup, b.cfg.Duration, mark)
	case b.wrk != "":
		w := loadgen.Wrk{Path: b.wrk, Dir: b.dir, CPU: b.loadCPU, Group: b.group}
		res, err = w.Closed(ctx, req, b.cfg.Conns, b.cfg.Warmup, b.cfg.Duration, mark)
	default:
		res, err = loadgen.Closed(ctx, req, b.cfg.Conns, b.cfg.Warmup, b.cfg.Duration, mark)
	}
	sampler.stop()
	if err = firstErr(err, markErr); err != nil {
		return Round{}, fmt.Errorf("%s %s %s round %d: %w", t.Name, sc.Name, load, round, err)
	}
	return summarize(Round{Scenario: sc.Name, Load: load, Target: t.Name, Round: round, Result: res},
		s1.Sub(s0), u1.Sub(u0), sampler.peak(), s1.HWMKiB), nil
}

// summarize fills r's derived figures from the target's and the
// upstream's CPU over the window.
func summarize(r Round, cpu, up proc.Sample, peakKiB, hwmKiB int64) Round {
	r.RPS = r.Result.RPS()
	if n := float64(r.Result.Requests); n > 0 {
		us := func(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) / n }
		r.CPUPerReq, r.UserPerReq, r.SysPerReq = us(cpu.CPU()), us(cpu.User), us(cpu.System)
		r.UpstreamPerReq = us(up.CPU())
	}
	if r.Result.Elapsed > 0 {
		r.CPUCores = cpu.CPU().Seconds() / r.Result.Elapsed.Seconds()
	}
	r.PeakRSSKiB, r.HWMKiB = peakKiB, hwmKiB
	return r
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

// peakSampler samples a process tree's resident memory every rssEvery
// while started, keeping the peak.
type peakSampler struct {
	pids []int
	mu   sync.Mutex
	max  int64
	done chan struct{}
	wg   sync.WaitGroup
}

func newPeakSampler(pids []int) *peakSampler { return &peakSampler{pids: pids} }

func (p *peakSampler) start() {
	done := make(chan struct{})
	p.done = done
	p.wg.Go(func() {
		t := time.NewTicker(rssEvery)
		defer t.Stop()
		for {
			p.sample()
			select {
			case <-done:
				return
			case <-t.C:
			}
		}
	})
}

func (p *peakSampler) sample() {
	if s, err := proc.Read(p.pids); err == nil {
		p.mu.Lock()
		p.max = max(p.max, s.RSSKiB)
		p.mu.Unlock()
	}
}

// stop ends the sampling, with one last sample; it is idempotent.
func (p *peakSampler) stop() {
	if p.done == nil {
		return
	}
	close(p.done)
	p.done = nil
	p.wg.Wait()
	p.sample()
}

func (p *peakSampler) peak() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.max
}
