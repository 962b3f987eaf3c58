package upstream

import (
	"bufio"
	"errors"
	"io"
	"net/http/httputil"
	"sync"
	"syscall"

	"github.com/valyala/fasthttp"
)

// streamBody is a streamed upstream response body. It owns the upstream
// connection until the body ends: read to its end, the connection goes
// back to the pool; closed early or broken, it is closed, since the rest
// of the body is still on the wire. fasthttp's server closes it once it has
// written the body to the client (or failed to). Pooled: a body of known
// length allocates nothing in steady state.
type streamBody[C conn] struct {
	pool     *sync.Pool
	hc       *fasthttp.HostClient
	cc       C
	ops      ops[C]
	br       *bufio.Reader
	fixed    io.LimitedReader // the body when its length is known
	body     io.Reader        // &fixed, a chunked decoder, or br until EOF
	reuse    bool             // the connection may serve another request once the body ends
	eof      bool             // the body was read to its end
	bad      bool             // a read failed: the connection is unusable
	mu       sync.Mutex
	closed   bool
	framing  int              // fasthttp content length: >= 0 known, -1 chunked, -2 until close
	discards *discardCounters // the upstream's, for a connection left dirty
}

func getBody[C conn](p *sync.Pool) *streamBody[C] {
	if v, ok := p.Get().(*streamBody[C]); ok {
		return v
	}
	return &streamBody[C]{}
}

// start readies s for one body of the given framing read from br.
func (s *streamBody[C]) start(p *sync.Pool, hc *fasthttp.HostClient, cc C, o ops[C], br *bufio.Reader, contentLength int, closeConn bool, d *discardCounters) {
	s.pool, s.hc, s.cc, s.ops, s.br, s.discards = p, hc, cc, o, br, d
	s.eof, s.bad, s.closed, s.framing = false, false, false, contentLength
	s.reuse = !closeConn
	switch {
	case contentLength >= 0:
		s.fixed = io.LimitedReader{R: br, N: int64(contentLength)}
		s.body = &s.fixed
	case contentLength == -1:
		s.body = httputil.NewChunkedReader(br)
	default: // the body ends when the upstream closes the connection
		s.body = br
		s.reuse = false
	}
}

// Read reads the body.
func (s *streamBody[C]) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, io.ErrClosedPipe
	}
	if s.eof {
		return 0, io.EOF
	}
	if s.body == nil { // ReadBuffered let the reader go
		return 0, errRawBody
	}
	n, err := s.body.Read(p)
	switch {
	case err == nil:
		if s.framing >= 0 && s.fixed.N == 0 {
			s.eof = true
			err = io.EOF
		}
	case errors.Is(err, io.EOF):
		if s.framing >= 0 && s.fixed.N > 0 {
			// The upstream closed before sending the announced length.
			s.bad = true
			return n, io.ErrUnexpectedEOF
		}
		if s.framing == -1 {
			if terr := endChunked(s.br); terr != nil {
				s.bad = true
				return n, normalize(terr)
			}
		}
		s.eof = true
	default:
		s.bad = true
		err = normalize(err)
	}
	return n, err
}

// Close ends the body and hands the connection back, or closes it when the
// body was not read to its end. Call it once: it returns s to its pool, and
// s then belongs to another response. (It tolerates a Close racing a Read.)
func (s *streamBody[C]) Close() error {
	if !s.mu.TryLock() {
		// A Read is blocked on the upstream: closing the connection
		// unblocks it, and the connection is unusable from then on.
		_ = s.cc.Conn().Close()
		s.mu.Lock()
		s.bad = true
	}
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	reuse := s.eof && !s.bad && s.reuse
	if s.br != nil {
		if reuse && unreadBytes(s.br) { // more than the body's framing said
			reuse = false
			s.discards.count(DiscardUnreadBytes)
		}
		s.hc.ReleaseReader(s.br)
	}
	if reuse {
		s.ops.release(s.hc, s.cc)
	} else {
		s.ops.close(s.hc, s.cc)
	}
	var zero C
	s.hc, s.cc, s.br, s.body, s.fixed, s.discards = nil, zero, nil, nil, io.LimitedReader{}, nil
	s.pool.Put(s)
	return nil
}

// errRawBody is a Read after ReadBuffered took the body over.
var errRawBody = errors.New("upstream body is read raw from its connection")

// RawBody is a streamed body that its reader may take over from the
// upstream connection itself, to hold no read buffer while the body is
// quiet (an event stream spends its life so). Raw tells whether it may:
// the body's framing is chunked or up to the close, and its connection is
// the StreamConn itself (not TLS over it). ReadBuffered then hands out the
// bytes already read ahead past the headers, framing included, and lets
// the 4 KiB read buffer go once they are all out (returning 0); from then
// on the body is read from the StreamConn (see StreamConn.RawRead), never
// through Read. Close still ends the body and closes the connection, which
// is never pooled after a raw read.
type RawBody interface {
	io.ReadCloser
	Raw() bool
	Chunked() bool
	ReadBuffered(p []byte) int
}

// Raw reports whether the body may be read raw (see RawBody).
func (s *streamBody[C]) Raw() bool {
	sc, ok := any(s.cc.Conn()).(*StreamConn)
	if !ok || s.framing >= 0 {
		return false
	}
	_, ok = sc.Conn.(syscall.Conn)
	return ok
}

// Chunked reports whether the body is chunked (else it ends at the close).
func (s *streamBody[C]) Chunked() bool { return s.framing == -1 }

// ReadBuffered copies bytes read ahead into p; see RawBody.
func (s *streamBody[C]) ReadBuffered(p []byte) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || s.br == nil {
		return 0
	}
	s.reuse = false
	if b := s.br.Buffered(); b > 0 {
		n, _ := s.br.Read(p[:min(len(p), b)])
		return n
	}
	s.hc.ReleaseReader(s.br)
	s.br, s.body = nil, nil
	return 0
}

// maxTrailerLines bounds the trailer section read after a chunked body.
const maxTrailerLines = 64

var errTooManyTrailers = errors.New("upstream sent too many trailer fields")

// endChunked reads what follows a chunked body's last chunk, the trailer
// section up to its empty line (RFC 9112 §7.1.2), which Go's chunked reader
// leaves unread; otherwise those bytes would be taken for the status line
// of the next response on the pooled connection. Trailers are dropped.
func endChunked(br *bufio.Reader) error {
	for range maxTrailerLines {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 && (len(line) == 1 || line[0] == '\r') {
			return nil
		}
	}
	return errTooManyTrailers
}
