package ratelimit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// redisKeyPrefix namespaces the limiter's keys in a shared Redis.
const redisKeyPrefix = "gateway:ratelimit:"

// redisMaxKeyLen bounds a key as stored in Redis; longer ones (a long header
// value) are stored as a SHA-256, the same on every replica.
const redisMaxKeyLen = 128

// slidingWindowLua is the whole decision for one request, atomic in Redis:
// roll the key's window, weigh the previous one, allow and count if under
// the limit. It reads the time from Redis (TIME), so replicas with skewed
// clocks still agree on window edges; Redis 5+ replicates a script's effects,
// which makes TIME safe. The arithmetic is window.go's, in
// milliseconds; doubles are exact here while prev·W < 2⁵³.
//
// KEYS[1] the key; ARGV[1] the limit; ARGV[2] the window in ms.
// Returns {allowed (0|1), curr, prev, elapsed ms}.
const slidingWindowLua = `
local limit = tonumber(ARGV[1])
local win = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local idx = math.floor(now / win)
local elapsed = now - idx * win
local s = redis.call('HMGET', KEYS[1], 'w', 'c', 'p')
local w = tonumber(s[1])
local curr = tonumber(s[2]) or 0
local prev = tonumber(s[3]) or 0
if w ~= idx then
  if w == idx - 1 then prev = curr else prev = 0 end
  curr = 0
end
if math.floor(prev * (win - elapsed) / win) + curr >= limit then
  return {0, curr, prev, elapsed}
end
curr = curr + 1
redis.call('HSET', KEYS[1], 'w', idx, 'c', curr, 'p', prev)
redis.call('PEXPIRE', KEYS[1], 2 * win)
return {1, curr, prev, elapsed}
`

// redisStore shares sliding-window counts through Redis. It tracks Redis's
// health: after a failure it stays away for retryEvery, then lets exactly
// one request probe, so an outage costs one timeout per interval, not one
// per request. Each transition is logged once.
type redisStore struct {
	client     *redis.Client
	script     *redis.Script
	limit      int
	windowMS   int64
	retryEvery time.Duration
	log        *slog.Logger

	down     atomic.Bool
	retryAt  atomic.Int64 // unix ns from which a probe may go
	failures atomic.Uint64
}

// newRedisStore connects lazily to url (redis:// or rediss://). Every
// command gets timeout to dial, write and read, and is never retried: a
// retried script may count one request twice, and a slow answer is worse
// than the local fallback. (go-redis still prints failed dials through its
// own package logger; redis.SetLogger is global, so we leave it alone.)
func newRedisStore(url string, limit int, window, timeout, retryEvery time.Duration, log *slog.Logger) (*redisStore, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("parsing REDIS_URL: %w", err)
	}
	if window < time.Millisecond {
		return nil, errors.New("RATE_LIMIT_WINDOW_MS must be at least 1 with REDIS_URL")
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = timeout, timeout, timeout
	opts.PoolTimeout = timeout
	opts.MaxRetries = -1
	opts.DialerRetries = 1 // the default, 5 dials 100 ms apart, would stall a probe
	opts.DisableIdentity = true
	opts.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return &redisStore{
		client:     redis.NewClient(opts),
		script:     redis.NewScript(slidingWindowLua),
		limit:      limit,
		windowMS:   window.Milliseconds(),
		retryEvery: retryEvery,
		log:        log,
	}, nil
}

// take decides one request in Redis. ok is false when Redis was not asked
// (recent failure) or failed; the caller then falls back.
func (r *redisStore) take(key []byte, now time.Time) (st windowState, ok bool) {
	if r.down.Load() {
		at := r.retryAt.Load()
		if now.UnixNano() < at || !r.retryAt.CompareAndSwap(at, now.Add(r.retryEvery).UnixNano()) {
			return st, false
		}
	}
	res, err := r.script.Run(context.Background(), r.client, []string{redisKey(key)}, r.limit, r.windowMS).Int64Slice()
	if err == nil && len(res) != 4 {
		err = fmt.Errorf("rate limit script returned %d values, want 4", len(res))
	}
	if err != nil {
		r.fail(err, now)
		return st, false
	}
	if r.down.CompareAndSwap(true, false) {
		r.log.Info("rate limit: Redis reachable again, limits are shared")
	}
	return windowState{
		allowed: res[0] == 1,
		curr:    uint64(max(res[1], 0)),
		prev:    uint64(max(res[2], 0)),
		elapsed: time.Duration(res[3]) * time.Millisecond,
	}, true
}

// fail records a Redis error and schedules the next probe.
func (r *redisStore) fail(err error, now time.Time) {
	r.failures.Add(1)
	r.retryAt.Store(now.Add(r.retryEvery).UnixNano())
	if r.down.CompareAndSwap(false, true) {
		r.log.Warn("rate limit: Redis unavailable, limiting locally per replica",
			"err", err, "retryEvery", r.retryEvery)
	}
}

// redisKey is the Redis key for a limiter key.
func redisKey(key []byte) string {
	if len(key) <= redisMaxKeyLen {
		return redisKeyPrefix + string(key)
	}
	sum := sha256.Sum256(key)
	return redisKeyPrefix + "sha256:" + hex.EncodeToString(sum[:])
}

// close releases the connection pool.
func (r *redisStore) close() error {
	return r.client.Close()
}
