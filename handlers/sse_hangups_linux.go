package handlers

import (
	"encoding/binary"
	"errors"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
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
//
// A stream's upstream connection, when its body is read raw, is registered
// the same way: its end (a FIN or a reset) may come in with the stream's
// last bytes, be consumed by the read that returns them, and leave no edge
// for the relay, which after a short read waits for the next one (see
// sseStream.rawRead). The watcher's event wakes the stream, which then
// reads the end.
//
// The watcher waits without a timeout: it is ended by stop, through an
// eventfd in the set, when its last stream goes. (It used to wake every
// 100 ms to check for that; each of those epoll_wait calls woke the
// runtime's sysmon thread out of its deep sleep into 20 µs polling, a cost
// every held stream shared even while all were quiet.)
type hangups struct {
	epfd   int
	stopfd int // an eventfd registered under stopID
}

// stopID is the registration id of hangups.stopfd; streams' ids start at 1.
const stopID = 0

// upstreamBit marks the registration of a stream's upstream connection
// (see add): its id is the stream's with this bit set.
const upstreamBit = 1 << 63

// startHangups starts a watcher reporting to s, or returns nil when epoll
// is unavailable (streams then poll their clients).
func startHangups(s *SSE) *hangups {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	stopfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		syscall.Close(epfd)
		return nil
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: stopID}
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, stopfd, &ev); err != nil {
		syscall.Close(stopfd)
		syscall.Close(epfd)
		return nil
	}
	h := &hangups{epfd: epfd, stopfd: stopfd}
	go h.run(s)
	return h
}

// stop ends the watcher; it reports nothing after.
func (h *hangups) stop() {
	var one [8]byte // an eventfd takes a counter increment, in host order
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = syscall.Write(h.stopfd, one[:])
}

// add registers connection c of stream id (id|upstreamBit for the
// upstream's, see SSE.watched); it reports false when c has no
// descriptor to watch.
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

// run waits for hang-ups and reports them to s until stopped.
func (h *hangups) run(s *SSE) {
	defer syscall.Close(h.epfd)
	defer syscall.Close(h.stopfd)
	var events [64]syscall.EpollEvent
	for {
		n, err := syscall.EpollWait(h.epfd, events[:], -1)
		if err != nil && !errors.Is(err, syscall.EINTR) {
			s.hangupsFailed(h)
			return
		}
		for _, ev := range events[:max(n, 0)] {
			id := uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
			if id == stopID {
				return // stopped with no stream left: the others' ids are stale
			}
			s.watched(id)
		}
	}
}
