package tracecontext

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

const (
	sampleTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
	sampleParent = "00f067aa0ba902b7"
	sample       = "00-" + sampleTrace + "-" + sampleParent + "-01"
)

func TestParse(t *testing.T) {
	zeroTrace := strings.Repeat("0", 32)
	zeroSpan := strings.Repeat("0", 16)
	tests := []struct {
		name  string
		in    string
		ok    bool
		flags byte
	}{
		{"version 00 sampled", sample, true, 1},
		{"version 00 not sampled", "00-" + sampleTrace + "-" + sampleParent + "-00", true, 0},
		{"unknown flags kept by Parse", "00-" + sampleTrace + "-" + sampleParent + "-09", true, 9},
		{"version 00 longer", sample + "-x", false, 0},
		{"version 00 one more byte", sample + "0", false, 0},
		{"future version", "cc-" + sampleTrace + "-" + sampleParent + "-01", true, 1},
		{"future version with more fields", "cc-" + sampleTrace + "-" + sampleParent + "-01-what-the-future-holds", true, 1},
		{"future version, no dash after flags", "cc-" + sampleTrace + "-" + sampleParent + "-01x", false, 0},
		{"version ff", "ff-" + sampleTrace + "-" + sampleParent + "-01", false, 0},
		{"upper-case version", "0A-" + sampleTrace + "-" + sampleParent + "-01", false, 0},
		{"upper-case trace id", "00-" + strings.ToUpper(sampleTrace) + "-" + sampleParent + "-01", false, 0},
		{"upper-case parent id", "00-" + sampleTrace + "-00F067AA0BA902B7-01", false, 0},
		{"upper-case flags", "00-" + sampleTrace + "-" + sampleParent + "-0A", false, 0},
		{"zero trace id", "00-" + zeroTrace + "-" + sampleParent + "-01", false, 0},
		{"zero parent id", "00-" + sampleTrace + "-" + zeroSpan + "-01", false, 0},
		{"short", sample[:54], false, 0},
		{"empty", "", false, 0},
		{"non-hex in trace id", "00-" + sampleTrace[:31] + "g-" + sampleParent + "-01", false, 0},
		{"wrong separator", "00_" + sampleTrace + "-" + sampleParent + "-01", false, 0},
		{"missing separator", "00-" + sampleTrace + sampleParent + "--01", false, 0},
		{"spaces", " " + sample[1:], false, 0},
		{"non-ASCII", "00-" + sampleTrace[:31] + "\xff-" + sampleParent + "-01", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tid, pid, flags, ok := Parse([]byte(tt.in))
			if ok != tt.ok {
				t.Fatalf("Parse(%q) ok = %v, want %v", tt.in, ok, tt.ok)
			}
			if !ok {
				if tid.IsValid() || pid.IsValid() || flags != 0 {
					t.Fatalf("invalid input left ids %s %s %x", tid, pid, flags)
				}
				return
			}
			if tid.String() != sampleTrace || pid.String() != sampleParent || flags != tt.flags {
				t.Fatalf("Parse = %s %s %02x", tid, pid, flags)
			}
		})
	}
}

var outgoing = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-0[01]$`)

func TestStartKeepsAValidTrace(t *testing.T) {
	c := Start([]byte(sample), []byte("congo=t61rcWkgMzE, rojo=00f067aa0ba902b7"))
	if !c.Remote || c.TraceID.String() != sampleTrace || c.Parent.String() != sampleParent || c.Flags != FlagSampled {
		t.Fatalf("Start = %+v", c)
	}
	if !c.Span.IsValid() || c.Span == c.Parent {
		t.Fatalf("span id %s: not fresh", c.Span)
	}
	if string(c.State) != "congo=t61rcWkgMzE, rojo=00f067aa0ba902b7" {
		t.Fatalf("state %q", c.State)
	}
	out := string(c.AppendParent(nil))
	if out != "00-"+sampleTrace+"-"+c.Span.String()+"-01" {
		t.Fatalf("outgoing %q", out)
	}
}

func TestStartFresh(t *testing.T) {
	for _, in := range []string{"", "garbage", "00-" + strings.Repeat("0", 32) + "-" + sampleParent + "-01"} {
		t.Run(in, func(t *testing.T) {
			c := Start([]byte(in), []byte("congo=t61rcWkgMzE"))
			if c.Remote || c.Parent.IsValid() || !c.TraceID.IsValid() || !c.Span.IsValid() || c.State != nil || c.Flags != FlagSampled {
				t.Fatalf("Start(%q) = %+v, want a fresh sampled trace without state", in, c)
			}
			if m := outgoing.FindStringSubmatch(string(c.AppendParent(nil))); m == nil || m[1] != c.TraceID.String() {
				t.Fatalf("outgoing %q", c.AppendParent(nil))
			}
		})
	}
}

func TestStartDropsUnknownFlags(t *testing.T) {
	c := Start([]byte("00-"+sampleTrace+"-"+sampleParent+"-ff"), nil)
	if c.Flags != FlagSampled {
		t.Fatalf("flags %02x, want only the sampled bit", c.Flags)
	}
	c = Start([]byte("00-"+sampleTrace+"-"+sampleParent+"-fe"), nil)
	if c.Flags != 0 {
		t.Fatalf("flags %02x, want 0", c.Flags)
	}
}

func TestIDsAreFreshAndNonZero(t *testing.T) {
	seen := map[TraceID]bool{}
	spans := map[SpanID]bool{}
	for range 10000 {
		tid, sid := NewTraceID(), NewSpanID()
		if !tid.IsValid() || !sid.IsValid() || seen[tid] || spans[sid] {
			t.Fatalf("id repeated or zero: %s %s", tid, sid)
		}
		seen[tid], spans[sid] = true, true
	}
}

func TestChild(t *testing.T) {
	c := Start([]byte(sample), []byte("a=1"))
	ch := c.Child()
	if ch.TraceID != c.TraceID || ch.Parent != c.Span || ch.Span == c.Span || !ch.Span.IsValid() || string(ch.State) != "a=1" || ch.Flags != c.Flags {
		t.Fatalf("Child = %+v of %+v", ch, c)
	}
}

func TestTrimState(t *testing.T) {
	member := func(i int) string { return "k" + strings.Repeat("x", 20) + "=" + string(rune('a'+i%26)) }
	var long []string
	for i := range 40 {
		long = append(long, member(i))
	}
	longState := strings.Join(long, ",")
	tests := []struct{ name, in, want string }{
		{"empty", "", ""},
		{"kept", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"},
		{"surrounding space", "  a=1 ", "a=1"},
		{"exactly the max", strings.Repeat("a", MaxState-2) + "=1", strings.Repeat("a", MaxState-2) + "=1"},
		{"one member too long", strings.Repeat("a", MaxState) + "=1", ""},
		{"cut at a member", longState, longState[:strings.LastIndexByte(longState[:MaxState+1], ',')]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(TrimState([]byte(tt.in)))
			if got != tt.want || len(got) > MaxState {
				t.Fatalf("TrimState = %q (%d bytes), want %q", got, len(got), tt.want)
			}
		})
	}
}

// copied is a request header as the proxy builds it: a copy of the
// client's, holding the client's traceparent and tracestate lines.
func copied(parent string, states ...string) *fasthttp.RequestHeader {
	var h fasthttp.RequestHeader
	h.Set("Host", "upstream")
	h.Set("traceparent", parent)
	for _, s := range states {
		h.Add("tracestate", s)
	}
	return &h
}

func TestInject(t *testing.T) {
	long := strings.Repeat("k=v,", MaxState/4+10)
	tests := []struct {
		name       string
		parent     string
		states     []string
		wantStates []string
	}{
		{"state kept as copied", sample, []string{"congo=t61rcWkgMzE"}, []string{"congo=t61rcWkgMzE"}},
		{"every state line kept", sample, []string{"a=1", "b=2"}, []string{"a=1", "b=2"}},
		{"no state", sample, nil, nil},
		{"state cut", sample, []string{long}, []string{long[:strings.LastIndexByte(long[:MaxState+1], ',')]}},
		{"state dropped with a restarted trace", "junk", []string{"congo=t61rcWkgMzE", "b=2"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := copied(tt.parent, tt.states...)
			var first []byte
			if len(tt.states) > 0 {
				first = []byte(tt.states[0])
			}
			c := Start(in.Peek(HeaderParent), first)
			out := copied(tt.parent, tt.states...)
			c.Inject(out)
			checkInjected(t, out, &c, tt.wantStates)
		})
	}
}

// checkInjected checks h carries exactly one traceparent, c's, and the
// tracestate lines want.
func checkInjected(t *testing.T, h *fasthttp.RequestHeader, c *Context, want []string) {
	t.Helper()
	var parents []string // PeekAll's result is reused by the next call: copy it
	for _, v := range h.PeekAll(HeaderParent) {
		parents = append(parents, string(v))
	}
	if len(parents) != 1 || parents[0] != string(c.AppendParent(nil)) {
		t.Fatalf("traceparent lines %q, want one %q", parents, c.AppendParent(nil))
	}
	var got []string
	for _, v := range h.PeekAll(HeaderState) {
		got = append(got, string(v))
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("tracestate lines %q, want %q", got, want)
	}
}

// TestInjectReplacesEveryParentLine: a request with two traceparent lines
// is continued by the first, and only the gateway's reaches the upstream.
func TestInjectReplacesEveryParentLine(t *testing.T) {
	second := "00-" + strings.Repeat("ab", 16) + "-" + strings.Repeat("cd", 8) + "-01"
	in := copied(sample, "a=1", "b=2", "c=3")
	in.Add(HeaderParent, second)
	c := FromRequest(in)
	if c.TraceID.String() != sampleTrace {
		t.Fatalf("trace id %s, want the first line's %s", c.TraceID, sampleTrace)
	}
	c.Inject(in)
	checkInjected(t, in, &c, []string{"a=1", "b=2", "c=3"})
	var fresh fasthttp.RequestHeader
	fresh.Add(HeaderParent, sample)
	fresh.Add(HeaderParent, second)
	c.InjectNew(&fresh)
	checkInjected(t, &fresh, &c, []string{"a=1"})
}

func TestInjectNew(t *testing.T) {
	c := Start([]byte(sample), []byte("a=1"))
	var h fasthttp.RequestHeader
	c.InjectNew(&h)
	checkInjected(t, &h, &c, []string{"a=1"})
	fresh := Start(nil, nil)
	var h2 fasthttp.RequestHeader
	h2.Set("tracestate", "stale=1")
	fresh.InjectNew(&h2)
	checkInjected(t, &h2, &fresh, nil)
}

func TestInjectWithoutNormalizing(t *testing.T) {
	var h fasthttp.RequestHeader
	h.DisableNormalizing()
	h.Set("traceparent", sample)
	c := Start([]byte(sample), nil)
	c.Inject(&h)
	if n := bytes.Count(h.Header(), []byte("raceparent:")); n != 1 || string(h.Peek("traceparent")) != string(c.AppendParent(nil)) {
		t.Fatalf("%d traceparent lines, value %q:\n%s", n, h.Peek("traceparent"), h.Header())
	}
}

func TestFromRequest(t *testing.T) {
	for _, raw := range []bool{false, true} {
		var h fasthttp.RequestHeader
		if raw {
			h.DisableNormalizing()
		}
		h.Set("traceparent", sample)
		h.Set("tracestate", "a=1")
		if c := FromRequest(&h); !c.Remote || c.TraceID.String() != sampleTrace || string(c.State) != "a=1" {
			t.Fatalf("FromRequest (raw keys %v) = %+v", raw, c)
		}
		if again := h.DisableNormalizing(); again != raw {
			t.Fatalf("FromRequest changed the normalizing setting to %v", !raw)
		}
	}
}

// BenchmarkPerRequest is what every request pays: parse the incoming
// traceparent and tracestate, a fresh span id, and the outgoing headers
// written into a fasthttp request.
func BenchmarkPerRequest(b *testing.B) {
	in := copied(sample, "congo=t61rcWkgMzE")
	out := copied(sample, "congo=t61rcWkgMzE")
	b.ReportAllocs()
	for b.Loop() {
		c := FromRequest(in)
		c.Inject(out)
	}
}

// BenchmarkParseFormat is the core alone: parse, new span id, format.
func BenchmarkParseFormat(b *testing.B) {
	in := []byte(sample)
	var buf [64]byte
	b.ReportAllocs()
	for b.Loop() {
		c := Start(in, nil)
		_ = c.AppendParent(buf[:0])
	}
}
