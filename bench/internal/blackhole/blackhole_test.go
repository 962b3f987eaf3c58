package blackhole

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// echoBackend serves TCP echo on a loopback port until the test ends.
func echoBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); _, _ = io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip writes msg and reads it back within d.
func roundTrip(c net.Conn, msg string, d time.Duration) error {
	_ = c.SetDeadline(time.Now().Add(d))
	if _, err := c.Write([]byte(msg)); err != nil {
		return err
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		return err
	}
	if string(buf) != msg {
		return errors.New("echo differs: " + string(buf))
	}
	return nil
}

func TestFreezeHoldsBytesUntilThaw(t *testing.T) {
	p, err := Listen("127.0.0.1:0", echoBackend(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, "before", 5*time.Second); err != nil {
		t.Fatalf("through the proxy: %v", err)
	}
	p.Freeze()
	// Frozen, nothing comes back: the read must run into its deadline.
	if err := roundTrip(c, "frozen", 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("frozen proxy answered: %v", err)
	}
	// A new connection completes its handshake (the kernel's accept queue)
	// but is not served either.
	c2, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatalf("dial while frozen: %v", err)
	}
	defer c2.Close()
	if err := roundTrip(c2, "queued", 300*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("frozen proxy served a new connection: %v", err)
	}
	p.Thaw()
	buf := make([]byte, len("frozen"))
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "frozen" {
		t.Fatalf("after the thaw: %q %v", buf, err)
	}
	buf = make([]byte, len("queued"))
	_ = c2.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c2, buf); err != nil || string(buf) != "queued" {
		t.Fatalf("queued connection after the thaw: %q %v", buf, err)
	}
}

func TestRefuseResetsAndResumeListensAgain(t *testing.T) {
	p, err := Listen("127.0.0.1:0", echoBackend(t))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := roundTrip(c, "x", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Refuse()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("open connection after Refuse: %v, want a reset", err)
	}
	if _, err := net.Dial("tcp", p.Addr()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after Refuse: %v, want refused", err)
	}
	if err := p.Resume(); err != nil {
		t.Fatal(err)
	}
	c3, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	if err := roundTrip(c3, "again", 5*time.Second); err != nil {
		t.Fatalf("after Resume: %v", err)
	}
}

func TestUnreachableBackendResets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	p, err := Listen("127.0.0.1:0", dead)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c, err := net.Dial("tcp", p.Addr())
	if err == nil { // the reset may come before or after connect returns
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("%v, want a reset", err)
	}
}
