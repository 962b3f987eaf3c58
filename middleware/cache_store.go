package middleware

import (
	"hash/maphash"
	"math"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// cacheStore is the cache's memory: shards of hashicorp's simplelru, each
// under its own mutex and byte budget, so a hit on one key does not wait for
// the lock of another and the total stays within CACHE_MAX_BYTES.
//
// Entries are found by a 64-bit hash of the key and checked against the
// full key they keep, so a hash collision is a miss, never a wrong answer.
type cacheStore struct {
	seed   maphash.Seed
	mask   uint64
	shards []cacheShard
	stats  *cacheCounters
}

// cacheShard is one lock and one LRU list with its byte budget.
type cacheShard struct {
	mu    sync.Mutex
	lru   *simplelru.LRU[uint64, *cacheEntry]
	bytes int64
	max   int64
}

// newCacheStore splits maxBytes over n shards (n a power of two).
func newCacheStore(n int, maxBytes int64, stats *cacheCounters) *cacheStore {
	s := &cacheStore{seed: maphash.MakeSeed(), mask: uint64(n - 1), shards: make([]cacheShard, n), stats: stats}
	for i := range s.shards {
		// The count bound is never reached: bytes are the limit.
		lru, _ := simplelru.NewLRU[uint64, *cacheEntry](math.MaxInt32, nil)
		s.shards[i] = cacheShard{lru: lru, max: maxBytes / int64(n)}
	}
	return s
}

// hash returns the hash of a key.
func (s *cacheStore) hash(key []byte) uint64 { return maphash.Bytes(s.seed, key) }

// shard returns the shard that holds hash h.
func (s *cacheStore) shard(h uint64) *cacheShard { return &s.shards[h&s.mask] }

// get returns the entry stored under key, marking it recently used, or nil.
func (s *cacheStore) get(key []byte) *cacheEntry {
	h := s.hash(key)
	sh := s.shard(h)
	sh.mu.Lock()
	e, ok := sh.lru.Get(h)
	sh.mu.Unlock()
	if !ok || e.key != string(key) {
		return nil
	}
	return e
}

// put stores e under e.key, replacing what was there, then evicts least
// recently used entries until the shard is within its budget. An entry
// larger than a whole shard is not stored; put reports whether e was.
func (s *cacheStore) put(e *cacheEntry) bool {
	h := maphash.String(s.seed, e.key)
	sh := s.shard(h)
	if e.size > sh.max {
		return false
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if old, ok := sh.lru.Peek(h); ok {
		sh.drop(old, s.stats)
	}
	sh.lru.Add(h, e)
	sh.bytes += e.size
	s.stats.bytes.Add(e.size)
	s.stats.entries.Add(1)
	for sh.bytes > sh.max {
		_, old, ok := sh.lru.RemoveOldest()
		if !ok {
			break
		}
		sh.drop(old, s.stats)
		s.stats.evictions.Add(1)
	}
	return true
}

// remove deletes e if it is still the entry under its key: a newer entry
// stored meanwhile by another request stays.
func (s *cacheStore) remove(e *cacheEntry) {
	h := maphash.String(s.seed, e.key)
	sh := s.shard(h)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if cur, ok := sh.lru.Peek(h); ok && cur == e {
		sh.lru.Remove(h)
		sh.drop(e, s.stats)
	}
}

// drop accounts for e leaving the shard (the caller removes it from the list).
func (sh *cacheShard) drop(e *cacheEntry, stats *cacheCounters) {
	sh.bytes -= e.size
	stats.bytes.Add(-e.size)
	stats.entries.Add(-1)
}
