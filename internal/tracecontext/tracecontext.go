// Package tracecontext reads and writes W3C Trace Context headers
// (https://www.w3.org/TR/trace-context/, Level 1): it parses an incoming
// traceparent, keeps tracestate, gives the gateway's span a fresh id, and
// writes the outgoing traceparent with that span as parent. It costs a few
// tens of nanoseconds and no allocation per request, so it runs always,
// exporting or not (see BenchmarkPerRequest).
//
// Written by hand: the OpenTelemetry SDK's propagation.TraceContext works on
// a context.Context and a TextMapCarrier, allocating a SpanContext, its
// TraceState (parsed into members) and strings on every request.
package tracecontext

import (
	"bytes"
	"encoding/binary"
	"math/rand/v2"

	"github.com/valyala/fasthttp"
)

// Header names (Trace Context, "traceparent Header" and "tracestate Header").
const (
	HeaderParent = "traceparent"
	HeaderState  = "tracestate"
)

// MaxState is the longest tracestate forwarded. Trace Context ("tracestate
// Limits") asks
// every vendor to propagate at least 512 characters and allows a longer
// value to be cut by dropping whole list members; at most 512 are kept here.
const MaxState = 512

// parentLen is the length of a version 00 traceparent:
// 2 (version) + 1 + 32 (trace-id) + 1 + 16 (parent-id) + 1 + 2 (flags).
const parentLen = 55

// FlagSampled is the sampled bit of trace-flags (Trace Context, "trace-flags");
// the only flag of Level 1, so the only one forwarded.
const FlagSampled byte = 0x01

// TraceID is a trace-id: 16 bytes, never all zero when valid.
type TraceID [16]byte

// SpanID is a parent-id or span id: 8 bytes, never all zero when valid.
type SpanID [8]byte

// IsValid reports whether t is not all zero.
func (t TraceID) IsValid() bool {
	return binary.LittleEndian.Uint64(t[:8])|binary.LittleEndian.Uint64(t[8:]) != 0
}

// IsValid reports whether s is not all zero.
func (s SpanID) IsValid() bool { return binary.LittleEndian.Uint64(s[:]) != 0 }

// AppendHex appends t as 32 lower-case hex digits, for log lines.
func (t TraceID) AppendHex(dst []byte) []byte { return appendHex(dst, t[:]) }

// String is t in lower-case hex.
func (t TraceID) String() string { return string(t.AppendHex(make([]byte, 0, 32))) }

// AppendHex appends s as 16 lower-case hex digits.
func (s SpanID) AppendHex(dst []byte) []byte { return appendHex(dst, s[:]) }

// String is s in lower-case hex.
func (s SpanID) String() string { return string(s.AppendHex(make([]byte, 0, 16))) }

// Context is one request's trace context at the gateway. The zero value is
// no context; build one with Start.
type Context struct {
	TraceID TraceID
	Parent  SpanID // the caller's span; zero when the trace starts here
	Span    SpanID // the gateway's span: the parent the upstream sees
	Flags   byte   // trace-flags to forward (FlagSampled or 0)
	Remote  bool   // TraceID and Parent came from a valid incoming traceparent
	// State is the incoming tracestate, at most MaxState bytes, when Remote.
	// It aliases the request's header buffer: valid only while the request
	// is being handled, like every fasthttp byte slice (copy it to keep it).
	State []byte
	// editState says a copy of the incoming headers holds a tracestate
	// other than State (cut, or dropped with a restarted trace).
	editState bool
}

// Start returns the context of a request whose traceparent and tracestate
// header values are parent and state (nil when absent). A valid parent
// keeps its trace id and flags; a missing or invalid one starts a fresh
// trace, sampled, and its tracestate is dropped with it (Trace Context,
// "tracestate Header": a vendor that failed to parse traceparent does not
// parse tracestate). Either way the gateway's span gets a fresh id.
func Start(parent, state []byte) Context {
	var c Context
	var flags byte
	c.TraceID, c.Parent, flags, c.Remote = Parse(parent)
	if c.Remote {
		c.Flags = flags & FlagSampled
		c.State = TrimState(state)
		c.editState = len(c.State) != len(state)
	} else {
		c.TraceID, c.Flags, c.editState = NewTraceID(), FlagSampled, len(state) > 0
	}
	c.Span = NewSpanID()
	return c
}

// FromRequest is Start with the first traceparent and tracestate of h.
// With fasthttp's default key normalizing the keys are looked up in
// canonical form, skipping normalization.
func FromRequest(h *fasthttp.RequestHeader) Context {
	if h.DisableNormalizing() { // sets it and returns the previous setting
		return Start(h.Peek(HeaderParent), h.Peek(HeaderState))
	}
	h.EnableNormalizing()
	return Start(h.PeekCanonical([]byte("Traceparent")), h.PeekCanonical([]byte("Tracestate")))
}

// Child returns a context for a span under c's span (one upstream attempt,
// say): same trace, flags and state, c.Span as its parent, a fresh id.
func (c Context) Child() Context {
	c.Parent, c.Span = c.Span, NewSpanID()
	return c
}

// Parse parses a traceparent value (Trace Context, "traceparent Header").
// Version 00 must be exactly 55 characters; a higher version is read by its
// version 00 prefix as "Versioning of traceparent" asks (at least 55 characters, and a '-' after the flags if
// longer); version ff is invalid. Every field is lower-case hex, and an
// all-zero trace-id or parent-id is invalid.
func Parse(v []byte) (tid TraceID, pid SpanID, flags byte, ok bool) {
	if len(v) < parentLen || v[2] != '-' || v[35] != '-' || v[52] != '-' {
		return tid, pid, 0, false
	}
	var ver [1]byte
	if !decodeHex(ver[:], v[0:2]) || ver[0] == 0xff {
		return tid, pid, 0, false
	}
	if len(v) > parentLen && (ver[0] == 0 || v[parentLen] != '-') {
		return tid, pid, 0, false
	}
	var fl [1]byte
	if !decodeHex(tid[:], v[3:35]) || !decodeHex(pid[:], v[36:52]) || !decodeHex(fl[:], v[53:55]) {
		return TraceID{}, SpanID{}, 0, false
	}
	if !tid.IsValid() || !pid.IsValid() {
		return TraceID{}, SpanID{}, 0, false
	}
	return tid, pid, fl[0], true
}

// AppendParent appends c's outgoing traceparent: version 00, c's trace id,
// c.Span as parent-id, c.Flags.
func (c *Context) AppendParent(dst []byte) []byte {
	var buf [parentLen]byte
	c.formatParent(&buf)
	return append(dst, buf[:]...)
}

// formatParent writes c's outgoing traceparent into b.
func (c *Context) formatParent(b *[parentLen]byte) {
	b[0], b[1], b[2], b[35], b[52] = '0', '0', '-', '-', '-'
	encodeHex(b[3:35], c.TraceID[:])
	encodeHex(b[36:52], c.Span[:])
	b[53], b[54] = lowerHex[c.Flags>>4], lowerHex[c.Flags&0x0f]
}

// Inject writes c into h, which holds a copy of the incoming request's
// headers (the proxy copies them all): traceparent is replaced, with c.Span
// as parent; tracestate is left as copied, every field line of it, unless
// it must change: cut to MaxState, or removed with a trace restarted here.
// It allocates nothing once h's buffers have grown.
func (c *Context) Inject(h *fasthttp.RequestHeader) {
	c.setParent(h)
	if c.editState {
		c.setState(h)
	}
}

// InjectNew writes c into h, headers built afresh rather than copied (the
// WebSocket dial, the cache's background refresh): traceparent, and
// tracestate when c has one.
func (c *Context) InjectNew(h *fasthttp.RequestHeader) {
	c.setParent(h)
	c.setState(h)
}

// setParent writes traceparent. With fasthttp's default header key
// normalizing the key is set in canonical form, skipping normalization.
func (c *Context) setParent(h *fasthttp.RequestHeader) {
	var buf [parentLen]byte
	c.formatParent(&buf)
	// fasthttp has no getter for the setting: DisableNormalizing sets it
	// and returns the previous one, which is put back.
	if h.DisableNormalizing() {
		h.SetBytesV(HeaderParent, buf[:])
	} else {
		h.EnableNormalizing()
		h.SetCanonical([]byte("Traceparent"), buf[:])
	}
	if len(h.PeekAll(HeaderParent)) > 1 {
		dropExtraParents(h, buf[:])
	}
}

// dropExtraParents leaves h with one traceparent line, parent, when the
// request carried several: the first was the one parsed, and no other may
// reach the upstream beside the gateway's (fasthttp's Set replaces only the
// first). fasthttp's Del moves the last field into the deleted one's place,
// so the tracestate lines, whose order is the list's (Trace Context,
// "tracestate Header"), are taken out and put back in order.
func dropExtraParents(h *fasthttp.RequestHeader, parent []byte) {
	var states [][]byte
	for _, v := range h.PeekAll(HeaderState) {
		states = append(states, bytes.Clone(v))
	}
	h.Del(HeaderParent)
	h.Del(HeaderState)
	h.SetBytesV(HeaderParent, parent)
	for _, v := range states {
		h.AddBytesV(HeaderState, v)
	}
}

// setState replaces every tracestate line with c.State, or removes them.
func (c *Context) setState(h *fasthttp.RequestHeader) {
	h.Del(HeaderState)
	if len(c.State) > 0 {
		h.SetBytesV(HeaderState, c.State)
	}
}

// TrimState returns state unchanged when it is at most MaxState bytes, else
// its longest prefix of whole list members (split at ',') that fits, or nil
// (Trace Context, "tracestate Limits"). Its members are not parsed: the gateway adds
// none and forwards what it got.
func TrimState(state []byte) []byte {
	state = bytes.TrimSpace(state)
	if len(state) <= MaxState {
		return state
	}
	cut := bytes.LastIndexByte(state[:MaxState+1], ',')
	if cut < 0 {
		return nil
	}
	return bytes.TrimSpace(state[:cut])
}

// NewTraceID returns a random, non-zero trace id.
//
// The ids come from math/rand/v2's global generator, not crypto/rand: it is
// the runtime's per-thread ChaCha8 stream, seeded from the operating
// system's entropy at start, so its outputs cannot be predicted from
// earlier ones, which is what Trace Context asks of trace-ids ("trace-id",
// "Privacy Considerations"), and a call costs a few nanoseconds with no lock and no
// system call. crypto/rand costs a system call or a lock per read; an id
// needs uniqueness and unpredictability, not a secret.
func NewTraceID() TraceID {
	var t TraceID
	for !t.IsValid() {
		binary.LittleEndian.PutUint64(t[:8], rand.Uint64())
		binary.LittleEndian.PutUint64(t[8:], rand.Uint64())
	}
	return t
}

// NewSpanID returns a random, non-zero span id (see NewTraceID).
func NewSpanID() SpanID {
	var s SpanID
	for !s.IsValid() {
		binary.LittleEndian.PutUint64(s[:], rand.Uint64())
	}
	return s
}
