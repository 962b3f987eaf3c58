//go:build !linux

package handlers

import "syscall"

// readNonblock reads the non-blocking socket fd (see the Linux version).
func readNonblock(fd uintptr, p []byte) (int, error) {
	for {
		n, err := syscall.Read(int(fd), p)
		if err != syscall.EINTR {
			return n, err
		}
	}
}

// writeNonblock writes the non-blocking socket fd (see the Linux version).
func writeNonblock(fd uintptr, p []byte) (int, error) {
	for {
		n, err := syscall.Write(int(fd), p)
		if err != syscall.EINTR {
			return n, err
		}
	}
}
