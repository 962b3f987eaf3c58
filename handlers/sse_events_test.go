package handlers

import "testing"

// TestEventCounter: events are counted at the blank line ending a block
// with a field, however the bytes are split; comment-only blocks and
// stray blank lines are not events.
func TestEventCounter(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   int64
	}{
		{"one", []string{"data: a\n\n"}, 1},
		{"crlf", []string{"data: a\r\n\r\n"}, 1},
		{"split in the line", []string{"da", "ta: a\n", "\n"}, 1},
		{"split in the crlf", []string{"data: a\r", "\n\r", "\n"}, 1},
		{"comment only", []string{": keep-alive\n\n"}, 0},
		{"blank lines", []string{"\n\n\r\n"}, 0},
		{"unfinished", []string{"data: a\ndata: b\n"}, 0},
		{"several", []string{"data: a\n\n: c\n\nid: 1\nevent: x\ndata: b\n\ndata", "\n\n"}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var e eventCounter
			for _, c := range tt.chunks {
				e.scan([]byte(c))
			}
			if e.n != tt.want {
				t.Fatalf("%q: %d events, want %d", tt.chunks, e.n, tt.want)
			}
		})
	}
}
