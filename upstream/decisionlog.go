package upstream

import "sync/atomic"

// Bounds of one decision-log entry. A selection compares at most three
// upstreams by scanning, or two by power of two choices; the rest of the
// room holds upstreams it passed over (excluded, breaker open) so the entry
// can say why they were not taken.
const (
	maxCandidates = 6
	maxRetries    = 2
	maxIDLen      = 128 // the longest request id the gateway keeps
)

// skip is why a selection passed over an upstream without scoring it.
type skip uint8

const (
	skipNone      skip = iota // eligible: scored and compared
	skipExcluded              // the retry excludes the upstream that failed
	skipBreaker               // its breaker refuses requests
	skipUnhealthy             // an active health check holds it out of rotation
)

// String returns how the decision log names the reason.
func (s skip) String() string {
	switch s {
	case skipExcluded:
		return "excluded: the attempt that failed"
	case skipBreaker:
		return "breaker open"
	case skipUnhealthy:
		return "unhealthy: failing its health check"
	}
	return ""
}

// candidate is one upstream as a selection saw it.
type candidate struct {
	u        *Upstream
	score    float64 // ns × load; 0 when skipped
	cost     uint64  // the peak EWMA's raw cost (float64 bits, ns) ...
	stamp    int64   // ... and stamp, decayed to the decision when read
	inflight int64
	streams  int64
	state    State
	skip     skip
}

// seen collects the candidates of one selection on the picker's stack.
type seen struct {
	n     int
	cands [maxCandidates]candidate
}

// add notes u with its score, or the reason it was skipped; past the room
// it notes nothing.
func (s *seen) add(u *Upstream, score float64, why skip) {
	if s.n == len(s.cands) {
		return
	}
	// The raw estimate is kept and decayed when the entry is read, which
	// keeps an exponential off the request path.
	s.cands[s.n] = candidate{
		u: u, score: score, cost: u.ewma.cost.Load(), stamp: u.ewma.stamp.Load(), inflight: u.inflight.Load(),
		streams: u.sse.Load() + u.ws.Load(), state: u.br.state(), skip: why,
	}
	s.n++
}

// retryRecord is a retry of a logged request: the upstream whose attempt
// failed, why, and where the retry went (nil when nowhere was left).
type retryRecord struct {
	from   *Upstream
	reason string
	to     *Upstream
}

// record is one decision as it sits in the ring: fixed size, no pointer
// into request memory (the id is copied), so writing it allocates nothing.
type record struct {
	at       int64 // clock reading
	service  string
	stream   bool
	chosen   *Upstream // nil when no upstream could take the request
	idLen    uint8
	id       [maxIDLen]byte
	seen     seen
	nRetries uint8
	retries  [maxRetries]retryRecord
}

// slot is one place in the ring. Its state word is the sequence number of
// the entry it holds (0 when empty) shifted left once, and bit 0 set while
// a writer or a reader owns the slot. Ownership is taken by one
// compare-and-swap and never waited for: a writer that finds the slot owned
// drops its entry (counted) rather than wait, a reader skips it. The data
// is plain memory touched only by the owner, so the race detector sees
// every access ordered by the state word, unlike a seqlock's optimistic
// read, which it would report.
type slot struct {
	state atomic.Uint64
	rec   record
}

const busy = 1

// decisionLog is the ring of the last len(slots) routing decisions, shared
// by every service of a pool. Recording takes two atomic operations on the
// ring counter and the slot, and no lock or allocation.
type decisionLog struct {
	slots   []slot
	next    atomic.Uint64 // sequence numbers handed out; the first is 1
	dropped atomic.Int64  // entries not written because their slot was owned
}

func newDecisionLog(size int) *decisionLog {
	if size <= 0 {
		return nil
	}
	return &decisionLog{slots: make([]slot, size)}
}

// slotOf returns the slot of sequence number seq.
func (l *decisionLog) slotOf(seq uint64) *slot { return &l.slots[(seq-1)%uint64(len(l.slots))] }

// claim takes the slot of a new entry and returns its sequence number and
// record to fill, then to be given back with commit; or 0 and nil when the
// slot was owned (the entry is dropped and counted) or already holds a
// later entry (the ring went round while this writer was between its two
// steps).
func (l *decisionLog) claim() (uint64, *record) {
	seq := l.next.Add(1)
	s := l.slotOf(seq)
	old := s.state.Load()
	if old&busy != 0 || old>>1 > seq || !s.state.CompareAndSwap(old, old|busy) {
		l.dropped.Add(1)
		return 0, nil
	}
	return seq, &s.rec
}

// reopen takes the slot of entry seq again to change it, when it still
// holds that entry and is not owned; nil otherwise.
func (l *decisionLog) reopen(seq uint64) *record {
	if seq == 0 {
		return nil
	}
	s := l.slotOf(seq)
	if !s.state.CompareAndSwap(seq<<1, seq<<1|busy) {
		return nil
	}
	return &s.rec
}

// commit gives back the slot of entry seq, taken by claim or reopen.
func (l *decisionLog) commit(seq uint64) { l.slotOf(seq).state.Store(seq << 1) }
