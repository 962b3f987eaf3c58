//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package handlers

import (
	"net"
	"testing"
	"time"
)

// peer tells a client that is there, even one that sent something, from
// one that closed its connection.
func TestPeerGone(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	p := newPeer(server)
	if p.gone() {
		t.Fatal("gone while connected")
	}
	if _, err := client.Write([]byte("GET / HTTP/1.1\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	if p.gone() {
		t.Fatal("gone after the client sent a request")
	}
	client.Close()
	deadline := time.Now().Add(2 * time.Second) // the FIN arrives asynchronously
	for !p.gone() {
		if time.Now().After(deadline) {
			t.Fatal("not gone after the client closed")
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	if q := newPeer(&net.TCPConn{}); q.gone() {
		t.Error("the zero peer reports gone")
	}
}
