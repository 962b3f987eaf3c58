package handlers

import "testing"

func TestWSCountersCloseCodesBounded(t *testing.T) {
	var c wsCounters
	for _, code := range []int{1000, 1000, 1001, 1006, 1013, 4000, 4999, 1015, 3000} {
		c.countClose(code)
	}
	s := c.snapshot(3)
	want := map[string]int64{"1000": 2, "1001": 1, "1006": 1, "1013": 1, "1002": 0, WSCloseOther: 4}
	for k, v := range want {
		if s.Closes[k] != v {
			t.Errorf("closes[%s] = %d, want %d", k, s.Closes[k], v)
		}
	}
	if len(s.Closes) != len(wsCloseCodes)+1 {
		t.Errorf("%d close keys, want the %d counted codes and %q", len(s.Closes), len(wsCloseCodes), WSCloseOther)
	}
	if s.Active != 3 {
		t.Errorf("active %d, want 3", s.Active)
	}
}
