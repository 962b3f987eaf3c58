package handlers

// The SSE handler's table of running streams, for its hang-up watcher:
// where the platform allows, it wakes the stream whose client left (see
// hangups). Admission, counts and shutdown are the shared registry's
// (internal/streams); the registry's Drain and Cut reach a running stream
// through here. Everything here holds SSE.mu.

// register adds st to the running streams and has its client watched for
// hang-ups when possible (st.hangups).
func (s *SSE) register(st *sseStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams == nil {
		s.streams = make(map[uint64]*sseStream)
	}
	s.nextID++
	st.id = s.nextID
	s.streams[st.id] = st
	if s.hangups == nil {
		s.hangups = startHangups(s)
	}
	if s.hangups != nil && s.hangups.add(st.id, st.client) {
		st.hangups = s.hangups
		if st.raw != nil && st.conn != nil {
			st.upWatched = s.hangups.add(st.id|upstreamBit, st.conn.Conn)
		}
	}
}

// unregister removes st; it must run before st's client connection is
// closed, so that its descriptor is out of the hang-up watcher before it
// can be reused. The last stream out stops the watcher (the next stream
// starts another).
func (s *SSE) unregister(st *sseStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.streams, st.id)
	if st.hangups != nil {
		st.hangups.remove(st.client)
		if st.upWatched {
			st.hangups.remove(st.conn.Conn)
		}
	}
	if len(s.streams) == 0 && s.hangups != nil {
		s.hangups.stop()
		s.hangups = nil
	}
}

// watched is called by the hang-up watcher for one of a running stream's
// registrations: its client's, which hung up (the stream ends at once), or,
// with upstreamBit, its upstream's, which ended or failed (the stream wakes
// and reads that end).
func (s *SSE) watched(id uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.streams[id&^upstreamBit]
	if st == nil {
		return
	}
	if id&upstreamBit != 0 {
		st.upEnded.Store(true)
	} else {
		st.gone.Store(true)
	}
	st.wake()
}

// wakeLive makes st tick now if it is running (registered): once it has
// unregistered, its upstream connection may be pooled and must not be
// woken.
func (s *SSE) wakeLive(st *sseStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.id != 0 && s.streams[st.id] == st {
		st.wake()
	}
}

// cutLive closes the client connection of st if it is running, whose
// writes then fail and whose relay ends: what the registry does to streams
// still open when its shutdown deadline passes, like the WebSocket
// bridge's abort.
func (s *SSE) cutLive(st *sseStream) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st.id != 0 && s.streams[st.id] == st {
		_ = st.client.Close()
		st.wake()
	}
}

// hangupsFailed is told by a watcher that can no longer wait (which
// epoll_wait does not do short of a bug): it is released, so the next
// stream starts another, and the streams it watched notice their client
// leaving at their next write, as on platforms without a watcher, and
// their upstream's end by reading on after every short read.
func (s *SSE) hangupsFailed(h *hangups) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hangups == h {
		s.hangups = nil
	}
	for _, st := range s.streams {
		if st.hangups == h {
			st.upEnded.Store(true) // nothing reports the upstream's end now: read until EAGAIN
		}
	}
}
