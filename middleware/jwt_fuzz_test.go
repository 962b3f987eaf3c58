package middleware

import (
	"testing"

	"github.com/valyala/fasthttp"
)

// FuzzDropQueryParam checks dropQueryParam against fasthttp's own parser:
// what fasthttp reads from the result is what it read from the input minus
// every access_token, in the same order.
func FuzzDropQueryParam(f *testing.F) {
	for _, s := range []string{"a=1&access_token=x", "access%5Ftoken=1", "%%&=&access_token", "b+c=%41&&"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, q string) {
		var in, out fasthttp.Args
		in.Parse(q)
		got := dropQueryParam([]byte(q), AccessTokenParam)
		out.ParseBytes(got)
		var want []string
		for k, v := range in.All() {
			if string(k) != AccessTokenParam {
				want = append(want, string(k)+"\x00"+string(v))
			}
		}
		i := 0
		for k, v := range out.All() {
			if i >= len(want) || want[i] != string(k)+"\x00"+string(v) {
				t.Fatalf("dropQueryParam(%q) = %q: pair %d %q=%q unexpected; want %q", q, got, i, k, v, want)
			}
			i++
		}
		if i != len(want) {
			t.Fatalf("dropQueryParam(%q) = %q: %d pairs, want %d", q, got, i, len(want))
		}
	})
}
