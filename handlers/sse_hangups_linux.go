package handlers

import (
	"errors"
	"net"
	"syscall"
)

// hangups watches the clients of running streams for hang-ups with one
// epoll instance and one goroutine for the whole handler, instead of each
// stream polling its client: held streams then cost no CPU while they are
// quiet, and a client that leaves is noticed at once, not at the next
// poll. A client connection is registered edge-triggered for EPOLLRDHUP
// (the peer shut its side down) and errors only, so what the client sends
// wakes nothing. Registrations carry the stream's id, never a descriptor
// alone, so a descriptor reused after its stream ended cannot be mistaken
// for it.
type hangups struct {
	epfd int
}

// hangupWaitMillis bounds one epoll_wait, so that the watcher notices when
// it has no stream left and ends.
const hangupWaitMillis = 100

// startHangups starts a watcher reporting to s, or returns nil when epoll
// is unavailable (streams then poll their clients).
func startHangups(s *SSE) *hangups {
	fd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	h := &hangups{epfd: fd}
	go h.run(s)
	return h
}

// add registers the client connection c of stream id; it reports false
// when c has no descriptor to watch.
func (h *hangups) add(id uint64, c net.Conn) bool {
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLRDHUP | syscall.EPOLLHUP | syscall.EPOLLERR | -syscall.EPOLLET,
		Fd:     int32(uint32(id)),
		Pad:    int32(uint32(id >> 32)),
	}
	return h.ctl(c, syscall.EPOLL_CTL_ADD, &ev) == nil
}

// remove unregisters c.
func (h *hangups) remove(c net.Conn) {
	_ = h.ctl(c, syscall.EPOLL_CTL_DEL, &syscall.EpollEvent{})
}

// ctl applies op to c's descriptor.
func (h *hangups) ctl(c net.Conn, op int, ev *syscall.EpollEvent) error {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return errors.ErrUnsupported
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var opErr error
	if err := rc.Control(func(fd uintptr) { opErr = syscall.EpollCtl(h.epfd, op, int(fd), ev) }); err != nil {
		return err
	}
	return opErr
}

// run waits for hang-ups and reports them to s until s has no stream left.
func (h *hangups) run(s *SSE) {
	defer syscall.Close(h.epfd)
	var events [64]syscall.EpollEvent
	for {
		n, err := syscall.EpollWait(h.epfd, events[:], hangupWaitMillis)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			s.hangupsFailed(h)
			return
		}
		for _, ev := range events[:max(n, 0)] {
			s.hungUp(uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32)
		}
		if s.hangupsIdle(h) {
			return
		}
	}
}
