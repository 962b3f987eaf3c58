package handlers

import "bytes"

// eventCounter counts the events of an event stream as its bytes pass,
// for the stream's end report. An event is a block of lines ended by a
// blank line (WHATWG HTML §9.2.6, "Interpreting an event stream"); a block
// holding only comments (lines starting with ':', the usual keep-alive)
// dispatches nothing and is not counted. Lines end at LF or CRLF; a lone CR,
// which the format also allows and no known server sends, is taken as part
// of its line. The scan jumps from LF to LF (bytes.IndexByte), so it costs
// little beside the relay's own copy.
type eventCounter struct {
	n     int64
	size  int  // bytes of the current line seen so far, counted up to 2
	first byte // the current line's first byte, when size > 0
	field bool // the current block has a line that is not a comment
}

// scan counts the events that p, the stream's next bytes, completes.
func (e *eventCounter) scan(p []byte) {
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			e.add(p)
			return
		}
		e.add(p[:i])
		e.endLine()
		p = p[i+1:]
	}
}

// add takes b, bytes of the current line.
func (e *eventCounter) add(b []byte) {
	if len(b) == 0 {
		return
	}
	if e.size == 0 {
		e.first = b[0]
	}
	e.size = min(e.size+len(b), 2)
}

// endLine ends the current line: a blank one (nothing, or a CR of CRLF)
// ends the block.
func (e *eventCounter) endLine() {
	blank := e.size == 0 || (e.size == 1 && e.first == '\r')
	switch {
	case blank && e.field:
		e.n++
		e.field = false
	case blank:
	case e.first != ':':
		e.field = true
	}
	e.size = 0
}
