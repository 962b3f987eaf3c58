package middleware

import (
	"encoding/json"
	"time"

	"github.com/gofiber/fiber/v2"
)

// PressureReport is the JSON of GET /_pressure: each reading with its limit
// (0 = off) and whether it is over, as @fastify/under-pressure exposes them.
type PressureReport struct {
	Overloaded       bool             `json:"overloaded"`
	SampledAt        *time.Time       `json:"sampledAt"` // null before the first sample
	SampleIntervalMs int64            `json:"sampleIntervalMs"`
	Readings         PressureReadouts `json:"readings"`
	Streams          int64            `json:"streams"`   // open SSE/WebSocket streams (no limit)
	ShedTotal        uint64           `json:"shedTotal"` // requests answered 503 since start
}

// PressureReadouts holds one PressureReading per limit.
type PressureReadouts struct {
	InflightRequests  PressureReading `json:"inflightRequests"`
	HeapBytes         PressureReading `json:"heapBytes"`
	Goroutines        PressureReading `json:"goroutines"`
	SchedLatencyP99Ms PressureReading `json:"schedLatencyP99Ms"`
}

// PressureReading is one reading, its limit and whether it is over.
type PressureReading struct {
	Value float64 `json:"value"`
	Limit float64 `json:"limit"`
	Over  bool    `json:"over"`
}

// Report returns the readings and limits now.
func (s *Shedder) Report() PressureReport {
	r := s.readings()
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	rep := PressureReport{
		Overloaded:       s.Overloaded(),
		SampleIntervalMs: s.interval.Milliseconds(),
		Readings: PressureReadouts{
			InflightRequests:  PressureReading{float64(s.inflight.Load()), float64(s.maxInflight), s.inflightFull()},
			HeapBytes:         PressureReading{float64(r.HeapBytes), float64(s.maxHeap), s.overHeap(r.HeapBytes)},
			Goroutines:        PressureReading{float64(r.Goroutines), float64(s.maxGoroutines), s.overGoroutines(r.Goroutines)},
			SchedLatencyP99Ms: PressureReading{ms(r.SchedLatencyP99), ms(s.maxSchedLatency), s.overSchedLatency(r.SchedLatencyP99)},
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
