package tracing

import (
	"compress/gzip"
	"context"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// receiver is an OTLP trace receiver: the collector's side of the OTLP
// protocol, built from its protobuf types, over HTTP (POST /v1/traces,
// application/x-protobuf) or gRPC (TraceService/Export). It keeps every
// span it got with its resource's attributes, and the headers (or gRPC
// metadata) of the last export.
type receiver struct {
	mu       sync.Mutex
	spans    []gotSpan
	requests int
	headers  map[string]string
	notify   chan struct{} // one tick per export received
	// hang, when set, makes exports wait for the request's end (the
	// client gave up) instead of answering: a collector that is stuck.
	hang bool

	URL string // the HTTP receiver's base URL, or the gRPC one's http://host:port
}

// gotSpan is one received span and the resource it came with.
type gotSpan struct {
	*tracepb.Span
	resource map[string]string
}

// newHTTPReceiver starts an OTLP/HTTP receiver on loopback, closed at the
// test's end.
func newHTTPReceiver(t testing.TB, hang bool) *receiver {
	t.Helper()
	r := &receiver{notify: make(chan struct{}, 1), hang: hang}
	srv := httptest.NewServer(http.HandlerFunc(r.serveHTTP))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// serveHTTP decodes one ExportTraceServiceRequest (OTLP specification,
// "OTLP/HTTP Request") and answers with an empty ExportTraceServiceResponse.
func (r *receiver) serveHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodPost || req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "not an OTLP/HTTP protobuf trace export", http.StatusBadRequest)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	data, err := io.ReadAll(body)
	if err != nil {
		return
	}
	var msg coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(data, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	headers := map[string]string{}
	for k := range req.Header {
		headers[http.CanonicalHeaderKey(k)] = req.Header.Get(k)
	}
	r.record(&msg, headers)
	if r.hang {
		<-req.Context().Done()
		return
	}
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// grpcService is the receiver's gRPC face.
type grpcService struct {
	coltracepb.UnimplementedTraceServiceServer
	r *receiver
}

// Export records one gRPC export, with its metadata as headers.
func (g grpcService) Export(ctx context.Context, msg *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	headers := map[string]string{}
	for k, v := range md {
		headers[http.CanonicalHeaderKey(k)] = v[0]
	}
	g.r.record(msg, headers)
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

// newGRPCReceiver starts an OTLP/gRPC receiver on loopback, stopped at the
// test's end.
func newGRPCReceiver(t testing.TB) *receiver {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &receiver{notify: make(chan struct{}, 1), URL: "http://" + ln.Addr().String()}
	srv := grpc.NewServer()
	coltracepb.RegisterTraceServiceServer(srv, grpcService{r: r})
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return r
}

// record keeps msg's spans.
func (r *receiver) record(msg *coltracepb.ExportTraceServiceRequest, headers map[string]string) {
	r.mu.Lock()
	r.requests++
	r.headers = headers
	for _, rs := range msg.GetResourceSpans() {
		res := attrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, gotSpan{Span: s, resource: res})
			}
		}
	}
	r.mu.Unlock()
	select {
	case r.notify <- struct{}{}:
	default:
	}
}

// got returns the spans and export requests received so far.
func (r *receiver) got() ([]gotSpan, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]gotSpan(nil), r.spans...), r.requests
}

// waitRequests waits until at least n export requests arrived, failing the
// test after a deadline.
func (r *receiver) waitRequests(t *testing.T, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if _, got := r.got(); got >= n {
			return
		}
		select {
		case <-r.notify:
		case <-deadline:
			_, got := r.got()
			t.Fatalf("%d export requests arrived, want at least %d", got, n)
		}
	}
}

// lastHeaders returns the headers of the last export.
func (r *receiver) lastHeaders() map[string]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.headers
}

// attrMap flattens OTLP attributes to strings, for comparisons.
func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		m[kv.GetKey()] = anyString(kv.GetValue())
	}
	return m
}

// anyString renders an OTLP AnyValue of the kinds the gateway sends.
func anyString(v *commonpb.AnyValue) string {
	switch x := v.GetValue().(type) {
	case *commonpb.AnyValue_StringValue:
		return x.StringValue
	case *commonpb.AnyValue_IntValue:
		return strconv.FormatInt(x.IntValue, 10)
	case *commonpb.AnyValue_BoolValue:
		if x.BoolValue {
			return "true"
		}
		return "false"
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	}
	return "?"
}

// hexID is an OTLP id as lower-case hex, as traceparent writes it.
func hexID(b []byte) string { return hex.EncodeToString(b) }
