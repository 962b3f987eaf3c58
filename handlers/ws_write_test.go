package handlers

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// A keep-alive ping queued behind a data write that is slow but succeeds
// gets its own wsControlTimeout once it has the writer, and the writer
// stays usable.
func TestControlFrameWaitsForTheWriterWithItsOwnTimeout(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	w := &frameWriter{}
	w.init(a, false, 30*time.Second, new(atomic.Int64))
	release := make(chan struct{})
	go func() { // a receiver that is slow to start, then reads everything
		<-release
		_, _ = io.Copy(io.Discard, b)
	}()
	dataDone := make(chan error, 1)
	go func() {
		dataDone <- w.writeData(make([]byte, frameHeadroom+1000), opBinary, true, time.Now())
	}()
	pingDone := make(chan error, 1)
	go func() {
		// Wait until the data write holds the writer, so the ping queues.
		for w.mu.TryLock() {
			w.mu.Unlock()
			time.Sleep(time.Millisecond) // polling the lock, not waiting for an outcome
		}
		pingDone <- w.writeControl(opPing, []byte("p"))
	}()
	// Let more than wsControlTimeout pass before the receiver reads.
	time.Sleep(wsControlTimeout + 300*time.Millisecond) // the slow receiver's delay is the scenario
	close(release)
	if err := <-dataDone; err != nil {
		t.Fatalf("data write: %v", err)
	}
	if err := <-pingDone; err != nil {
		t.Fatalf("ping queued behind the data write: %v", err)
	}
	if err := w.writeData(make([]byte, frameHeadroom+10), opBinary, true, time.Now()); err != nil {
		t.Fatalf("writer broken after the queued ping: %v", err)
	}
}
