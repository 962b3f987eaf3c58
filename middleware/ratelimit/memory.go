package ratelimit

import (
	"sync"
	"sync/atomic"
	"time"
)

// memoryShards is the number of independently locked parts of the memory
// store: enough that two cores rarely meet on one lock, small enough that the
// per-shard key cap stays meaningful.
const memoryShards = 64

// evictionSample is how many entries a full shard looks at to pick the one
// to evict (Redis-style sampled LRU: near-LRU without a list per entry).
const evictionSample = 8

// memoryStore keeps sliding-window counts in process memory. Keys are 64-bit
// seeded hashes of the limiter key, so an entry is a fixed 16 bytes whatever
// the key's length and a new key costs no string allocation; with a secret
// per-process seed two clients share a count with probability ~n²/2⁶⁵
// (3·10⁻¹⁰ for 10⁵ keys), and no client can aim a key at another's.
//
// Memory is bounded: each shard holds at most perShard keys. A shard drops
// keys whose windows have both passed (they count as zero anyway) at most
// once per window, when a new key arrives; if it is still full it evicts the
// sampled entry with the oldest window. An evicted client starts afresh,
// which is the price of a bound under a flood of distinct keys.
type memoryStore struct {
	window   time.Duration
	limit    uint64
	perShard int
	evicted  atomic.Uint64
	shards   [memoryShards]memoryShard
}

// memoryShard is one locked part of the store. The padding keeps two shards'
// locks off one cache line.
type memoryShard struct {
	mu     sync.Mutex
	counts map[uint64]windowCounts
	swept  int64 // window index of the last sweep
	_      [40]byte
}

// windowCounts is a key's state: the index of the window curr belongs to.
type windowCounts struct {
	idx        int64
	curr, prev uint32
}

// newMemoryStore returns a store allowing limit requests per window for at
// least maxKeys keys (rounded up to a multiple of memoryShards).
func newMemoryStore(limit int, window time.Duration, maxKeys int) *memoryStore {
	s := &memoryStore{
		window:   window,
		limit:    uint64(limit),
		perShard: max((maxKeys+memoryShards-1)/memoryShards, 1),
	}
	for i := range s.shards {
		s.shards[i].counts = make(map[uint64]windowCounts)
	}
	return s
}

// take decides one request for key hash h at time now, counting it if
// allowed. With force it is counted regardless: the store then only mirrors
// decisions taken elsewhere (by Redis), to be ready if Redis fails.
func (s *memoryStore) take(h uint64, now time.Time, force bool) windowState {
	idx, elapsed := windowIndex(now.UnixNano(), s.window)
	sh := &s.shards[h%memoryShards]
	sh.mu.Lock()
	c, ok := sh.counts[h]
	c.roll(idx)
	st := windowState{curr: uint64(c.curr), prev: uint64(c.prev), elapsed: elapsed}
	st.allowed = force || st.rate(s.window) < s.limit
	if st.allowed {
		if !ok {
			s.makeRoom(sh, idx)
		}
		if c.curr < ^uint32(0) {
			c.curr++
		}
		st.curr = uint64(c.curr)
		sh.counts[h] = c
	}
	sh.mu.Unlock()
	return st
}

// roll moves counts to window idx: the current count becomes the previous
// one if idx directly follows, else both are forgotten.
func (c *windowCounts) roll(idx int64) {
	if c.idx == idx {
		return
	}
	if c.idx == idx-1 {
		c.prev = c.curr
	} else {
		c.prev = 0
	}
	c.curr, c.idx = 0, idx
}

// makeRoom is called, shard locked, before a new key is stored: it sweeps
// dead keys once per window and, if the shard is still full, evicts one.
func (s *memoryStore) makeRoom(sh *memoryShard, idx int64) {
	if sh.swept != idx && (len(sh.counts) >= s.perShard || sh.swept < idx-1) {
		sh.swept = idx
		for k, c := range sh.counts {
			if c.idx < idx-1 {
				delete(sh.counts, k)
			}
		}
	}
	if len(sh.counts) < s.perShard {
		return
	}
	var victim uint64
	oldest, n := int64(1<<63-1), 0
	for k, c := range sh.counts { // map order is random: a fair sample
		if c.idx < oldest {
			victim, oldest = k, c.idx
		}
		if n++; n == evictionSample {
			break
		}
	}
	delete(sh.counts, victim)
	s.evicted.Add(1)
}

// keys counts the keys held, locking one shard at a time.
func (s *memoryStore) keys() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.Lock()
		n += len(sh.counts)
		sh.mu.Unlock()
	}
	return n
}
