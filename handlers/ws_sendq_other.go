//go:build !linux

package handlers

import "net"

// sendQueued returns -1: the send queue is looked into on Linux only, so
// elsewhere a blocked write's progress is judged by partial writes alone.
func sendQueued(net.Conn) int { return -1 }
