package loadgen

import (
	"testing"
	"time"
)

// Outputs of wrk 4.1.0 (Debian 12), with and without the harness script.
const (
	wrkWithScript = `Running 1s test @ http://127.0.0.1:18765/json
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.20ms    5.52ms  44.76ms   88.83%
    Req/Sec     0.88k   343.16     1.26k    50.00%
  Latency Distribution
     50%    5.83ms
     75%    8.96ms
     90%   12.52ms
     99%   31.30ms
  878 requests in 1.00s, 177.49KB read
Requests/sec:    873.65
Transfer/sec:    176.61KB
bench-wrk requests=878 duration_us=1004984 bytes=181746 connect=0 read=0 write=0 status=0 timeout=0
bench-wrk-latency-us p50=5828 p90=12516 p99=31304 p99.9=44756 max=44756 mean=7195.1
`
	wrkHumanOnly = `Running 10s test @ http://127.0.0.1:8080/api/bench/json
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.52ms  210.33us   9.87ms   91.02%
    Req/Sec    42.11k     1.02k   44.90k    71.00%
  Latency Distribution
     50%    1.49ms
     75%    1.58ms
     90%    1.70ms
     99%    2.31ms
  419032 requests in 10.00s, 256.12MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 17
Requests/sec:  41902.55
Transfer/sec:     25.61MB
`
	wrkStatusErrors = `  920 requests in 1.01s, 467.19KB read
  Non-2xx or 3xx responses: 920
Requests/sec:    912.51
bench-wrk requests=920 duration_us=1008206 bytes=478400 connect=1 read=2 write=0 status=920 timeout=4
bench-wrk-latency-us p50=5099 p90=12533 p99=20841 p99.9=24947 max=24947 mean=6563.0
`
	wrkMinutes = `  1200345 requests in 1.00m, 1.20GB read
Requests/sec:  20005.75
`
)

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Result
		wantErr bool
	}{
		{
			name: "with the script: exact lines win",
			in:   wrkWithScript,
			want: Result{Requests: 878, Elapsed: 1004984 * time.Microsecond, From: "send", Latency: Latency{
				P50: 5828 * time.Microsecond, P90: 12516 * time.Microsecond, P99: 31304 * time.Microsecond,
				P999: 44756 * time.Microsecond, Max: 44756 * time.Microsecond, Mean: 7195100 * time.Nanosecond}},
		},
		{
			name: "human output only",
			in:   wrkHumanOnly,
			want: Result{Requests: 419032, Elapsed: 10 * time.Second, Errors: 6, Non2xx: 17, From: "send", Latency: Latency{
				P50: 1490 * time.Microsecond, P90: 1700 * time.Microsecond, P99: 2310 * time.Microsecond}},
		},
		{
			name: "status and socket errors from the script",
			in:   wrkStatusErrors,
			want: Result{Requests: 920, Elapsed: 1008206 * time.Microsecond, Errors: 7, Non2xx: 920, From: "send", Latency: Latency{
				P50: 5099 * time.Microsecond, P90: 12533 * time.Microsecond, P99: 20841 * time.Microsecond,
				P999: 24947 * time.Microsecond, Max: 24947 * time.Microsecond, Mean: 6563 * time.Microsecond}},
		},
		{name: "minutes", in: wrkMinutes, want: Result{Requests: 1200345, Elapsed: time.Minute, From: "send"}},
		{name: "no summary (wrk failed)", in: "unable to connect to 127.0.0.1:1 Connection refused\n", wantErr: true},
		{name: "bad script field", in: "bench-wrk requests=x\n", wantErr: true},
		{name: "script line missing a count", in: "bench-wrk requests=1 duration_us=5\n", wantErr: true},
		{name: "bad quantile", in: "  1 requests in 1.00s, 1KB read\n     50%    fast\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWrk(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if !tt.wantErr && got != tt.want {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestResultRates(t *testing.T) {
	r := Result{Requests: 5000, Elapsed: 2 * time.Second, Non2xx: 1, Errors: 2, Missed: 3}
	if r.RPS() != 2500 || r.Failures() != 6 {
		t.Errorf("RPS %v failures %d", r.RPS(), r.Failures())
	}
	if (Result{}).RPS() != 0 {
		t.Error("RPS of an empty result not 0")
	}
}
