package handlers

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// frameHeadroom is the room a frameReader keeps in front of every payload
// it hands out, where frameWriter builds the outgoing header: the largest
// header, 2 bytes + 8 of length + 4 of mask.
const frameHeadroom = 14

// errCloseSent is a write after a close frame, which RFC 6455 §5.5.1
// forbids.
var errCloseSent = errors.New("websocket: close frame already sent")

// frameWriter writes one side's frames: data frames from the other side's
// frameReader buffer, in place (the header goes in the room in front of the
// payload, the mask is applied in place), in one write each; control frames
// from the copiers and the keep-alive. Frames are written whole, one at a
// time. It holds no buffer.
type frameWriter struct {
	conn net.Conn
	mask bool // writing to the upstream, as a client: frames are masked
	// stall is how long a data frame's write may make no progress before
	// the receiver counts as stuck (WS_PING_INTERVAL_MS).
	stall time.Duration
	// seen is the receiver's last sign of life (the bridge's seen of this
	// side), moved on by every data frame it accepts.
	seen *atomic.Int64

	raw      rawWriter // writes conn; guarded by mu
	deadline time.Time // conn's write deadline; guarded by mu

	mu     sync.Mutex
	err    error // a failed write, which may have left a partial frame; guarded by mu
	closed bool  // a close frame was written; guarded by mu
}

// appendHeader writes the header of a frame with n bytes of payload at the
// end of room and returns where it starts. With the writer's mask on, the
// key goes into the header and masks payload in place.
func (w *frameWriter) appendHeader(room []byte, opcode int, fin bool, payload []byte) int {
	b0 := byte(opcode)
	if fin {
		b0 |= 0x80
	}
	n := len(payload)
	i := len(room)
	if w.mask {
		key := rand.Uint32()
		i -= 4
		binary.LittleEndian.PutUint32(room[i:], key)
		maskBytes(payload, room[i:i+4])
	}
	var b1 byte
	if w.mask {
		b1 = 0x80
	}
	switch {
	case n < 126:
		b1 |= byte(n)
	case n <= 0xffff:
		i -= 2
		binary.BigEndian.PutUint16(room[i:], uint16(n))
		b1 |= 126
	default:
		i -= 8
		binary.BigEndian.PutUint64(room[i:], uint64(n))
		b1 |= 127
	}
	i -= 2
	room[i], room[i+1] = b0, b1
	return i
}

// maskBytes XORs p with key, in place (RFC 6455 §5.3).
func maskBytes(p, key []byte) {
	for i := range p {
		p[i] ^= key[i&3]
	}
}

// writeData writes one data frame whose payload is frame[frameHeadroom:],
// building its header in the room before it, at time now. The payload is
// masked in place when the writer masks.
//
// The receiver is stuck, and the write fails with a timeout, only after a
// stall period in which it took nothing: neither more of the frame (a
// partial write) nor, by its TCP acknowledgements, bytes already queued in
// the socket (sendQueued). Like nginx's proxy_send_timeout, the deadline
// bounds the time between two steps forward, not the time a backlog takes
// to drain: the kernel wakes a blocked writer only once a third of its
// send buffer (autotuned up to 4 MiB) is free, which a slow but steady
// reader may take longer than a ping interval to make room for. Over TLS
// the first timeout stays final, as before: crypto/tls makes any write
// timeout a permanent error of the connection.
//
// Progress seen while waiting moves the receiver's seen on (its pongs may
// wait behind the backlog); a write that did not wait does not, since its
// bytes only reached the kernel.
func (w *frameWriter) writeData(frame []byte, opcode int, fin bool, now time.Time) error {
	start := w.appendHeader(frame[:frameHeadroom], opcode, fin, frame[frameHeadroom:])
	frame = frame[start:]
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	waited := false
	queued := -1  // bytes in the send queue at the last timeout; -1: not known
	sent := false // part of the frame is out
	for {
		n, err := w.writeLocked(frame, now.Add(w.stall))
		sent = sent || n > 0
		if err == nil {
			if waited {
				w.seen.Store(time.Now().UnixNano()) // room came: acknowledgements
			}
			return nil
		}
		now, waited = time.Now(), true
		if isNetTimeout(err) {
			q := sendQueued(w.conn)
			switch {
			case n > 0, q >= 0 && queued >= 0 && q < queued:
				w.seen.Store(now.UnixNano()) // the receiver took something
				frame, queued = frame[n:], q
				continue
			case q >= 0 && queued < 0:
				queued = q // the first look: judged by the next period
				continue
			}
		}
		if sent {
			w.err = err // the stream ends inside a frame: nothing more may follow
		}
		return err
	}
}

// writeControl writes a control frame (or an empty data frame) with the
// given payload, copied: it may belong to another goroutine's buffer. It
// has wsControlTimeout from the moment it gets the writer, not from the
// call: a control frame may wait behind a data frame that is slow to go.
func (w *frameWriter) writeControl(opcode int, payload []byte) error {
	var frame [frameHeadroom + maxControlPayload]byte
	n := copy(frame[frameHeadroom:], payload[:min(len(payload), maxControlPayload)])
	start := w.appendHeader(frame[:frameHeadroom], opcode, true, frame[frameHeadroom:frameHeadroom+n])
	w.mu.Lock()
	defer w.mu.Unlock()
	if err := w.usable(); err != nil {
		return err
	}
	if n, err := w.writeLocked(frame[start:frameHeadroom+n], time.Now().Add(wsControlTimeout)); err != nil {
		if n > 0 {
			w.err = err
		}
		return err
	}
	w.closed = opcode == opClose
	return nil
}

// ping writes the gateway's keep-alive ping unless a frame is being written
// now: the ping would only wait behind it, holding up the keep-alive, and
// writeData judges the receiver by its progress meanwhile.
func (w *frameWriter) ping(payload []byte) {
	if w.busy() {
		return
	}
	_ = w.writeControl(opPing, payload)
}

// busy reports whether a frame is being written now. The answer may be
// stale at once; the keep-alive uses it to tell a long data write.
func (w *frameWriter) busy() bool {
	if w.mu.TryLock() {
		w.mu.Unlock()
		return false
	}
	return true
}

// usable returns why nothing more may be written, if so. w.mu is held.
func (w *frameWriter) usable() error {
	switch {
	case w.err != nil:
		return w.err
	case w.closed:
		return errCloseSent
	}
	return nil
}

// init prepares w to write conn; mask for the upstream side.
func (w *frameWriter) init(conn net.Conn, mask bool, stall time.Duration, seen *atomic.Int64) {
	w.conn, w.mask, w.stall, w.seen = conn, mask, stall, seen
	w.raw.init(conn)
}

// writeLocked writes frame by the deadline and returns how much went out.
// A failed write that sent nothing leaves the writer usable. w.mu is held.
//
// The connection's deadline is moved only when it is later than deadline
// or less than half as far: a busy bridge updates a timer now and then,
// not for every frame. A write may so be given up to half its time less,
// never more.
func (w *frameWriter) writeLocked(frame []byte, deadline time.Time) (int, error) {
	now := time.Now()
	if w.deadline.After(deadline) || w.deadline.Sub(now) < deadline.Sub(now)/2 {
		if err := w.conn.SetWriteDeadline(deadline); err != nil {
			w.err = err
			return 0, err
		}
		w.deadline = deadline
	}
	return w.raw.writeAll(frame)
}
