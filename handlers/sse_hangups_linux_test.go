package handlers

import (
	"testing"
	"time"

	"go.uber.org/goleak"
)

// The hang-up watcher reports a client's hang-up to its stream, and is
// stopped by the last stream's unregister at once, not at a later poll; the
// next stream starts another, which works as well.
func TestHangupsWatcherLifecycle(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s := &SSE{}
	for round := range 2 {
		server, client := tcpPair(t)
		st := &sseStream{h: s, client: server}
		s.register(st)
		if st.hangups == nil {
			t.Fatalf("round %d: no watcher for the stream", round)
		}
		client.Close()
		deadline := time.Now().Add(2 * time.Second) // the FIN arrives asynchronously
		for !st.gone.Load() {
			if time.Now().After(deadline) {
				t.Fatalf("round %d: hang-up not reported", round)
			}
			time.Sleep(time.Millisecond) // polling interval
		}
		s.unregister(st)
		if s.hangups != nil {
			t.Fatalf("round %d: the watcher outlives the last stream", round)
		}
	}
}
