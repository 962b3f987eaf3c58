package handlers

import "gateway/middleware"

// StreamOption configures NewSSE and NewWSBridge.
type StreamOption func(*streamOptions)

// streamOptions are what StreamOptions set.
type streamOptions struct {
	ends *middleware.StreamEnds
}

// WithStreamEnds reports the end of each stream (an SSE stream, a
// WebSocket bridge) to ends: why it ended, how long it lived and how many
// events or messages passed, for its trace and its end-of-stream log line.
// Without it nothing is reported.
func WithStreamEnds(ends *middleware.StreamEnds) StreamOption {
	return func(o *streamOptions) { o.ends = ends }
}

// newStreamOptions applies opts.
func newStreamOptions(opts []StreamOption) streamOptions {
	var o streamOptions
	for _, opt := range opts {
		opt(&o)
	}
	return o
}
