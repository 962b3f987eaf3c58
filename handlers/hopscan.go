package handlers

import (
	"bytes"

	"github.com/valyala/fasthttp"
)

// sentFields is the set of fields, among those the proxy removes from a
// request, that the client's header block holds. Removing a field with
// fasthttp's Del costs a key normalisation and a scan of every header, per
// name; a request with none of them (most requests) is told apart by one
// pass over the raw bytes instead.
type sentFields uint8

const (
	sentHop    sentFields             = 1 << iota // a hop-by-hop field (hopHeaders) or Connection
	sentExpect                                    // Expect
	sentAll    = sentHop | sentExpect             // what to assume when the block cannot be read
)

// scanSent returns the fields of raw, a request's header block as fasthttp
// received it (RequestHeader.RawHeaders: "Name: value" lines, CRLF or LF
// ended, up to the blank line), that the proxy removes. It answers sentAll
// for anything it does not recognise as plain header lines (an empty block,
// a folded continuation line, a line without a colon), so that the caller
// falls back to removing every field by name.
func scanSent(raw []byte) sentFields {
	if len(raw) == 0 {
		return sentAll
	}
	var sent sentFields
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line, raw = raw[:i], raw[i+1:]
		} else {
			raw = nil
		}
		line = bytes.TrimSuffix(line, []byte{'\r'})
		if len(line) == 0 {
			break // the blank line ending the block
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || line[0] == ' ' || line[0] == '\t' {
			return sentAll
		}
		sent |= fieldOf(bytes.TrimRight(line[:colon], " \t"))
	}
	return sent
}

// fieldOf classifies one field name, in any case.
func fieldOf(name []byte) sentFields {
	if bytes.EqualFold(name, []byte(fasthttp.HeaderExpect)) {
		return sentExpect
	}
	for _, h := range hopHeaders {
		if len(name) == len(h) && bytes.EqualFold(name, []byte(h)) {
			return sentHop
		}
	}
	return 0
}

// removeSentHops is removeRequestHops for a request whose client sent the
// fields in sent: with no hop-by-hop field among them only the connection
// flag is reset.
func removeSentHops(h *fasthttp.RequestHeader, sent sentFields) {
	if sent&sentHop != 0 {
		removeRequestHops(h)
		return
	}
	h.ResetConnectionClose()
}
