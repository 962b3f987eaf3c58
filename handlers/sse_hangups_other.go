//go:build !linux

package handlers

import "net"

// hangups would watch the clients of running streams for hang-ups; see
// the Linux version.
type hangups struct{}

// startHangups returns nil: there is no watcher here.
func startHangups(*SSE) *hangups { return nil }

// upstreamBit marks an upstream connection's registration (Linux only).
const upstreamBit = 1 << 63

func (*hangups) add(uint64, net.Conn) bool { return false }
func (*hangups) remove(net.Conn)           {}
func (*hangups) stop()                     {}
