package handlers

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// encodeFrame returns one frame: fin, opcode, payload, masked with key when
// masked (the client's direction).
func encodeFrame(fin bool, opcode int, payload []byte, masked bool, key [4]byte) []byte {
	b0 := byte(opcode)
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	var mbit byte
	if masked {
		mbit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		out = append(out, mbit|byte(n))
	case n <= 0xffff:
		out = append(out, mbit|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, mbit|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	out = append(out, key[:]...)
	for i, c := range payload {
		out = append(out, c^key[i&3])
	}
	return out
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

func testPool(size int) *sync.Pool {
	return &sync.Pool{New: func() any { b := make([]byte, size); return &b }}
}

// readFrames reads frames until n data messages have ended, returning
// "opcode:payload" per data message and per control frame.
func readFrames(f *frameReader, messages int) ([]string, error) {
	var out []string
	var msg []byte
	op := 0
	for messages > 0 {
		h, err := f.header()
		if err != nil {
			return out, err
		}
		if h.opcode >= opClose {
			p, err := f.control(&h)
			if err != nil {
				return out, err
			}
			out = append(out, string(rune('0'+h.opcode/8))+"c:"+string(p))
			continue
		}
		if h.opcode != opContinuation {
			op = h.opcode
		}
		for f.remain > 0 {
			p, err := f.payload()
			if err != nil {
				return out, err
			}
			msg = append(msg, p[frameHeadroom:]...)
		}
		if h.fin {
			out = append(out, string(rune('0'+op))+":"+string(msg))
			msg = msg[:0]
			messages--
		}
	}
	return out, nil
}

func TestFrameReader(t *testing.T) {
	key := [4]byte{1, 2, 3, 4}
	big := bytes.Repeat([]byte("abcdefgh"), 10000) // 80000 bytes: 64-bit length, many reads
	mid := bytes.Repeat([]byte("z"), 300)          // 16-bit length
	tests := []struct {
		name     string
		masked   bool
		frames   [][]byte
		messages int
		want     []string
	}{
		{"text unmasked", false, [][]byte{encodeFrame(true, opText, []byte("hi"), false, key)}, 1, []string{"1:hi"}},
		{"binary masked", true, [][]byte{encodeFrame(true, opBinary, []byte("hey you"), true, key)}, 1, []string{"2:hey you"}},
		{"empty", true, [][]byte{encodeFrame(true, opText, nil, true, key)}, 1, []string{"1:"}},
		{"16-bit length", true, [][]byte{encodeFrame(true, opBinary, mid, true, key)}, 1, []string{"2:" + string(mid)}},
		{"64-bit length", false, [][]byte{encodeFrame(true, opBinary, big, false, key)}, 1, []string{"2:" + string(big)}},
		{"fragments with a ping between", true, [][]byte{
			encodeFrame(false, opText, []byte("frag"), true, key),
			encodeFrame(true, opPing, []byte("p"), true, key),
			encodeFrame(false, opContinuation, []byte("men"), true, [4]byte{9, 9, 9, 9}),
			encodeFrame(true, opContinuation, []byte("ted"), true, key),
		}, 1, []string{"1c:p", "1:fragmented"}},
		{"two messages back to back", false, [][]byte{
			encodeFrame(true, opText, []byte("one"), false, key),
			encodeFrame(true, opBinary, []byte("two"), false, key),
		}, 2, []string{"1:one", "2:two"}},
	}
	for _, tt := range tests {
		for _, chunked := range []bool{false, true} {
			name := tt.name
			if chunked {
				name += ", a byte at a time"
			}
			t.Run(name, func(t *testing.T) {
				w, r := tcpPair(t)
				stream := bytes.Join(tt.frames, nil)
				go func() {
					if !chunked {
						_, _ = w.Write(stream)
						return
					}
					for i := range stream {
						if _, err := w.Write(stream[i : i+1]); err != nil {
							return
						}
					}
				}()
				var f frameReader
				f.init(r, nil, tt.masked, testPool(4096))
				_ = r.SetReadDeadline(time.Now().Add(10 * time.Second))
				got, err := readFrames(&f, tt.messages)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(tt.want) {
					t.Fatalf("got %d items, want %d", len(got), len(tt.want))
				}
				for i := range got {
					if got[i] != tt.want[i] {
						t.Fatalf("item %d: got %.40q, want %.40q", i, got[i], tt.want[i])
					}
				}
			})
		}
	}
}

func TestFrameReaderProtocolErrors(t *testing.T) {
	key := [4]byte{7, 7, 7, 7}
	withRSV := encodeFrame(true, opText, []byte("x"), true, key)
	withRSV[0] |= 0x40
	tests := []struct {
		name   string
		masked bool
		frames [][]byte
	}{
		{"reserved bit", true, [][]byte{withRSV}},
		{"client frame unmasked", true, [][]byte{encodeFrame(true, opText, []byte("x"), false, key)}},
		{"upstream frame masked", false, [][]byte{encodeFrame(true, opText, []byte("x"), true, key)}},
		{"long control frame", false, [][]byte{encodeFrame(true, opPing, make([]byte, 126), false, key)}},
		{"fragmented control frame", false, [][]byte{encodeFrame(false, opPong, nil, false, key)}},
		{"continuation first", false, [][]byte{encodeFrame(true, opContinuation, []byte("x"), false, key)}},
		{"new message inside a fragmented one", false, [][]byte{
			encodeFrame(false, opText, []byte("a"), false, key), encodeFrame(true, opText, []byte("b"), false, key)}},
		{"unknown opcode", false, [][]byte{encodeFrame(true, 3, nil, false, key)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, r := tcpPair(t)
			go func() { _, _ = w.Write(bytes.Join(tt.frames, nil)) }()
			var f frameReader
			f.init(r, nil, tt.masked, testPool(4096))
			_ = r.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := readFrames(&f, len(tt.frames))
			var pe *protocolError
			if !errors.As(err, &pe) || pe.code != 1002 {
				t.Fatalf("got %v, want a 1002 protocol error", err)
			}
		})
	}
}

// A reader that waits for data holds no buffer, on a socket (RawConn) and
// on any other connection (TLS, pipes).
func TestFrameReaderWaitsWithoutBuffer(t *testing.T) {
	key := [4]byte{}
	for _, kind := range []string{"tcp", "pipe"} {
		t.Run(kind, func(t *testing.T) {
			var w, r net.Conn
			if kind == "tcp" {
				w, r = tcpPair(t)
			} else {
				w, r = net.Pipe()
				t.Cleanup(func() { w.Close(); r.Close() })
			}
			var f frameReader
			f.init(r, encodeFrame(true, opText, []byte("early"), false, key), false, testPool(512))
			if got, err := readFrames(&f, 1); err != nil || got[0] != "1:early" {
				t.Fatalf("early frame: %v %v", got, err)
			}
			done := make(chan error, 1)
			go func() { // the next frame comes in two parts, with a wait between
				frame := encodeFrame(true, opBinary, []byte("later"), false, key)
				if _, err := w.Write(frame[:3]); err != nil {
					done <- err
					return
				}
				time.Sleep(20 * time.Millisecond) // let the reader wait mid-frame too
				_, err := w.Write(frame[3:])
				done <- err
			}()
			_ = r.SetReadDeadline(time.Now().Add(10 * time.Second))
			if got, err := readFrames(&f, 1); err != nil || got[0] != "2:later" {
				t.Fatalf("later frame: %v %v", got, err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			_ = r.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			if _, err := f.header(); err == nil {
				t.Fatal("header read with nothing sent")
			}
			if f.buf != nil {
				t.Fatal("the reader holds a buffer while nothing is buffered")
			}
		})
	}
}

func TestCloseOf(t *testing.T) {
	tests := []struct {
		payload  []byte
		code     int
		reason   string
		wantCode int // of the protocol error; 0 for none
	}{
		{nil, 1005, "", 0},
		{[]byte{0x03, 0xe8}, 1000, "", 0},
		{append([]byte{0x0f, 0xa1}, "bye"...), 4001, "bye", 0},
		{[]byte{0x03}, 0, "", 1002},
		{[]byte{0x03, 0xed}, 0, "", 1002},             // 1005 is never sent
		{[]byte{0x03, 0xee}, 0, "", 1002},             // 1006 neither
		{[]byte{0x0b, 0xb7}, 0, "", 1002},             // 2999
		{[]byte{0x03, 0xe8, 0xff, 0xfe}, 0, "", 1007}, // reason not UTF-8
	}
	for _, tt := range tests {
		code, reason, err := closeOf(tt.payload)
		var pe *protocolError
		switch {
		case tt.wantCode != 0 && (!errors.As(err, &pe) || pe.code != tt.wantCode):
			t.Errorf("closeOf(%x): %v, want protocol error %d", tt.payload, err, tt.wantCode)
		case tt.wantCode == 0 && (err != nil || code != tt.code || reason != tt.reason):
			t.Errorf("closeOf(%x) = %d %q %v, want %d %q", tt.payload, code, reason, err, tt.code, tt.reason)
		}
	}
}

// The upstream handshake reader stops at the end of the 101's header,
// whatever the reads look like, and keeps the bytes behind it.
func TestHandshakeConnStopsAtHeaderEnd(t *testing.T) {
	header := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
	tests := []struct{ name, header string }{
		{"CRLF", header},
		{"bare LF", "HTTP/1.1 101 Switching Protocols\nUpgrade: websocket\n\n"},
	}
	for _, tt := range tests {
		for _, readSize := range []int{1, 7, 4096} {
			w, r := tcpPair(t)
			frame := encodeFrame(true, opText, []byte("first"), false, [4]byte{})
			go func() { _, _ = w.Write(append([]byte(tt.header), frame...)) }()
			hc := &handshakeConn{Conn: r}
			var got []byte
			buf := make([]byte, readSize)
			_ = r.SetReadDeadline(time.Now().Add(5 * time.Second))
			for {
				n, err := hc.Read(buf)
				got = append(got, buf[:n]...)
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if string(got) != tt.header {
				t.Fatalf("%s, reads of %d: handed out %q, want the header only", tt.name, readSize, got)
			}
			rest := hc.rest()
			var f frameReader
			f.init(r, rest, false, testPool(512))
			if msgs, err := readFrames(&f, 1); err != nil || msgs[0] != "1:first" {
				t.Fatalf("%s, reads of %d: frame after the header: %v %v", tt.name, readSize, msgs, err)
			}
		}
	}
}

// A frame announcing a 63-bit length is refused as too big, not accepted
// through an overflowing sum.
func TestMessageHugeLengthTooBig(t *testing.T) {
	h := &WSBridge{maxMessage: 1 << 20}
	b := &bridge{h: h}
	m := &message{b: b, from: sideClient, size: 10}
	rerr, _ := m.frame(&frameReader{}, &frameHeader{fin: true, opcode: opBinary, length: 1<<63 - 5})
	var pe *protocolError
	if !errors.As(rerr, &pe) || pe.code != 1009 {
		t.Fatalf("got %v, want a 1009 error", rerr)
	}
}

// bytesConn is a net.Conn reading from a fixed byte string, for fuzzing.
type bytesConn struct {
	net.Conn // nil: only Read is used
	r        *bytes.Reader
}

func (c bytesConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// FuzzFrameReader feeds arbitrary bytes to a frameReader, as a hostile
// peer would: it must never panic, hand out more payload than a frame
// declares, or loop without consuming input.
func FuzzFrameReader(f *testing.F) {
	key := [4]byte{1, 2, 3, 4}
	f.Add(encodeFrame(true, opText, []byte("hi"), true, key), true)
	f.Add(encodeFrame(false, opBinary, []byte("a"), false, key), false)
	f.Add(append(encodeFrame(false, opText, []byte("x"), false, key), encodeFrame(true, opContinuation, nil, false, key)...), false)
	f.Add(encodeFrame(true, opClose, []byte{0x03, 0xe8, 'o', 'k'}, true, key), true)
	f.Add([]byte{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, false)
	f.Fuzz(func(t *testing.T, data []byte, masked bool) {
		var fr frameReader
		fr.init(bytesConn{r: bytes.NewReader(data)}, nil, masked, testPool(256))
		defer fr.release()
		for range len(data) + 1 { // every header consumes at least 2 bytes
			h, err := fr.header()
			if err != nil {
				return
			}
			if h.opcode >= opClose {
				p, err := fr.control(&h)
				if err != nil {
					return
				}
				if int64(len(p)) != h.length {
					t.Fatalf("control payload %d bytes, header says %d", len(p), h.length)
				}
				if h.opcode == opClose {
					_, _, _ = closeOf(p)
				}
				continue
			}
			var got int64
			for fr.remain > 0 {
				p, err := fr.payload()
				if err != nil {
					return
				}
				got += int64(len(p) - frameHeadroom)
			}
			if got != h.length {
				t.Fatalf("payload %d bytes, header says %d", got, h.length)
			}
		}
		t.Fatal("more frames than input bytes")
	})
}

// An upstream whose handshake header never ends is cut off at
// maxUpstreamHandshake bytes instead of growing the gateway's memory.
func TestHandshakeConnBoundsTheHeader(t *testing.T) {
	w, r := tcpPair(t)
	go func() {
		line := []byte("HTTP/1.1 101 Switching Protocols\r\nX-Endless: ")
		_, _ = w.Write(line)
		chunk := bytes.Repeat([]byte("a"), 4096)
		for i := 0; i < 64; i++ { // 256 KiB, never a line end
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}()
	hc := &handshakeConn{Conn: r}
	_ = r.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	total := 0
	for {
		n, err := hc.Read(buf)
		total += n
		if errors.Is(err, errHandshakeTooLarge) {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v, want errHandshakeTooLarge", total, err)
		}
	}
	if total > maxUpstreamHandshake+4096 {
		t.Fatalf("handed out %d bytes before refusing, want about %d", total, maxUpstreamHandshake)
	}
}
