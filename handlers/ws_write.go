package handlers

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"net"
	"sync"
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
// building its header in the room before it. The payload is masked in
// place when the writer masks.
func (w *frameWriter) writeData(frame []byte, opcode int, fin bool, deadline time.Time) error {
	start := w.appendHeader(frame[:frameHeadroom], opcode, fin, frame[frameHeadroom:])
	return w.write(frame[start:], false, deadline)
}

// writeControl writes a control frame (or an empty data frame) with the
// given payload, copied: it may belong to another goroutine's buffer. It
// has wsControlTimeout from the moment it gets the writer, not from the
// call: a control frame may wait behind a data frame that is slow to go.
func (w *frameWriter) writeControl(opcode int, payload []byte) error {
	var frame [frameHeadroom + maxControlPayload]byte
	n := copy(frame[frameHeadroom:], payload[:min(len(payload), maxControlPayload)])
	start := w.appendHeader(frame[:frameHeadroom], opcode, true, frame[frameHeadroom:frameHeadroom+n])
	return w.write(frame[start:frameHeadroom+n], opcode == opClose, time.Time{})
}

// write writes one whole frame by the deadline; a zero deadline means
// wsControlTimeout from when the writer is free. A write that failed after
// sending part of the frame breaks the writer for good; one that sent
// nothing leaves it usable.
func (w *frameWriter) write(frame []byte, isClose bool, deadline time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.err != nil:
		return w.err
	case w.closed:
		return errCloseSent
	}
	if deadline.IsZero() {
		deadline = time.Now().Add(wsControlTimeout)
	}
	if err := w.conn.SetWriteDeadline(deadline); err != nil {
		w.err = err
		return err
	}
	if n, err := w.conn.Write(frame); err != nil {
		if n > 0 {
			w.err = err
		}
		return err
	}
	w.closed = isClose
	return nil
}
