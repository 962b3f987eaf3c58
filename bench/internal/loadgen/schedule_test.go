package loadgen

import (
	"testing"
	"time"
)

func TestScheduleAt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := NewSchedule(t0, 10_000, 4) // a request every 100 µs over 4 connections
	tests := []struct {
		w, k int
		want time.Duration
	}{
		{0, 0, 0},
		{3, 0, 300 * time.Microsecond},
		{0, 1, 400 * time.Microsecond},
		{2, 5, (5*4 + 2) * 100 * time.Microsecond},
		{1, 2500, time.Second + 100*time.Microsecond},
	}
	for _, tt := range tests {
		if got := s.At(tt.w, tt.k).Sub(t0); got != tt.want {
			t.Errorf("At(%d, %d) = +%v, want +%v", tt.w, tt.k, got, tt.want)
		}
	}
	if s.Period != 100*time.Microsecond {
		t.Errorf("Period = %v", s.Period)
	}
}

func TestScheduleCount(t *testing.T) {
	t0 := time.Unix(1000, 0)
	s := NewSchedule(t0, 1000, 3) // every 1 ms over 3 connections
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	tests := []struct {
		name     string
		w        int
		from, to time.Time
		want     int
	}{
		{"first 3 ms, each connection one", 0, ms(0), ms(3), 1},
		{"first 3 ms, connection 2", 2, ms(0), ms(3), 1},
		{"1 s, connection 0", 0, ms(0), ms(1000), 334}, // due at 0, 3, …, 999
		{"1 s, connection 1", 1, ms(0), ms(1000), 333}, // 1, 4, …, 997
		{"1 s, connection 2", 2, ms(0), ms(1000), 333},
		{"window after a warm-up", 0, ms(500), ms(1500), 333},
		{"bounds: from inclusive, to exclusive", 1, ms(1), ms(4), 1},
		{"from just after a due time excludes it", 1, ms(1).Add(time.Nanosecond), ms(5), 1}, // only 4 ms
		{"to just after a due time includes it", 1, ms(0), ms(4).Add(time.Nanosecond), 2},   // 1 and 4 ms
		{"before the start", 0, t0.Add(-time.Second), t0, 0},
		{"empty window", 0, ms(7), ms(7), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := s.Count(tt.w, tt.from, tt.to); got != tt.want {
				t.Errorf("Count = %d, want %d", got, tt.want)
			}
		})
	}
	// The connections' counts add up to the rate.
	total := 0
	for w := range 3 {
		total += s.Count(w, ms(250), ms(1250))
	}
	if total != 1000 {
		t.Errorf("all connections over 1 s: %d, want 1000", total)
	}
}
