package handlers

import (
	"strconv"
	"time"

	"gateway/internal/streams"
)

var _ streams.Stream = (*sseStream)(nil)

// Drain is the registry asking the stream to end (streams.Stream): it is
// marked, and woken if it is running, so that its next tick ends it with a
// `retry:` field and a clean end of body. A stream not started yet ends at
// its start. Any goroutine may call it, at any time.
func (st *sseStream) Drain(reason streams.Reason) {
	st.drain.CompareAndSwap(0, uint32(reason))
	st.h.wakeLive(st)
}

// Cut is the registry giving up on a polite end (streams.Stream): the
// client connection of a running stream is closed, so that its writes fail
// and its relay ends; one not started yet ends at its start.
func (st *sseStream) Cut() {
	st.drain.CompareAndSwap(0, uint32(streams.Shutdown))
	st.h.cutLive(st)
}

// asked reports whether the registry asked the stream to end, and then
// records why in st.ended.
func (st *sseStream) asked() bool {
	switch streams.Reason(st.drain.Load()) {
	case streams.Shutdown:
		st.ended = endShutdown
	case streams.Moved:
		st.ended = endMoved
	default:
		return false
	}
	return true
}

// drainTail returns what a drained stream writes before its end of body:
// a `retry:` field of delay in milliseconds (WHATWG HTML §9.2.6: it sets
// the EventSource's reconnection time, dispatches nothing and so fits
// anywhere between lines), framed as a chunk unless the client is
// HTTP/1.0. When the upstream's last bytes left a line open, a line break
// closes it first, which completes that line's field but dispatches no
// event: an event cut short at the end of a stream is discarded by the
// client (§9.2.6, "If the file ends in the middle of an event").
func (st *sseStream) drainTail(delay time.Duration) []byte {
	line := make([]byte, 0, 32)
	if st.midLine {
		line = append(line, '\n')
	}
	line = append(line, "retry: "...)
	line = strconv.AppendInt(line, delay.Milliseconds(), 10)
	line = append(line, '\n')
	if st.identity {
		return line
	}
	out := strconv.AppendInt(make([]byte, 0, len(line)+16), int64(len(line)), 16)
	out = append(out, "\r\n"...)
	out = append(out, line...)
	return append(out, "\r\n"...)
}
