package upstream

import (
	"strconv"
	"testing"
)

// BenchmarkPickDone measures the request hot path with every breaker closed,
// on the real clock and random source, sequentially and from all CPUs. It
// must report 0 allocs/op.
func BenchmarkPickDone(b *testing.B) {
	for _, n := range []int{2, 8} {
		p, err := New(Options{Services: map[string][]string{"s": urls(n)}})
		if err != nil {
			b.Fatal(err)
		}
		svc := p.Service("s")
		ok := Outcome{Status: 200}
		b.Run(strconv.Itoa(n)+"upstreams", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				l, err := svc.Pick(nil)
				if err != nil {
					b.Fatal(err)
				}
				l.Done(ok)
			}
		})
		b.Run(strconv.Itoa(n)+"upstreams/parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					l, err := svc.Pick(nil)
					if err != nil {
						b.Fatal(err)
					}
					l.Done(ok)
				}
			})
		})
		p.Close()
	}
}
