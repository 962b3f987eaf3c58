package handlers

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/valyala/fasthttp"

	"gateway/upstream"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func TestClassify(t *testing.T) {
	dialRefused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	dialTimeout := &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}
	readTimeout := &net.OpError{Op: "read", Net: "tcp", Err: timeoutErr{}}
	tests := []struct {
		name      string
		err       error
		status    int
		retryable bool
	}{
		{"no upstream", upstream.ErrNoUpstream, 503, false},
		{"wrapped no upstream", fmt.Errorf("picking: %w", upstream.ErrNoUpstream), 503, false},
		{"connection limit", upstream.ErrPoolFull, 503, false},
		{"dial refused", dialRefused, 502, true},
		{"dial timeout", dialTimeout, 504, true},
		{"fasthttp dial timeout", fasthttp.ErrDialTimeout, 504, true},
		{"read timeout", readTimeout, 504, false},
		{"fasthttp timeout", fasthttp.ErrTimeout, 504, false},
		{"closed before response", fasthttp.ErrConnectionClosed, 502, true},
		{"reset", &net.OpError{Op: "read", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, 502, true},
		{"eof", io.EOF, 502, true},
		{"garbage", fmt.Errorf("cannot parse response status"), 502, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := classify(tt.err)
			if f.status != tt.status || f.retryable != tt.retryable {
				t.Fatalf("classify(%v) = %d retryable=%v, want %d retryable=%v", tt.err, f.status, f.retryable, tt.status, tt.retryable)
			}
		})
	}
}
