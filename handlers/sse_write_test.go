package handlers

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
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
	st := &sseStream{client: client, crc: clientRawConn(client)}
	if st.crc == nil {
		t.Fatal("a TCP connection has no raw socket")
	}
	st.writeFn = st.rawWrite
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
