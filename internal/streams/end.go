package streams

// String is the kind's name in logs: "sse" or "websocket".
func (k Kind) String() string {
	if k == WebSocket {
		return "websocket"
	}
	return "sse"
}

// EndReason is why a stream ended, as its trace's stream-end event and its
// end-of-stream log line say (String). The values are a fixed set, so that
// streams can be grouped by them (an attribute of bounded cardinality).
type EndReason uint8

// The reasons a stream ends.
const (
	// EndUnknown is the zero value: no reason was recorded.
	EndUnknown EndReason = iota
	// EndClientLeft: the client closed the stream (a WebSocket close frame,
	// or its connection), or stopped taking writes.
	EndClientLeft
	// EndUpstreamEnded: the upstream ended the stream cleanly (the end of
	// the SSE body, a WebSocket close frame).
	EndUpstreamEnded
	// EndUpstreamFailed: the upstream's connection failed or vanished
	// without a clean end.
	EndUpstreamFailed
	// EndShutdown: the gateway drained it while shutting down.
	EndShutdown
	// EndMoved: its upstream was removed by a reload (see Moved).
	EndMoved
	// EndIdle: a WebSocket side answered no ping for two intervals.
	EndIdle
	// EndProtocolError: a side sent what RFC 6455 forbids, or a message
	// over WS_MAX_MESSAGE_BYTES.
	EndProtocolError
	// EndTooSlow: a side accepted nothing for a whole write deadline
	// (WebSocket 1013, backpressure).
	EndTooSlow
)

// String is the reason as logs and traces name it.
func (r EndReason) String() string {
	switch r {
	case EndClientLeft:
		return "client_left"
	case EndUpstreamEnded:
		return "upstream_ended"
	case EndUpstreamFailed:
		return "upstream_failed"
	case EndShutdown:
		return "shutdown"
	case EndMoved:
		return "upstream_removed"
	case EndIdle:
		return "idle"
	case EndProtocolError:
		return "protocol_error"
	case EndTooSlow:
		return "too_slow"
	}
	return "unknown"
}

// EndReasonOf is the end reason of a stream the registry drained for
// reason.
func EndReasonOf(reason Reason) EndReason {
	if reason == Moved {
		return EndMoved
	}
	return EndShutdown
}
