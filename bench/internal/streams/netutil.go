package streams

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"
)

// dialer opens the client connections. One source address has only the
// ephemeral port range to connect from to one destination, so when more
// connections are needed than it allows, they are spread over 127.0.0.1,
// 127.0.0.2, ... (all of 127/8 is loopback on Linux).
type dialer struct {
	perAddr int // connections per source address; 0: no spreading
}

// newDialer returns a dialer for n connections.
func newDialer(n int) *dialer {
	ports := ephemeralPorts()
	perAddr := ports * 3 / 4 // the rest stays free for everything else
	if n <= perAddr {
		return &dialer{}
	}
	fmt.Printf("spreading %d connections over %d source addresses\n", n, (n+perAddr-1)/perAddr)
	return &dialer{perAddr: perAddr}
}

// dial connects connection i to addr.
func (d *dialer) dial(ctx context.Context, i int, addr string) (net.Conn, error) {
	nd := net.Dialer{Timeout: 10 * time.Second}
	if d.perAddr > 0 {
		nd.LocalAddr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(1+i/d.perAddr))}
	}
	return nd.DialContext(ctx, "tcp", addr)
}

// ephemeralPorts returns the size of the local port range.
func ephemeralPorts() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 28232 // Linux's default range
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 28232
	}
	lo, err1 := strconv.Atoi(f[0])
	hi, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || hi < lo {
		return 28232
	}
	return hi - lo + 1
}

// freePort returns a loopback port nothing listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
