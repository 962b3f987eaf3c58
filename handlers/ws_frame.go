package handlers

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"syscall"
	"unicode/utf8"

	"github.com/fasthttp/websocket"
)

// WebSocket opcodes (RFC 6455 §5.2).
const (
	opContinuation = 0
	opText         = websocket.TextMessage
	opBinary       = websocket.BinaryMessage
	opClose        = websocket.CloseMessage
	opPing         = websocket.PingMessage
	opPong         = websocket.PongMessage
)

// maxControlPayload is the largest control frame payload (RFC 6455 §5.5).
const maxControlPayload = 125

// frameHeader is one frame's header.
type frameHeader struct {
	fin    bool
	opcode int
	length int64
	masked bool
	key    [4]byte
}

// protocolError is a frame a side may not send: the bridge ends with code.
type protocolError struct {
	code   int
	reason string
}

func (e *protocolError) Error() string { return "websocket: " + e.reason }

// errNoProgress is a socket read that returned nothing and no error.
var errNoProgress = errors.New("websocket: read made no progress")

// frameReader reads one side's frames straight from its socket.
//
// It exists for memory: an idle bridge must hold neither a buffer nor a
// deep goroutine stack. gorilla-style readers block inside a dozen frames
// of their own (NextReader, advanceFrame, bufio, net), which keeps each
// copier's stack at 4 KiB, and hold their read buffer for the connection's
// life. frameReader borrows its buffer from a pool only while bytes are
// buffered, and waits for a socket through syscall.RawConn, a few frames
// from the copier's top, so the garbage collector shrinks an idle copier's
// stack to the 2 KiB minimum. A connection without a RawConn (TLS) is read
// with a one-byte read until data comes.
//
// Frames are checked as RFC 6455 §5 requires of an endpoint without
// extensions: reserved bits clear, known opcodes, masked exactly when read
// from a client, control frames final and short, continuations only inside
// a fragmented message. Payloads are unmasked in place.
type frameReader struct {
	conn   net.Conn
	raw    syscall.RawConn // conn's, when it has one
	masked bool            // frames must be masked (the client side)
	pool   *sync.Pool      // of *[]byte, all of one size
	bufp   *[]byte
	buf    []byte // *bufp while held, else nil
	r, w   int    // unread bytes are buf[r:w]

	readFn  func(fd uintptr) bool // rawRead, bound once
	n       int                   // rawRead's result
	err     error
	one     [1]byte // fillConn's wait
	inMsg   bool    // inside a fragmented message
	maskPos int     // unmasking position within the current frame
	curKey  [4]byte
	curMask bool
	remain  int64 // payload bytes of the current data frame not yet read
}

// init prepares f to read conn, starting with prefix (bytes already read
// from conn by the handshake).
func (f *frameReader) init(conn net.Conn, prefix []byte, masked bool, pool *sync.Pool) {
	f.conn, f.masked, f.pool = conn, masked, pool
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			f.raw = raw
			f.readFn = f.rawRead
		}
	}
	for len(prefix) > 0 {
		f.acquire()
		n := copy(f.buf[f.w:], prefix)
		f.w += n
		prefix = prefix[n:]
		if len(prefix) > 0 { // more early bytes than a buffer: keep them in front of the socket
			f.conn = &prefixedConn{Conn: conn, prefix: prefix}
			f.raw = nil
			break
		}
	}
}

// acquire takes a buffer unless one is held. Bytes go after
// frameHeadroom, which stays free for the writer of the other side.
func (f *frameReader) acquire() {
	if f.buf == nil {
		f.bufp = f.pool.Get().(*[]byte)
		f.buf = *f.bufp
		f.r, f.w = frameHeadroom, frameHeadroom
	}
}

// release returns the buffer, dropping any unread byte (when the copier
// stops).
func (f *frameReader) release() {
	if f.buf != nil {
		f.pool.Put(f.bufp)
		f.bufp, f.buf = nil, nil
		f.r, f.w = 0, 0
	}
}

// fill reads more bytes, waiting until some come. With nothing buffered it
// holds no buffer while it waits.
func (f *frameReader) fill() error {
	switch {
	case f.r == f.w:
		f.release()
	case f.r > frameHeadroom:
		f.w = frameHeadroom + copy(f.buf[frameHeadroom:], f.buf[f.r:f.w])
		f.r = frameHeadroom
	}
	if f.raw != nil {
		f.n, f.err = 0, nil
		if err := f.raw.Read(f.readFn); err != nil {
			return err
		}
		if f.err != nil {
			return f.err
		}
		if f.n == 0 {
			return io.EOF
		}
		return nil
	}
	return f.fillConn()
}

// rawRead is the syscall.RawConn read: one non-blocking read into the
// buffer, taken just before and given back if the socket had nothing, so
// that the wait holds none.
func (f *frameReader) rawRead(fd uintptr) bool {
	f.acquire()
	n, err := readNonblock(fd, f.buf[f.w:])
	switch {
	case err == syscall.EAGAIN:
		if f.r == f.w {
			f.release()
		}
		return false
	case err != nil:
		f.err = err
	default:
		f.n = n
		f.w += n
	}
	return true
}

// fillConn reads a connection without a RawConn: while nothing is buffered
// it waits in a one-byte read, holding no pooled buffer.
func (f *frameReader) fillConn() error {
	if f.buf == nil {
		n, err := f.conn.Read(f.one[:])
		if n == 0 {
			if err == nil {
				err = errNoProgress
			}
			return err
		}
		f.acquire()
		f.buf[f.w] = f.one[0]
		f.w++
		return nil
	}
	n, err := f.conn.Read(f.buf[f.w:])
	f.w += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = errNoProgress
	}
	return err
}

// need makes n bytes (n <= 14 + 125) available in buf[r:].
func (f *frameReader) need(n int) error {
	for f.w-f.r < n {
		if err := f.fill(); err != nil {
			if err == io.EOF && f.w > f.r {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// header reads and checks the next frame header.
func (f *frameReader) header() (frameHeader, error) {
	var h frameHeader
	if err := f.need(2); err != nil {
		return h, err
	}
	b0, b1 := f.buf[f.r], f.buf[f.r+1]
	h.fin, h.opcode, h.masked = b0&0x80 != 0, int(b0&0x0f), b1&0x80 != 0
	size := 2
	switch b1 & 0x7f {
	case 126:
		size += 2
	case 127:
		size += 8
	}
	if h.masked {
		size += 4
	}
	if err := f.need(size); err != nil {
		return h, err
	}
	p := f.buf[f.r : f.r+size]
	switch n := int64(p[1] & 0x7f); n {
	case 126:
		h.length = int64(binary.BigEndian.Uint16(p[2:]))
	case 127:
		h.length = int64(binary.BigEndian.Uint64(p[2:]))
	default:
		h.length = n
	}
	if h.masked {
		copy(h.key[:], p[size-4:])
	}
	f.r += size
	if err := f.check(b0, &h); err != nil {
		return h, err
	}
	f.curKey, f.curMask, f.maskPos = h.key, h.masked, 0
	if h.opcode < opClose {
		f.remain = h.length
		f.inMsg = !h.fin
	}
	return h, nil
}

// check applies RFC 6455 §5's rules to a parsed header.
func (f *frameReader) check(b0 byte, h *frameHeader) error {
	switch {
	case b0&0x70 != 0:
		return &protocolError{websocket.CloseProtocolError, "reserved bits set"}
	case h.masked != f.masked:
		return &protocolError{websocket.CloseProtocolError, "bad mask"}
	case h.length < 0:
		return &protocolError{websocket.CloseProtocolError, "bad length"}
	}
	switch h.opcode {
	case opClose, opPing, opPong:
		if !h.fin || h.length > maxControlPayload {
			return &protocolError{websocket.CloseProtocolError, "bad control frame"}
		}
	case opText, opBinary:
		if f.inMsg {
			return &protocolError{websocket.CloseProtocolError, "data frame inside a fragmented message"}
		}
	case opContinuation:
		if !f.inMsg {
			return &protocolError{websocket.CloseProtocolError, "continuation outside a message"}
		}
	default:
		return &protocolError{websocket.CloseProtocolError, "bad opcode"}
	}
	return nil
}

// payload returns the next bytes of the current data frame's payload, up
// to what is buffered (reading when nothing is), unmasked, preceded by
// frameHeadroom bytes of room: frame[frameHeadroom:] is the payload. The
// slice is valid, and the room free to overwrite, until the next call.
func (f *frameReader) payload() (frame []byte, err error) {
	if f.r == f.w {
		if err := f.fill(); err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	n := int64(f.w - f.r)
	if n > f.remain {
		n = f.remain
	}
	frame = f.buf[f.r-frameHeadroom : f.r+int(n)]
	f.r += int(n)
	f.remain -= n
	f.unmask(frame[frameHeadroom:])
	return frame, nil
}

// control returns the whole payload of the control frame h, unmasked.
func (f *frameReader) control(h *frameHeader) ([]byte, error) {
	if err := f.need(int(h.length)); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	p := f.buf[f.r : f.r+int(h.length)]
	f.r += int(h.length)
	f.unmask(p)
	return p, nil
}

func (f *frameReader) unmask(p []byte) {
	if !f.curMask {
		return
	}
	for i := range p {
		p[i] ^= f.curKey[(f.maskPos+i)&3]
	}
	f.maskPos = (f.maskPos + len(p)) & 3
}

// closeOf returns the code and reason of a close frame's payload: 1005
// (no status) for an empty one. The code must be one a peer may send and
// the reason valid UTF-8 (RFC 6455 §5.5.1, §7.4).
func closeOf(p []byte) (int, string, error) {
	switch {
	case len(p) == 0:
		return websocket.CloseNoStatusReceived, "", nil
	case len(p) == 1:
		return 0, "", &protocolError{websocket.CloseProtocolError, "bad close frame"}
	}
	code := int(binary.BigEndian.Uint16(p))
	if !validReceivedCloseCode(code) {
		return 0, "", &protocolError{websocket.CloseProtocolError, "bad close code"}
	}
	if !utf8.Valid(p[2:]) {
		return 0, "", &protocolError{websocket.CloseInvalidFramePayloadData, "close reason is not UTF-8"}
	}
	return code, string(p[2:]), nil
}

// validReceivedCloseCode reports whether a peer may send code (RFC 6455
// §7.4.1 and the IANA registry; 1005, 1006 and 1015 are never sent).
func validReceivedCloseCode(code int) bool {
	switch {
	case code >= 3000 && code <= 4999:
		return true
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	}
	return false
}
