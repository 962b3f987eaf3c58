package handlers

import (
	"errors"
	"io"
	"time"

	"github.com/fasthttp/websocket"
)

// clientToUpstream is the goroutine copying a bridge's client messages to
// its upstream. It and upstreamToClient are distinct types so that
// goroutine dumps say which direction each goroutine serves.
type clientToUpstream struct{ b *bridge }

func (c clientToUpstream) run() { c.b.pump(sideClient) }

// upstreamToClient is the goroutine copying a bridge's upstream messages
// to its client.
type upstreamToClient struct{ b *bridge }

func (c upstreamToClient) run() { c.b.pump(sideUpstream) }

// pump copies messages read from side from to the other side until either
// fails or a close frame is read, then decides how the bridge ends.
//
// Messages are streamed a chunk at a time, never buffered whole: a chunk is
// read only once the previous one has been written, so a slow receiver
// stops the reading of its sender and TCP flow control pushes back on it
// (backpressure), with at most one chunk (<= WS_MAX_BUFFERED_BYTES) held in
// the gateway per direction. Each write must make progress within the
// write deadline; a receiver that accepts nothing for that long is stuck
// and the bridge ends with 1013.
func (b *bridge) pump(from wsSide) {
	defer b.copierDone()
	src := b.conns[from]
	for {
		typ, r, err := src.NextReader()
		if err != nil {
			b.readEnded(from, err)
			return
		}
		b.touch(from)
		if rerr, werr := b.copyMessage(from, typ, r); rerr != nil {
			b.readEnded(from, rerr)
			return
		} else if werr != nil {
			b.writeFailed(from, werr)
			return
		}
	}
}

// copyMessage streams one message of type typ from r, read from side from,
// to the other side as a message of the same type. The frames it writes
// may be cut differently from those it read (RFC 6455 §5.4 lets an
// intermediary refragment). It returns the read or the write error that
// stopped it.
func (b *bridge) copyMessage(from wsSide, typ int, r io.Reader) (rerr, werr error) {
	dst := b.conns[from.other()]
	bufp := b.h.chunks.Get().(*[]byte)
	defer b.h.chunks.Put(bufp)
	buf := *bufp

	_ = dst.SetWriteDeadline(time.Now().Add(b.h.writeTimeout))
	w, err := dst.NextWriter(typ)
	if err != nil {
		return nil, err
	}
	var total int64
	for {
		n, err := r.Read(buf)
		if n > 0 {
			now := time.Now()
			b.seen[from].Store(now.UnixNano())
			_ = dst.SetWriteDeadline(now.Add(b.h.writeTimeout))
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil, werr
			}
			total += int64(n)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			// The message is left unfinished on purpose: closing the
			// writer would deliver a truncated message as a whole one.
			return err, nil
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	b.h.counters.messages[from].Add(1)
	b.h.counters.bytes[from].Add(total)
	return nil, nil
}

// readEnded handles the end of reading side from: a close frame is passed
// on, code and reason; an oversize message ends the bridge with 1009 (the
// library has told the sender); a side that vanished without a close frame
// has the other side told 1001. After the bridge began closing, read errors
// are the sockets being cut, and only stop the copier.
func (b *bridge) readEnded(from wsSide, err error) {
	var ce *websocket.CloseError
	switch {
	case errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure:
		b.begin(ce.Code)
		b.sendClose(from.other(), ce.Code, ce.Text)
	case errors.Is(err, websocket.ErrReadLimit):
		b.end(websocket.CloseMessageTooBig, "message too big")
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
