package handlers

import (
	"syscall"
	"testing"
)

// readNonblock and writeNonblock move bytes on a socket, and on a
// descriptor that is not one (a pipe), and report an empty non-blocking
// descriptor as EAGAIN.
func TestNonblockIO(t *testing.T) {
	tests := []struct {
		name string
		open func() ([2]int, error) // reading end, writing end
	}{
		{"socket", func() ([2]int, error) {
			fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
			return fds, err
		}},
		{"pipe, not a socket", func() ([2]int, error) {
			var fds [2]int
			err := syscall.Pipe2(fds[:], syscall.O_NONBLOCK|syscall.O_CLOEXEC)
			return fds, err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fds, err := tt.open()
			if err != nil {
				t.Fatal(err)
			}
			defer syscall.Close(fds[0])
			defer syscall.Close(fds[1])
			r, w := uintptr(fds[0]), uintptr(fds[1])
			if n, err := writeNonblock(w, []byte("event")); n != 5 || err != nil {
				t.Fatalf("write: %d, %v", n, err)
			}
			buf := make([]byte, 16)
			if n, err := readNonblock(r, buf); n != 5 || err != nil || string(buf[:n]) != "event" {
				t.Fatalf("read: %q, %v", buf[:max(n, 0)], err)
			}
			if _, err := readNonblock(r, buf); err != syscall.EAGAIN {
				t.Errorf("read of an empty descriptor: %v, want EAGAIN", err)
			}
		})
	}
}
