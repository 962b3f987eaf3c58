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

// BenchmarkRoute measures Route+Done, the proxy's hot path, with the
// decision log off and on: the difference is the cost of recording one
// decision (target: at most 100 ns, and 0 allocs/op either way).
func BenchmarkRoute(b *testing.B) {
	id := []byte("5f0c1a2b3c4d5e6f-1a2b3c")
	for _, size := range []int{0, 4096} {
		for _, n := range []int{2, 8} {
			p, err := New(Options{Services: map[string][]string{"s": urls(n)}, DecisionLogSize: size})
			if err != nil {
				b.Fatal(err)
			}
			svc := p.Service("s")
			ok := Outcome{Status: 200}
			name := "log=" + strconv.Itoa(size) + "/" + strconv.Itoa(n) + "upstreams"
			b.Run(name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					tr := Trace{RequestID: id}
					l, err := svc.Route(&tr)
					if err != nil {
						b.Fatal(err)
					}
					l.Done(ok)
				}
			})
			b.Run(name+"/parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						tr := Trace{RequestID: id}
						l, err := svc.Route(&tr)
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
}

// BenchmarkRecordDecision isolates what the decision log adds to a request:
// noting two compared candidates and writing the entry into the ring.
func BenchmarkRecordDecision(b *testing.B) {
	p, err := New(Options{Services: map[string][]string{"s": urls(2)}, DecisionLogSize: 4096})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	svc := p.Service("s")
	log := p.sh.decisions
	id := []byte("5f0c1a2b3c4d5e6f-1a2b3c")
	b.ReportAllocs()
	for b.Loop() {
		tr := Trace{RequestID: id}
		q := query{log: true}
		q.note(svc.ups[0], 1, skipNone)
		q.note(svc.ups[1], 2, skipNone)
		tr.entry = svc.logDecision(log, &tr, &q, svc.ups[0])
	}
}
