package connlimit

// Reserve is the number of descriptors FileBudget keeps for everything that
// is not a client connection or its upstream socket: the listeners (main,
// admin, pprof), the runtime's epoll and signal descriptors, log and .env
// files, Redis and OTLP exporter connections, active health checks.
const Reserve = 128

// descriptorsPerConn is what one client connection may hold at once: its
// own socket, the upstream socket of the request, SSE stream or WebSocket
// bridge it is served through, and one more for the idle keep-alive socket
// a pool keeps after it (a retry on another upstream, or traffic moving to
// another upstream, leaves the first one's socket idle in its pool until
// the pool's idle timeout).
const descriptorsPerConn = 3

// FileBudget is the MAX_CONNS default for an open-file limit of nofile:
//
//	(nofile − Reserve) / 3
//
// so that the gateway refuses a connection flood with 503 at its own limit
// before the process runs out of descriptors, where accept(2) would fail
// with EMFILE (fasthttp then logs and pauses its accept loop for a second)
// and dials to upstreams would fail and count against their breakers. A
// limit too small for the reserve gives 1. nofile 0 (unknown) gives 0, no
// limit.
func FileBudget(nofile uint64) int {
	if nofile == 0 {
		return 0
	}
	if nofile <= Reserve+descriptorsPerConn {
		return 1
	}
	n := (nofile - Reserve) / descriptorsPerConn
	return int(min(n, 1<<30))
}
