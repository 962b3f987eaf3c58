package handlers

import (
	"errors"
	"io"
	"time"

	"github.com/fasthttp/websocket"
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
// in the gateway per direction. Each write must make progress within the
// write deadline; a receiver that accepts nothing for that long is stuck
// and the bridge ends with 1013. Messages keep their type; their frames
// may be cut differently (RFC 6455 §5.4 lets an intermediary refragment).
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
	b    *bridge
	from wsSide
	w    io.WriteCloser // open while a message is being copied
	size int64          // payload bytes so far
}

// frame copies the data frame h, whose header has been read, opening the
// message on the other side at its first frame and closing it at its last.
// It returns the read or the write error that stopped it.
func (m *message) frame(fr *frameReader, h *frameHeader) (rerr, werr error) {
	b := m.b
	dst := b.conns[m.from.other()]
	if m.size += h.length; m.size > b.h.maxMessage {
		return &protocolError{websocket.CloseMessageTooBig, "message too big"}, nil
	}
	if m.w == nil {
		_ = dst.SetWriteDeadline(time.Now().Add(b.h.writeTimeout))
		w, err := dst.NextWriter(h.opcode)
		if err != nil {
			return nil, err
		}
		m.w = w
	}
	for fr.remain > 0 {
		p, err := fr.payload()
		if err != nil {
			// The message is left unfinished on purpose: closing the
			// writer would deliver a truncated message as a whole one.
			return err, nil
		}
		now := time.Now()
		b.seen[m.from].Store(now.UnixNano())
		_ = dst.SetWriteDeadline(now.Add(b.h.writeTimeout))
		if _, err := m.w.Write(p); err != nil {
			return nil, err
		}
	}
	if !h.fin {
		return nil, nil
	}
	if err := m.w.Close(); err != nil {
		return nil, err
	}
	b.h.counters.messages[m.from].Add(1)
	b.h.counters.bytes[m.from].Add(m.size)
	m.w, m.size = nil, 0
	return nil, nil
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
	to := b.conns[from.other()]
	deadline := time.Now().Add(wsControlTimeout)
	switch h.opcode {
	case opPing:
		_ = to.WriteControl(websocket.PingMessage, p, deadline)
	case opPong:
		if string(p) != wsKeepalivePayload {
			_ = to.WriteControl(websocket.PongMessage, p, deadline)
		}
	case opClose:
		code, reason, err := closeOf(p)
		if err != nil {
			b.readEnded(from, err)
			return true
		}
		b.begin(code)
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
		b.end(pe.code, pe.reason)
	case b.closing():
	default:
		if b.begin(websocket.CloseAbnormalClosure) {
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
		if b.end(websocket.CloseTryAgainLater, to.String()+" too slow") {
			b.h.counters.backpressure.Add(1)
		}
	default:
		if b.begin(websocket.CloseAbnormalClosure) {
			b.sendClose(from, websocket.CloseGoingAway, to.String()+" went away")
		}
	}
}
