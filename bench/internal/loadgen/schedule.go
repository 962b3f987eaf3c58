package loadgen

import "time"

// Schedule is the open loop's plan: request i is due at Start + i×Period,
// and connection w of Conns sends requests w, w+Conns, w+2·Conns, … So
// the offered rate is 1/Period however slowly the target answers, and a
// request's latency is counted from its due time: a stall delays every
// request due during it, and all of that delay is seen (no coordinated
// omission; see Gil Tene, "How NOT to measure latency", and wrk2).
type Schedule struct {
	Start  time.Time
	Period time.Duration
	Conns  int
}

// NewSchedule plans rate requests a second over conns connections.
func NewSchedule(start time.Time, rate float64, conns int) Schedule {
	return Schedule{Start: start, Period: time.Duration(float64(time.Second) / rate), Conns: conns}
}

// At is when connection w's k-th request (from 0) is due.
func (s Schedule) At(w, k int) time.Time {
	return s.Start.Add(time.Duration(k*s.Conns+w) * s.Period)
}

// Count is how many of connection w's requests are due in [from, to).
func (s Schedule) Count(w int, from, to time.Time) int {
	return s.firstAtOrAfter(w, to) - s.firstAtOrAfter(w, from)
}

// firstAtOrAfter is the index k of connection w's first request due at or
// after t.
func (s Schedule) firstAtOrAfter(w int, t time.Time) int {
	d := t.Sub(s.Start)
	if d <= 0 {
		return 0
	}
	// i = k·Conns + w ≥ ⌈d/Period⌉
	i := int((d + s.Period - 1) / s.Period)
	if i <= w {
		return 0
	}
	return (i - w + s.Conns - 1) / s.Conns
}
