package handlers

import (
	"strconv"
	"sync/atomic"
)

// wsCloseCodes are the close codes counted one by one (RFC 6455 §7.4.1 and
// the IANA registry); any other code, such as an application's 4000-4999,
// counts under "other", so the set of metric labels stays bounded.
var wsCloseCodes = [...]int{1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1010, 1011, 1012, 1013}

// WSCloseOther is the WSStats.Closes key of codes outside the counted set.
const WSCloseOther = "other"

// WSDirectionStats counts the data messages copied in one direction of the
// bridges and their payload bytes.
type WSDirectionStats struct {
	Messages int64 `json:"messages"`
	Bytes    int64 `json:"bytes"`
}

// WSStats is a snapshot of the WebSocket bridge counters since start, for
// /admin/stats and Prometheus. Counters are read one by one, each exact but
// not mutually consistent.
type WSStats struct {
	// Active is the number of bridges open now.
	Active int64 `json:"active"`
	// Opened counts bridges that were established (both sides upgraded).
	Opened int64 `json:"opened"`
	// UpgradeFailures counts upgrade requests the upstream refused or could
	// not be reached for (answered 502/503/504).
	UpgradeFailures int64 `json:"upgradeFailures"`

	ClientToUpstream WSDirectionStats `json:"clientToUpstream"`
	UpstreamToClient WSDirectionStats `json:"upstreamToClient"`

	// Closes counts ended bridges by the close code that ended them: the
	// first close frame seen from either side, the gateway's own code (1001
	// shutdown or ping timeout, 1009 message too big, 1013 too slow), or
	// 1006 when a side vanished without a close frame. Keys are the decimal
	// codes of the counted set, every one present, and WSCloseOther.
	Closes map[string]int64 `json:"closes"`

	// BackpressureCloses counts bridges closed with 1013 because one side
	// accepted nothing for a whole write deadline.
	BackpressureCloses int64 `json:"backpressureCloses"`
}

// wsCounters are the bridges' shared counters. They must not be copied.
type wsCounters struct {
	opened       atomic.Int64
	failures     atomic.Int64
	messages     [2]atomic.Int64 // by the wsSide the messages came from
	bytes        [2]atomic.Int64
	closes       [len(wsCloseCodes) + 1]atomic.Int64 // last: other
	backpressure atomic.Int64
}

// countClose counts one bridge ended with code.
func (s *wsCounters) countClose(code int) {
	for i, c := range wsCloseCodes {
		if c == code {
			s.closes[i].Add(1)
			return
		}
	}
	s.closes[len(wsCloseCodes)].Add(1)
}

// snapshot returns the counters with active as the open-bridge count.
func (s *wsCounters) snapshot(active int64) WSStats {
	st := WSStats{
		Active:             active,
		Opened:             s.opened.Load(),
		UpgradeFailures:    s.failures.Load(),
		BackpressureCloses: s.backpressure.Load(),
		Closes:             make(map[string]int64, len(wsCloseCodes)+1),
	}
	from := [2]*WSDirectionStats{sideClient: &st.ClientToUpstream, sideUpstream: &st.UpstreamToClient}
	for side, out := range from {
		out.Messages, out.Bytes = s.messages[side].Load(), s.bytes[side].Load()
	}
	for i, c := range wsCloseCodes {
		st.Closes[strconv.Itoa(c)] = s.closes[i].Load()
	}
	st.Closes[WSCloseOther] = s.closes[len(wsCloseCodes)].Load()
	return st
}
