package tracecontext

import (
	"encoding/hex"
	"regexp"
	"testing"
)

// reference is the traceparent grammar written as a regular expression:
// version, trace-id, parent-id, flags, and for versions other than 00 an
// optional "-" and anything after it.
var reference = regexp.MustCompile(`(?s)^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$`)

// referenceParse is Parse by the regular expression and the spec's rules.
func referenceParse(v string) (trace, parent, flags string, ok bool) {
	m := reference.FindStringSubmatch(v)
	if m == nil || m[1] == "ff" || (m[1] == "00" && m[5] != "") {
		return "", "", "", false
	}
	if m[2] == "00000000000000000000000000000000" || m[3] == "0000000000000000" {
		return "", "", "", false
	}
	return m[2], m[3], m[4], true
}

// FuzzParse checks Parse against the regular-expression reference, and
// that what it accepts round-trips: the outgoing header of a parsed version
// 00 value with the same span is the input (flags cut to the sampled bit).
func FuzzParse(f *testing.F) {
	f.Add(sample)
	f.Add("cc-" + sampleTrace + "-" + sampleParent + "-01-future")
	f.Add("ff-" + sampleTrace + "-" + sampleParent + "-01")
	f.Add("00-" + sampleTrace + "-" + sampleParent + "-01-")
	f.Add("00-00000000000000000000000000000000-" + sampleParent + "-01")
	f.Fuzz(func(t *testing.T, v string) {
		tid, pid, flags, ok := Parse([]byte(v))
		trace, parent, fl, want := referenceParse(v)
		if ok != want {
			t.Fatalf("Parse(%q) ok = %v, reference %v", v, ok, want)
		}
		if !ok {
			return
		}
		if tid.String() != trace || pid.String() != parent || hex.EncodeToString([]byte{flags}) != fl {
			t.Fatalf("Parse(%q) = %s %s %02x, reference %s %s %s", v, tid, pid, flags, trace, parent, fl)
		}
		c := Context{TraceID: tid, Span: pid, Flags: flags & FlagSampled}
		out := string(c.AppendParent(nil))
		if t2, p2, f2, ok2 := Parse([]byte(out)); !ok2 || t2 != tid || p2 != pid || f2 != flags&FlagSampled {
			t.Fatalf("formatted %q does not parse back", out)
		}
	})
}
