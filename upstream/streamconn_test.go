package upstream

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// countingWatcher counts ticks and fails the one numbered failAt.
type countingWatcher struct {
	ticks  int
	failAt int
}

var errStop = errors.New("stop")

func (w *countingWatcher) Tick() error {
	w.ticks++
	if w.ticks == w.failAt {
		return errStop
	}
	return nil
}

// pipeStreamConn returns a StreamConn over one end of a pipe, and the other.
func pipeStreamConn(t *testing.T) (*StreamConn, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	c, err := streamDial(func(string) (net.Conn, error) { return a, nil })("x")
	if err != nil {
		t.Fatal(err)
	}
	return c.(*StreamConn), b
}

func TestStreamConnRead(t *testing.T) {
	const tick = 10 * time.Millisecond
	tests := []struct {
		name      string
		watch     bool
		failAt    int
		wantErr   error
		wantTicks int
	}{
		{"unwatched: the deadline is an error", false, 0, os.ErrDeadlineExceeded, 0},
		{"watched: quiet intervals tick until the watcher stops", true, 3, errStop, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := pipeStreamConn(t)
			w := &countingWatcher{failAt: tt.failAt}
			if err := c.SetReadDeadline(time.Now().Add(tick)); err != nil { // as fasthttp does for the headers
				t.Fatal(err)
			}
			if tt.watch {
				if err := c.Watch(tick, w); err != nil {
					t.Fatal(err)
				}
			}
			_, err := c.Read(make([]byte, 8))
			if !errors.Is(err, tt.wantErr) || w.ticks != tt.wantTicks {
				t.Fatalf("Read: %v after %d ticks, want %v after %d", err, w.ticks, tt.wantErr, tt.wantTicks)
			}
		})
	}
}

func TestStreamConnWatchedReadReturnsData(t *testing.T) {
	c, peer := pipeStreamConn(t)
	w := &countingWatcher{}
	if err := c.Watch(5*time.Millisecond, w); err != nil {
		t.Fatal(err)
	}
	go func() {
		time.Sleep(30 * time.Millisecond) // quiet for several ticks first
		_, _ = peer.Write([]byte("data"))
	}()
	buf := make([]byte, 8)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "data" {
		t.Fatalf("Read = %q, %v", buf[:n], err)
	}
	if w.ticks == 0 {
		t.Error("no tick while the connection was quiet")
	}

	// Unwatched, the connection has no deadline left.
	if err := c.Unwatch(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := c.Read(buf); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("unwatched Read returned %v with no data", err)
	case <-time.After(50 * time.Millisecond): // long enough for a stale deadline to fire
	}
	c.Close()
	<-done
}

func TestStreamConnOf(t *testing.T) {
	c, _ := pipeStreamConn(t)
	plain, _ := net.Pipe()
	defer plain.Close()
	tests := []struct {
		name string
		conn net.Conn
		want *StreamConn
	}{
		{"stream conn", c, c},
		{"through TLS", tls.Client(c, &tls.Config{}), c},
		{"other conn", plain, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var resp fasthttp.Response
			resp.ParseNetConn(tt.conn)
			if got := StreamConnOf(&resp); got != tt.want {
				t.Fatalf("StreamConnOf = %p, want %p", got, tt.want)
			}
		})
	}
	if got := c.LocalAddr().String(); got != "pipe" {
		t.Errorf("LocalAddr prints %q, want the wrapped connection's", got)
	}
}

// wakeWatcher records ticks on a channel and stops at the first.
type wakeWatcher struct{ ticked chan struct{} }

func (w wakeWatcher) Tick() error {
	w.ticked <- struct{}{}
	return errStop
}

func TestStreamConnWake(t *testing.T) {
	tests := []struct {
		name     string
		interval time.Duration
	}{
		{"no periodic ticks", 0},
		{"long interval", time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, _ := pipeStreamConn(t)
			w := wakeWatcher{ticked: make(chan struct{}, 1)}
			if err := c.Watch(tt.interval, w); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { _, err := c.Read(make([]byte, 8)); done <- err }()
			select {
			case <-w.ticked:
				t.Fatal("ticked before any wake")
			case <-time.After(30 * time.Millisecond): // a tick would come at once with a stale deadline
			}
			if err := c.Wake(); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if !errors.Is(err, errStop) {
					t.Fatalf("Read after Wake: %v", err)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("Wake did not make the waiting Read tick")
			}
		})
	}
}
