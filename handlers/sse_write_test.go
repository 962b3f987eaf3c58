package handlers

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"gateway/upstream"
)

// smallBufferPair is tcpPair (ws_frame_test.go) with socket buffers well
// under the test's payload, so that a write of it finds the socket full
// (EAGAIN) many times. Much smaller buffers make loopback TCP crawl.
func smallBufferPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	client, server = tcpPair(t)
	_ = server.(*net.TCPConn).SetWriteBuffer(64 << 10)
	_ = client.(*net.TCPConn).SetReadBuffer(64 << 10)
	return server, client
}

// newWriteStream returns a stream writing to client through its socket,
// as startStream sets it up, with its write deadline d from now.
func newWriteStream(t *testing.T, client net.Conn, d time.Duration) *sseStream {
	t.Helper()
	st := &sseStream{client: client}
	st.cw.init(client)
	if st.cw.rc == nil {
		t.Fatal("a TCP connection has no raw socket")
	}
	st.writeDeadline = time.Now().Add(clientWriteTimeout) // write then leaves the deadline below alone
	if err := client.SetWriteDeadline(time.Now().Add(d)); err != nil {
		t.Fatal(err)
	}
	return st
}

// The write to a client's socket (rawWrite) keeps net.Conn's Write
// semantics: every byte goes out however often the socket is full, and a
// client that stops reading is given up at the write deadline, after which
// the stream's writes fail at once.
func TestStreamWriteClient(t *testing.T) {
	tests := []struct {
		name     string
		reads    bool
		deadline time.Duration
		wantErr  error
	}{
		{"a reading client gets every byte", true, 10 * time.Second, nil},
		{"a client that stops reading is dropped at the deadline", false, 200 * time.Millisecond, os.ErrDeadlineExceeded},
	}
	payload := bytes.Repeat([]byte("data: 0123456789abcdef\n\n"), 1<<16) // 1.5 MiB
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, client := smallBufferPair(t)
			st := newWriteStream(t, server, tt.deadline)
			got := make(chan []byte, 1)
			if tt.reads {
				go func() {
					b := make([]byte, len(payload))
					n, _ := io.ReadFull(client, b)
					got <- b[:n]
				}()
			}
			err := st.write(payload)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("write: %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if err := st.write([]byte("x")); err != errClientFailed {
					t.Errorf("write after a failed one: %v, want %v", err, errClientFailed)
				}
				return
			}
			if b := <-got; !bytes.Equal(b, payload) {
				t.Errorf("client got %d bytes, not the %d written", len(b), len(payload))
			}
		})
	}
}

// A write to a client's socket allocates nothing: it runs once per event.
func TestStreamWriteClientAllocs(t *testing.T) {
	server, client := smallBufferPair(t)
	st := newWriteStream(t, server, 10*time.Second)
	go func() { _, _ = io.Copy(io.Discard, client) }()
	chunk := []byte("1a\r\nid: 1\ndata: 1234567890\n\n\r\n")
	if n := testing.AllocsPerRun(1000, func() {
		if err := st.write(chunk); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("%v allocations per write, want 0", n)
	}
}

// Relaying an event read raw from the upstream's socket to the client
// allocates nothing: the relay (rawRead inside one RawConn.Read, then the
// client write) runs once per event.
func TestStreamRelayRawAllocs(t *testing.T) {
	server, client := smallBufferPair(t)
	upLocal, upPeer := tcpPair(t)
	st := newWriteStream(t, server, 10*time.Second)
	st.h = &SSE{bufs: sync.Pool{New: func() any { return new(relayBuffer) }}}
	st.conn = &upstream.StreamConn{Conn: upLocal}
	st.drained, st.identity = true, true // read the socket; relay the bytes as they are
	st.upWatched = true                  // as when the hang-up watcher reports the upstream's end
	st.readFn = st.rawRead
	ended := make(chan error, 1)
	go func() {
		var err error
		for err == nil {
			err = st.relayRaw()
		}
		ended <- err
	}()

	event := []byte("data: 1234567890\n\n")
	got := make([]byte, len(event))
	if n := testing.AllocsPerRun(200, func() {
		if _, err := upPeer.Write(event); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(client, got); err != nil || !bytes.Equal(got, event) {
			t.Fatalf("client read %q, %v; want %q", got, err, event)
		}
	}); n != 0 {
		t.Errorf("%v allocations per relayed event, want 0", n)
	}
	upPeer.Close()
	if err := <-ended; err != io.EOF {
		t.Errorf("relay ended with %v, want io.EOF at the upstream's close", err)
	}
}
