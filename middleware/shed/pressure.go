package shed

import (
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Report is the JSON of GET /_pressure: each reading with its limit
// (0 = off) and whether it is over, as @fastify/under-pressure exposes them.
type Report struct {
	Overloaded       bool       `json:"overloaded"`
	SampledAt        *time.Time `json:"sampledAt"` // null before the first sample
	SampleIntervalMs int64      `json:"sampleIntervalMs"`
	Readings         Readouts   `json:"readings"`
	Streams          int64      `json:"streams"`   // open SSE/WebSocket streams (no limit)
	ShedTotal        uint64     `json:"shedTotal"` // requests answered 503 since start
}

// Readouts holds one Reading per limit.
type Readouts struct {
	InflightRequests  Reading `json:"inflightRequests"`
	HeapBytes         Reading `json:"heapBytes"`
	Goroutines        Reading `json:"goroutines"`
	SchedLatencyP99Ms Reading `json:"schedLatencyP99Ms"`
}

// Reading is one reading, its limit and whether it is over.
type Reading struct {
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Over  bool    `json:"over"`
}

// Report returns the readings and limits now.
func (s *Shedder) Report() Report {
	r := s.readings()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	rep := Report{
		Overloaded:       s.Overloaded(),
		SampleIntervalMs: s.interval.Milliseconds(),
		Readings: Readouts{
			InflightRequests:  Reading{float64(s.inflight.Load()), float64(s.maxInflight), s.inflightFull()},
			HeapBytes:         Reading{float64(r.HeapBytes), float64(s.maxHeap), s.overHeap(r.HeapBytes)},
			Goroutines:        Reading{float64(r.Goroutines), float64(s.maxGoroutines), s.overGoroutines(r.Goroutines)},
			SchedLatencyP99Ms: Reading{ms(r.SchedLatencyP99), ms(s.maxSchedLatency), s.overSchedLatency(r.SchedLatencyP99)},
		},
		Streams:   s.streams.Load(),
		ShedTotal: s.shedInflight.Load() + s.shedPressure.Load(),
	}
	if at := s.sampledAt.Load(); at != 0 {
		t := time.Unix(0, at).UTC()
		rep.SampledAt = &t
	}
	return rep
}

// PressureHandler returns the handler of GET /_pressure. It always answers
// 200, overloaded or not (/readyz is the one that turns 503), and is never
// cached.
func (s *Shedder) PressureHandler() fiber.Handler {
	return func(c *fiber.Ctx) error {
		b, err := json.Marshal(s.Report())
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Response().Header.SetContentType(fiber.MIMEApplicationJSONCharsetUTF8)
		return c.Send(b)
	}
}
