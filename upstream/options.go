package upstream

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/valyala/fasthttp"
)

// Defaults applied by New to zero-valued Options fields. They match the
// gateway's documented environment defaults so that a Pool built from a zero
// Options behaves like a gateway with an empty environment.
const (
	DefaultDialTimeout      = 5 * time.Second
	DefaultProxyTimeout     = 30 * time.Second
	DefaultMaxConns         = 1024
	DefaultFailureThreshold = 5
	DefaultCooldown         = 10 * time.Second
	DefaultMaxCooldown      = 5 * time.Minute
	DefaultTau              = 10 * time.Second
	DefaultPoolWait         = time.Second
)

// Options configures a Pool. A zero field takes the matching Default*
// constant; negative durations or counts are rejected by New.
type Options struct {
	// Services maps a service name to the base URLs of its upstreams:
	// absolute http or https URLs without query, fragment or user info.
	// A trailing slash is trimmed.
	Services map[string][]string

	// DialTimeout bounds establishing one TCP connection to an upstream.
	DialTimeout time.Duration
	// ProxyTimeout is the HostClient ReadTimeout and WriteTimeout for
	// ordinary requests. The read deadline slides with the data (idleConn),
	// so it bounds the silence before and within a response, not the length
	// of a streamed body.
	ProxyTimeout time.Duration
	// MaxConns caps the keep-alive connections of each upstream's Client.
	MaxConns int
	// PoolWait is how long a request waits for one of MaxConns to free up
	// before failing with ErrPoolFull.
	PoolWait time.Duration

	// FailureThreshold is the number of consecutive failures that opens an
	// upstream's circuit breaker.
	FailureThreshold int
	// FailureStatus reports which upstream statuses count as failures;
	// nil means 500-599.
	FailureStatus func(status int) bool
	// Cooldown is how long a breaker stays open after its first trip; it
	// doubles on each failed half-open probe, up to MaxCooldown.
	Cooldown, MaxCooldown time.Duration

	// Tau is the peak-EWMA decay time constant: a latency sample loses
	// 1-1/e of its weight after Tau.
	Tau time.Duration

	// FailurePenalty is the latency a failed attempt (a transport error, a
	// FailureStatus, or 429) counts as in the peak EWMA, so that fast
	// failures do not make an upstream look fast; 0 means ProxyTimeout, the
	// longest a healthy upstream could take before its answer counts as a
	// timeout anyway.
	FailurePenalty time.Duration

	// Clock is read for latency, EWMA decay and breaker cooldowns;
	// nil means the real clock. Tests inject a fake to move time.
	Clock Clock
	// Rand drives power-of-two-choices and tie-breaks; nil means
	// math/rand/v2's goroutine-safe global source.
	Rand Rand
	// Selector picks an upstream within a service; nil means
	// &PeakEWMA{Rand: Rand}.
	Selector Selector

	// DecisionLogSize is how many routing decisions the pool keeps for
	// Pool.Decision (Service.Route records them); 0 turns the log off.
	// Each entry takes about 1 KiB, allocated once by New.
	DecisionLogSize int

	// HealthCheck configures active health checks; the zero value turns
	// them off. With them on, New and Replace start one prober goroutine
	// per upstream, which removal by Replace and Close stop.
	HealthCheck HealthCheck

	// OnStateChange, when set, is called on every breaker transition, for
	// logs. It is called outside the breaker's lock and must not block.
	OnStateChange func(u *Upstream, from, to State, reason string)
	// OnHealthChange, when set, is called when an active health check
	// takes an upstream out of rotation or brings it back, for logs. It is
	// called from the upstream's prober goroutine and must not block.
	OnHealthChange func(u *Upstream, healthy bool, reason string)
}

// Clock tells the time. Only differences between readings are used, so a
// fake clock only has to move forward.
type Clock interface{ Now() time.Time }

// AfterClock is a Clock that can also wait: After returns a channel that
// receives once d has passed on that clock, like time.After. The health
// checker schedules its probes with it when Options.Clock implements it,
// so tests drive probes by moving a fake clock; otherwise it waits on the
// real clock.
type AfterClock interface {
	Clock
	After(d time.Duration) <-chan time.Time
}

// Rand returns a uniformly random int in [0, n). Implementations must be
// safe for concurrent use.
type Rand interface{ IntN(n int) int }

// realClock is the Clock used when Options.Clock is nil.
type realClock struct{}

// Now returns time.Now, with its monotonic reading.
func (realClock) Now() time.Time { return time.Now() }

// globalRand is the Rand used when Options.Rand is nil: math/rand/v2's
// top-level functions are goroutine-safe and take no lock.
type globalRand struct{}

// IntN returns rand.IntN(n).
func (globalRand) IntN(n int) int { return rand.IntN(n) }

// defaultFailureStatus counts 5xx responses as failures.
func defaultFailureStatus(status int) bool { return status >= 500 && status <= 599 }

// shared holds what every upstream of one pool reads: the options after
// defaults and the clock's epoch. It is immutable after New.
type shared struct {
	clock          Clock
	epoch          time.Time
	tau            float64 // nanoseconds
	penalty        float64 // failure penalty in nanoseconds
	streamFloor    float64 // latency below which streams are balanced by count alone, ns
	threshold      int64
	cooldown       int64 // nanoseconds
	maxCooldown    int64 // nanoseconds
	failureStatus  func(int) bool
	onStateChange  func(u *Upstream, from, to State, reason string)
	dial           fasthttp.DialFunc
	proxyTimeout   time.Duration
	maxConns       int
	poolWait       time.Duration
	decisions      *decisionLog // nil when off
	rand           Rand
	after          func(time.Duration) <-chan time.Time // waits on clock
	hc             healthConfig
	onHealthChange func(u *Upstream, healthy bool, reason string)
}

// now returns the clock's reading as nanoseconds since the pool's epoch.
// With the real clock this uses the monotonic reading, so wall-clock jumps
// do not disturb latencies or cooldowns.
func (sh *shared) now() int64 { return int64(sh.clock.Now().Sub(sh.epoch)) }

// wall converts a reading of now back to a time.Time for snapshots.
func (sh *shared) wall(at int64) time.Time { return sh.epoch.Add(time.Duration(at)) }

// newShared validates opts and fills in defaults.
func newShared(opts Options) (*shared, error) {
	if err := validateOptions(opts); err != nil {
		return nil, err
	}
	sh := &shared{
		clock:          opts.Clock,
		tau:            float64(orDuration(opts.Tau, DefaultTau)),
		threshold:      int64(orInt(opts.FailureThreshold, DefaultFailureThreshold)),
		cooldown:       int64(orDuration(opts.Cooldown, DefaultCooldown)),
		maxCooldown:    int64(orDuration(opts.MaxCooldown, DefaultMaxCooldown)),
		failureStatus:  opts.FailureStatus,
		onStateChange:  opts.OnStateChange,
		proxyTimeout:   orDuration(opts.ProxyTimeout, DefaultProxyTimeout),
		maxConns:       orInt(opts.MaxConns, DefaultMaxConns),
		poolWait:       orDuration(opts.PoolWait, DefaultPoolWait),
		decisions:      newDecisionLog(opts.DecisionLogSize),
		rand:           opts.Rand,
		after:          time.After,
		hc:             newHealthConfig(opts.HealthCheck),
		onHealthChange: opts.OnHealthChange,
	}
	if sh.rand == nil {
		sh.rand = globalRand{}
	}
	if ac, ok := opts.Clock.(AfterClock); ok {
		sh.after = ac.After
	}
	sh.penalty = float64(orDuration(opts.FailurePenalty, sh.proxyTimeout))
	sh.streamFloor = sh.penalty / streamFloorDivisor
	if sh.clock == nil {
		sh.clock = realClock{}
	}
	if sh.failureStatus == nil {
		sh.failureStatus = defaultFailureStatus
	}
	// A max below the base would make the first trip longer than later ones.
	sh.maxCooldown = max(sh.maxCooldown, sh.cooldown)
	// net.Dialer rather than fasthttp.TCPDialer: the latter starts a DNS-cache
	// cleaner goroutine that nothing can stop, and dials IPv4 only.
	dialer := &net.Dialer{Timeout: orDuration(opts.DialTimeout, DefaultDialTimeout)}
	sh.dial = func(addr string) (net.Conn, error) { return dialer.Dial("tcp", addr) }
	sh.epoch = sh.clock.Now()
	return sh, nil
}

// validateOptions returns one error naming every negative field.
func validateOptions(opts Options) error {
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"DialTimeout", opts.DialTimeout}, {"ProxyTimeout", opts.ProxyTimeout},
		{"Cooldown", opts.Cooldown}, {"MaxCooldown", opts.MaxCooldown}, {"Tau", opts.Tau},
		{"FailurePenalty", opts.FailurePenalty}, {"PoolWait", opts.PoolWait},
		{"HealthCheck.Interval", opts.HealthCheck.Interval}, {"HealthCheck.Timeout", opts.HealthCheck.Timeout},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("upstream: %s must not be negative, got %s", d.name, d.v))
		}
	}
	if opts.MaxConns < 0 {
		errs = append(errs, fmt.Errorf("upstream: MaxConns must not be negative, got %d", opts.MaxConns))
	}
	if opts.DecisionLogSize < 0 {
		errs = append(errs, fmt.Errorf("upstream: DecisionLogSize must not be negative, got %d", opts.DecisionLogSize))
	}
	if hc := opts.HealthCheck; hc.UnhealthyThreshold < 0 || hc.HealthyThreshold < 0 {
		errs = append(errs, fmt.Errorf("upstream: HealthCheck thresholds must not be negative, got %d and %d",
			hc.UnhealthyThreshold, hc.HealthyThreshold))
	}
	if p := opts.HealthCheck.Path; p != "" && p[0] != '/' {
		errs = append(errs, fmt.Errorf("upstream: HealthCheck.Path must start with /, got %q", p))
	}
	if opts.FailureThreshold < 0 {
		errs = append(errs, fmt.Errorf("upstream: FailureThreshold must not be negative, got %d", opts.FailureThreshold))
	}
	return errors.Join(errs...)
}

func orDuration(v, def time.Duration) time.Duration {
	if v == 0 {
		return def
	}
	return v
}

func orInt(v, def int) int {
	if v == 0 {
		return def
	}
	return v
}
