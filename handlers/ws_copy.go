package handlers

import (
	"errors"
	"time"

	"github.com/fasthttp/websocket"

	"gateway/internal/streams"
)

// clientToUpstream is the goroutine copying a bridge's client frames to its
// upstream. It and upstreamToClient are distinct types so that goroutine
// dumps say which direction each goroutine serves.
type clientToUpstream struct{ b *bridge }

func (c clientToUpstream) run() { c.b.pump(sideClient) }

// upstreamToClient is the goroutine copying a bridge's upstream frames to
// its client.
type upstreamToClient struct{ b *bridge }

func (c upstreamToClient) run() { c.b.pump(sideUpstream) }

// pump reads side from's frames and passes them to the other side until
// either fails or a close frame is read, then decides how the bridge ends.
//
// Data is streamed a buffer at a time, never a message whole: more is read
// only once what was read has been written, so a slow receiver stops the
// reading of its sender and TCP flow control pushes back on it
// (backpressure), with at most one buffer (<= WS_MAX_BUFFERED_BYTES) held
// in the gateway per direction. Each buffer read goes out as one frame,
// written from that buffer, and must be accepted within the write
// deadline; a receiver that accepts nothing for that long is stuck and the
// bridge ends with 1013. Messages keep their type; their frames may be cut
// differently (RFC 6455 §5.4 lets an intermediary refragment).
func (b *bridge) pump(from wsSide) {
	defer b.copierDone()
	fr := &b.readers[from]
	defer fr.release()
	m := message{b: b, from: from}
	for {
		h, err := fr.header()
		if err != nil {
			b.readEnded(from, err)
			return
		}
		b.touch(from)
		if h.opcode >= opClose {
			if stop := b.control(from, fr, &h); stop {
				return
			}
			continue
		}
		if rerr, werr := m.frame(fr, &h); rerr != nil {
			b.readEnded(from, rerr)
			return
		} else if werr != nil {
			b.writeFailed(from, werr)
			return
		}
	}
}

// message is the data message being copied in one direction.
type message struct {
	b       *bridge
	from    wsSide
	started bool  // a frame of it was written: the next ones are continuations
	size    int64 // payload bytes so far
}

// frame passes on the data frame h, whose header has been read, as one
// frame per buffer of payload read. It returns the read or the write error
// that stopped it.
func (m *message) frame(fr *frameReader, h *frameHeader) (rerr, werr error) {
	b := m.b
	dst := &b.writers[m.from.other()]
	if h.length > b.h.maxMessage-m.size { // not m.size+h.length: a 63-bit length would overflow
		return &protocolError{websocket.CloseMessageTooBig, "message too big"}, nil
	}
	m.size += h.length
	if h.length == 0 {
		var room [frameHeadroom]byte
		if err := dst.writeData(room[:], m.opcode(h), h.fin, time.Now()); err != nil {
			return nil, err
		}
	}
	for fr.remain > 0 {
		frame, err := fr.payload()
		if err != nil {
			return err, nil
		}
		now := time.Now()
		b.seen[m.from].Store(now.UnixNano())
		if err := dst.writeData(frame, m.opcode(h), h.fin && fr.remain == 0, now); err != nil {
			return nil, err
		}
	}
	if h.fin {
		b.messages[m.from]++
		b.h.counters.messages[m.from].Add(1)
		b.h.counters.bytes[m.from].Add(m.size)
		m.started, m.size = false, 0
	}
	return nil, nil
}

// opcode returns the opcode of the next frame written for h: the message's
// type for its first frame, continuation after.
func (m *message) opcode(h *frameHeader) int {
	if m.started {
		return opContinuation
	}
	m.started = true
	return h.opcode
}

// control handles a control frame read from side from: pings and pongs go
// to the other side (pongs answering the gateway's keep-alive pings are
// consumed); a close frame is passed on, code and reason, and stops the
// copier. It reports whether the copier must stop.
func (b *bridge) control(from wsSide, fr *frameReader, h *frameHeader) bool {
	p, err := fr.control(h)
	if err != nil {
		b.readEnded(from, err)
		return true
	}
	to := &b.writers[from.other()]
	switch h.opcode {
	case opPing, opPong:
		if h.opcode == opPing || string(p) != string(b.h.ping) {
			_ = to.writeControl(h.opcode, p)
		}
	case opClose:
		code, reason, err := closeOf(p)
		if err != nil {
			b.readEnded(from, err)
			return true
		}
		b.begin(code, from.closedBy())
		b.sendClose(from.other(), code, reason)
		return true
	}
	return false
}

// readEnded handles the end of reading side from: a frame the side may
// not send ends the bridge with that error's code (1002, 1007, 1009) on
// both sides; a side that vanished without a close frame has the other
// side told 1001. After the bridge began closing, read errors are the
// sockets being cut, and only stop the copier.
func (b *bridge) readEnded(from wsSide, err error) {
	var pe *protocolError
	switch {
	case errors.As(err, &pe):
		b.end(pe.code, pe.reason, streams.EndProtocolError)
	case b.closing():
	default:
		if b.begin(websocket.CloseAbnormalClosure, from.failed()) {
			b.sendClose(from.other(), websocket.CloseGoingAway, from.String()+" went away")
		}
	}
}

// writeFailed handles a failed write of a message read from side from: a
// write deadline that passed means the receiver is stuck, which ends the
// bridge with 1013 and is counted as a backpressure close; any other error
// means the receiver is gone, and the sender is told 1001.
func (b *bridge) writeFailed(from wsSide, err error) {
	to := from.other()
	switch {
	case b.closing():
	case isNetTimeout(err):
		if b.begin(websocket.CloseTryAgainLater, streams.EndTooSlow) {
			b.h.counters.backpressure.Add(1)
			// The sender first: the stuck side's close frame may wait
			// wsControlTimeout for room, and must not delay the other's.
			reason := to.String() + " too slow"
			b.sendClose(from, websocket.CloseTryAgainLater, reason)
			b.sendClose(to, websocket.CloseTryAgainLater, reason)
		}
	default:
		if b.begin(websocket.CloseAbnormalClosure, to.failed()) {
			b.sendClose(from, websocket.CloseGoingAway, to.String()+" went away")
		}
	}
}
