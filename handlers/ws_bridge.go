package handlers

import (
	"math"
	"net"
	"sync/atomic"
	"time"

	"github.com/fasthttp/websocket"

	"gateway/internal/streams"
	"gateway/middleware"
	"gateway/upstream"
)

// wsSide names one end of a bridge.
type wsSide int

const (
	sideClient wsSide = iota
	sideUpstream
)

// String returns "client" or "upstream", as close reasons name them.
func (s wsSide) String() string {
	if s == sideClient {
		return "client"
	}
	return "upstream"
}

// other returns the opposite side.
func (s wsSide) other() wsSide { return 1 - s }

// closedBy is the end reason of a bridge whose side s sent a close frame.
func (s wsSide) closedBy() streams.EndReason {
	if s == sideClient {
		return streams.EndClientLeft
	}
	return streams.EndUpstreamEnded
}

// failed is the end reason of a bridge whose side s vanished without a
// close frame or took no more writes.
func (s wsSide) failed() streams.EndReason {
	if s == sideClient {
		return streams.EndClientLeft
	}
	return streams.EndUpstreamFailed
}

// bridge is one client WebSocket joined to one upstream WebSocket. Two
// copiers (clientToUpstream, upstreamToClient) each read one side and write
// the other; a timer pings both sides. Whoever first sees or decides the
// end sets closed, which arms the close grace; the last copier to stop
// releases everything (finish).
//
// Closing follows RFC 6455 §7: a close frame read from one side is passed,
// code and reason, to the other, whose reply comes back the same way; the
// gateway's own closes (shutdown, ping timeout, too big, too slow) go to
// both sides with the same code. Sockets are cut when both copiers have
// stopped, or wsCloseGrace after the first close frame.
type bridge struct {
	h       *WSBridge
	readers [2]frameReader // by wsSide
	writers [2]frameWriter // by wsSide
	up      *upstream.Upstream
	lease   upstream.Lease // settled at the handshake; released when the bridge ends
	entry   *streams.Entry // in the registry; nil when refused there

	seen [2]atomic.Int64 // by wsSide: unix nanos of the last frame read
	// closed is 0 while open, then the close code that ended the bridge in
	// its low 16 bits and the streams.EndReason above them (see begin).
	closed    atomic.Uint32
	running   atomic.Int32 // copiers not yet stopped
	keepalive *time.Timer
	grace     atomic.Pointer[time.Timer]
	counted   bool   // counted on its upstream (set before the copiers start)
	queued    [2]int // by wsSide: send queue at the last tick (-1: unknown); tick's own
	// messages counts the data messages read from each side, each written
	// only by that side's copier and read by finish once both stopped.
	messages [2]int64
	report   *middleware.StreamEnd // nil: the end is not reported
}

// newBridge joins the upgraded client socket, which already delivered
// early, to the upstream connection of p.
func newBridge(h *WSBridge, client net.Conn, early []byte, p *pendingBridge) *bridge {
	b := &bridge{h: h, up: p.up, lease: p.lease, queued: [2]int{-1, -1}, report: p.report}
	b.readers[sideClient].init(client, early, true, &h.chunks)
	b.readers[sideUpstream].init(p.raw, p.early, false, &h.chunks)
	b.writers[sideClient].init(client, false, h.writeTimeout, &b.seen[sideClient])
	b.writers[sideUpstream].init(p.raw, true, h.writeTimeout, &b.seen[sideUpstream])
	return b
}

// start registers the bridge, counts it on its upstream and starts its
// copiers and keep-alive. When the gateway is already shutting down the
// bridge is ended at once with 1001.
func (b *bridge) start() {
	now := time.Now().UnixNano()
	b.seen[sideClient].Store(now)
	b.seen[sideUpstream].Store(now)
	b.h.counters.opened.Add(1)
	var registered bool
	b.entry, registered = b.h.reg.Add(b, streams.WebSocket, b.up)
	if registered {
		// Only a registered bridge counts on its upstream: Shutdown waits
		// for those to end, not for one refused here, whose count would
		// otherwise outlive Shutdown's return.
		b.counted = true
		b.up.StreamOpened(upstream.WebSocket)
	}
	// Created stopped and then reset, so tick never sees the field unset.
	b.keepalive = time.AfterFunc(math.MaxInt64, b.tick)
	b.keepalive.Reset(b.h.interval)
	b.running.Store(2)
	go clientToUpstream{b}.run()
	go upstreamToClient{b}.run()
	if !registered {
		b.end(websocket.CloseGoingAway, msgWSShuttingDown, streams.EndShutdown)
	}
}

// touch records a frame read from side s now.
func (b *bridge) touch(s wsSide) { b.seen[s].Store(time.Now().UnixNano()) }

// closing reports whether the bridge has begun to close.
func (b *bridge) closing() bool { return b.closed.Load() != 0 }

// begin marks the bridge closing with code, the code counted for it, and
// why, the reason its end report gives, and arms the close grace. Only the
// first call wins; it reports whether this one did. Code and reason are
// stored in one word, so that whoever reads one reads the other.
func (b *bridge) begin(code int, why streams.EndReason) bool {
	if !b.closed.CompareAndSwap(0, uint32(code)&0xffff|uint32(why)<<16) {
		return false
	}
	b.grace.Store(time.AfterFunc(wsCloseGrace, b.abort))
	return true
}

// end is the gateway closing the bridge: a close frame with code and reason
// to both sides, unless it is already closing (why as in begin). It reports
// whether it did.
func (b *bridge) end(code int, reason string, why streams.EndReason) bool {
	if !b.begin(code, why) {
		return false
	}
	msg := websocket.FormatCloseMessage(code, reason)
	for i := range b.writers {
		_ = b.writers[i].writeControl(opClose, msg)
	}
	return true
}

// sendClose writes a close frame to side s. A side that was already sent
// one refuses (errCloseSent), which is ignored like any failure here: the
// grace timer cuts what cannot be closed politely.
func (b *bridge) sendClose(s wsSide, code int, reason string) {
	_ = b.writers[s].writeControl(opClose, websocket.FormatCloseMessage(code, reason))
}

// abort cuts both sockets, which stops both copiers.
func (b *bridge) abort() {
	for i := range b.writers {
		_ = b.writers[i].conn.Close()
	}
}

// tick is the keep-alive: a side silent for two intervals ends the bridge
// with 1001; otherwise both sides are pinged and the timer rearmed.
//
// A side is not judged while a data frame is being written to it (writeData
// judges its progress) or while its own data waits for such a write to the
// other side (the bridge is not reading it: backpressure). A side whose
// socket held a backlog (wsBacklog) at the last tick and less now is
// reading it, and counts as seen: its pongs wait behind that backlog. A
// side with no backlog must answer pings: acknowledgements alone only show
// that its kernel takes data, which a hung application's does until its
// receive buffer is full. A busy side is not pinged: the ping would only
// queue behind the frame.
func (b *bridge) tick() {
	if b.closing() {
		return
	}
	var busy [2]bool
	for s := range b.writers {
		busy[s] = b.writers[s].busy()
		q := sendQueued(b.writers[s].conn)
		if b.queued[s] >= wsBacklog && q >= 0 && q < b.queued[s] {
			b.touch(wsSide(s))
		}
		b.queued[s] = q
	}
	silentSince := time.Now().Add(-2 * b.h.interval).UnixNano()
	for _, s := range [...]wsSide{sideClient, sideUpstream} {
		if !busy[s] && !busy[s.other()] && b.seen[s].Load() < silentSince {
			b.end(websocket.CloseGoingAway, s.String()+" ping timeout", streams.EndIdle)
			return
		}
	}
	for s := range b.writers {
		b.writers[s].ping(b.h.ping)
	}
	if !b.closing() {
		b.keepalive.Reset(b.h.interval)
	}
}

// copierDone is called by each copier as it stops; the last one finishes.
func (b *bridge) copierDone() {
	if b.running.Add(-1) == 0 {
		b.finish()
	}
}

// finish releases the bridge: timers, sockets, stream count, lease
// (settled at the handshake), its close code's count, and last its place
// in the registry.
func (b *bridge) finish() {
	b.keepalive.Stop()
	if t := b.grace.Load(); t != nil {
		t.Stop()
	}
	b.abort()
	if b.counted {
		b.up.StreamClosed(upstream.WebSocket)
	}
	b.lease.Release()
	closed := b.closed.Load()
	code, why := int(closed&0xffff), streams.EndReason(closed>>16)
	if code == 0 {
		code = websocket.CloseAbnormalClosure
	}
	b.h.counters.countClose(code)
	b.report.End(why, b.messages[sideClient]+b.messages[sideUpstream])
	b.h.reg.Remove(b.entry) // last: the registry's Shutdown returns once every bridge is accounted for
}

var _ streams.Stream = (*bridge)(nil)

// Drain is the registry ending the bridge (streams.Stream): a close frame
// to both sides, 1001 Going Away at shutdown, 1012 Service Restart when its
// upstream was removed (the client should reconnect and reach another).
func (b *bridge) Drain(reason streams.Reason) {
	if reason == streams.Moved {
		b.end(websocket.CloseServiceRestart, msgWSUpstreamRemoved, streams.EndMoved)
		return
	}
	b.end(websocket.CloseGoingAway, msgWSShuttingDown, streams.EndShutdown)
}

// Cut is the registry giving up on a polite end (streams.Stream).
func (b *bridge) Cut() { b.abort() }
