package upstream

import (
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
)

// State is a circuit breaker's state. The numeric values are the values of
// the Prometheus breaker-state gauge, so they must not change.
type State int

// The three breaker states, as in sony/gobreaker.
const (
	StateClosed   State = 0 // requests flow; consecutive failures are counted
	StateHalfOpen State = 1 // one probe request is let through
	StateOpen     State = 2 // requests are refused until the cooldown ends
)

// String returns "closed", "half-open" or "open".
func (s State) String() string {
	switch s {
	case StateClosed:
		return "closed"
	case StateHalfOpen:
		return "half-open"
	case StateOpen:
		return "open"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// MarshalText makes State appear by name in JSON snapshots.
func (s State) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText reads a State by the name MarshalText gives it, so that
// snapshots and decisions decode back.
func (s *State) UnmarshalText(b []byte) error {
	for _, st := range []State{StateClosed, StateHalfOpen, StateOpen} {
		if string(b) == st.String() {
			*s = st
			return nil
		}
	}
	return fmt.Errorf("upstream: unknown breaker state %q", b)
}

// verdict is what a finished request means to the breaker.
type verdict uint8

const (
	verdictIgnore  verdict = iota // client went away: neither success nor failure
	verdictSuccess                // a response that FailureStatus accepts
	verdictFailure                // a transport error or a failure status
)

// The breaker's state word packs the state (bits 0-1), whether the half-open
// probe is out (bit 2), and a generation (bits 3-63) that every transition
// bumps. A lease keeps the word it was admitted under as its ticket: results
// whose ticket is stale (the breaker moved on) are ignored, as gobreaker does
// with its generations, and the probe is recognised by its exact ticket.
const (
	stateMask = 0b11
	probeBit  = 0b100
	genStep   = 0b1000
)

func stateOf(w uint64) State { return State(w & stateMask) }

// advance returns the next generation's word with the given state.
func advance(w uint64, s State, probeOut bool) uint64 {
	next := (w&^(stateMask|probeBit) + genStep) | uint64(s)
	if probeOut {
		next |= probeBit
	}
	return next
}

// breaker is one upstream's circuit breaker: closed → open after threshold
// consecutive failures → (cooldown) half-open, which admits exactly one probe
// → closed on probe success (cooldown back to base), or open again with the
// cooldown doubled, up to the maximum, on probe failure.
//
// It is written here rather than taken from sony/gobreaker because
// gobreaker's open Timeout is fixed (we double it on each consecutive trip),
// its TwoStepCircuitBreaker.Allow takes a mutex on every call and returns a
// heap-allocated closure (our hot path must not lock or allocate), and its
// clock cannot be injected (our tests move a fake clock instead of sleeping).
//
// In the closed state allow is one atomic load and a successful record two
// atomic loads; the mutex is taken only for transitions and for admission
// while not closed.
type breaker struct {
	sh     *shared
	notify func(from, to State, reason string) // called outside mu

	word      atomic.Uint64 // state, probe bit, generation
	fails     atomic.Int64  // consecutive failures while closed
	openUntil atomic.Int64  // clock reading when an open breaker may probe
	trips     atomic.Int64  // transitions to open
	lastTrip  atomic.Pointer[tripRecord]

	mu       sync.Mutex // serializes transitions
	cooldown int64      // current cooldown in ns; guarded by mu
}

// tripRecord is an immutable record of the latest trip.
type tripRecord struct {
	reason string
	at     int64 // clock reading
}

func (b *breaker) init(sh *shared, notify func(from, to State, reason string)) {
	b.sh = sh
	b.notify = notify
	b.cooldown = sh.cooldown
}

// state returns the current state.
func (b *breaker) state() State { return stateOf(b.word.Load()) }

// available reports, without side effects, whether allow would admit a
// request now. Selection uses it to skip upstreams.
func (b *breaker) available(now int64) bool {
	w := b.word.Load()
	switch stateOf(w) {
	case StateClosed:
		return true
	case StateHalfOpen:
		return w&probeBit == 0
	default:
		return now >= b.openUntil.Load()
	}
}

// allow admits a request or refuses it. The ticket must be handed back to
// record exactly once.
func (b *breaker) allow(now int64) (ticket uint64, ok bool) {
	if w := b.word.Load(); stateOf(w) == StateClosed {
		return w, true
	}
	return b.allowSlow(now)
}

// allowSlow admits the single half-open probe, opening the half-open state
// first when the cooldown has elapsed.
func (b *breaker) allowSlow(now int64) (uint64, bool) {
	b.mu.Lock()
	w := b.word.Load()
	switch {
	case stateOf(w) == StateClosed:
		b.mu.Unlock()
		return w, true
	case stateOf(w) == StateHalfOpen && w&probeBit == 0:
		next := advance(w, StateHalfOpen, true)
		b.word.Store(next)
		b.mu.Unlock()
		return next, true
	case stateOf(w) == StateOpen && now >= b.openUntil.Load():
		next := advance(w, StateHalfOpen, true)
		b.word.Store(next)
		b.mu.Unlock()
		b.notify(StateOpen, StateHalfOpen, "cooldown elapsed; letting one probe through")
		return next, true
	}
	b.mu.Unlock()
	return 0, false
}

// record reports the outcome of a request admitted with ticket.
func (b *breaker) record(ticket uint64, v verdict, now int64, o *Outcome) {
	if stateOf(ticket) != StateClosed {
		b.settleProbe(ticket, v, now, o)
		return
	}
	if b.word.Load() != ticket {
		return // admitted before a trip: stale
	}
	switch v {
	case verdictSuccess:
		if b.fails.Load() != 0 { // avoid a store, and its cache-line traffic, when already 0
			b.fails.Store(0)
		}
	case verdictFailure:
		if b.fails.Add(1) >= b.sh.threshold {
			b.trip(ticket, now, o)
		}
	}
}

// trip opens a closed breaker, unless another goroutine already did.
func (b *breaker) trip(ticket uint64, now int64, o *Outcome) {
	b.mu.Lock()
	if b.word.Load() != ticket {
		b.mu.Unlock()
		return
	}
	reason := fmt.Sprintf("%d consecutive failures; last: %s", b.fails.Load(), describe(o))
	b.openLocked(ticket, now, reason)
	b.mu.Unlock()
	b.notify(StateClosed, StateOpen, reason)
}

// settleProbe closes or re-opens the breaker after its half-open probe, or
// frees the probe slot when the probe was canceled.
func (b *breaker) settleProbe(ticket uint64, v verdict, now int64, o *Outcome) {
	b.mu.Lock()
	if b.word.Load() != ticket {
		b.mu.Unlock()
		return
	}
	switch v {
	case verdictIgnore:
		b.word.Store(advance(ticket, StateHalfOpen, false))
		b.mu.Unlock()
	case verdictSuccess:
		b.cooldown = b.sh.cooldown
		b.fails.Store(0)
		b.word.Store(advance(ticket, StateClosed, false))
		b.mu.Unlock()
		b.notify(StateHalfOpen, StateClosed, "probe succeeded")
	case verdictFailure:
		b.cooldown = min(2*b.cooldown, b.sh.maxCooldown)
		reason := "half-open probe failed; last: " + describe(o)
		b.openLocked(ticket, now, reason)
		b.mu.Unlock()
		b.notify(StateHalfOpen, StateOpen, reason)
	}
}

// openLocked moves to open for the current cooldown. b.mu must be held.
func (b *breaker) openLocked(w uint64, now int64, reason string) {
	b.openUntil.Store(now + b.cooldown) // before the word, so readers of open see it
	b.fails.Store(0)
	b.trips.Add(1)
	b.lastTrip.Store(&tripRecord{reason: reason, at: now})
	b.word.Store(advance(w, StateOpen, false))
}

// describe renders an outcome's failure for trip reasons and last errors.
func describe(o *Outcome) string {
	if o.Err != nil {
		return errorText(o.Err.Error())
	}
	return "status " + strconv.Itoa(o.Status)
}
