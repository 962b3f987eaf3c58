//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package handlers

import "net"

// peer would check whether a stream's client is still connected; on this
// platform it cannot peek at a socket, so it never reports the client gone
// and a stream notices at its next write (an event or a heartbeat).
type peer struct{}

// newPeer returns the (inert) checker of c's remote end.
func newPeer(net.Conn) peer { return peer{} }

// gone reports false.
func (*peer) gone() bool { return false }
