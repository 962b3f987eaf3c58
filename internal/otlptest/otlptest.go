// Package otlptest is an OTLP/HTTP trace receiver for tests: the
// collector's side of the protocol (POST /v1/traces, protobuf), built from
// the collector's own protobuf types (go.opentelemetry.io/proto/otlp), on
// a loopback port. It keeps every span it got, flattened for comparisons.
// It also serves as the sink of the load harness (bench/cmd/load).
package otlptest

import (
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Span is one received span, its ids in lower-case hex as traceparent
// writes them and its attributes as strings.
type Span struct {
	Name         string
	Kind         tracepb.Span_SpanKind
	TraceID      string
	SpanID       string
	ParentSpanID string // "" for a root
	Attrs        map[string]string
	Status       *tracepb.Status
	Events       []Event
	Resource     map[string]string
}

// Event is one span event.
type Event struct {
	Name  string
	Attrs map[string]string
}

// Receiver is the http.Handler of an OTLP/HTTP trace receiver. The zero
// value is ready; with Discard set it counts spans without keeping them (a
// sink for load tests).
type Receiver struct {
	Discard bool

	mu       sync.Mutex
	spans    []Span
	count    int
	requests int
}

// ServeHTTP decodes one ExportTraceServiceRequest (OTLP specification,
// "OTLP/HTTP Request") and answers with an empty ExportTraceServiceResponse.
func (r *Receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
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
	r.record(&msg)
	out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// record keeps msg's spans.
func (r *Receiver) record(msg *coltracepb.ExportTraceServiceRequest) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests++
	for _, rs := range msg.GetResourceSpans() {
		res := attrMap(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			r.count += len(ss.GetSpans())
			if r.Discard {
				continue
			}
			for _, s := range ss.GetSpans() {
				r.spans = append(r.spans, flatten(s, res))
			}
		}
	}
}

// flatten turns an OTLP span into a Span.
func flatten(s *tracepb.Span, res map[string]string) Span {
	out := Span{
		Name: s.GetName(), Kind: s.GetKind(),
		TraceID: hex.EncodeToString(s.GetTraceId()), SpanID: hex.EncodeToString(s.GetSpanId()),
		Attrs: attrMap(s.GetAttributes()), Status: s.GetStatus(), Resource: res,
	}
	if p := s.GetParentSpanId(); len(p) > 0 {
		out.ParentSpanID = hex.EncodeToString(p)
	}
	for _, e := range s.GetEvents() {
		out.Events = append(out.Events, Event{Name: e.GetName(), Attrs: attrMap(e.GetAttributes())})
	}
	return out
}

// Spans returns the spans received so far.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Count returns how many spans and export requests arrived so far.
func (r *Receiver) Count() (spans, requests int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.count, r.requests
}

// Wait polls until match returns true for the spans received, or timeout
// passes; it returns the spans and whether match held.
func (r *Receiver) Wait(timeout time.Duration, match func([]Span) bool) ([]Span, bool) {
	deadline := time.Now().Add(timeout)
	for {
		spans := r.Spans()
		if match(spans) {
			return spans, true
		}
		if time.Now().After(deadline) {
			return spans, false
		}
		time.Sleep(10 * time.Millisecond) // polling interval, bounded by the deadline
	}
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
		return strconv.FormatBool(x.BoolValue)
	case *commonpb.AnyValue_DoubleValue:
		return strconv.FormatFloat(x.DoubleValue, 'g', -1, 64)
	}
	return "?"
}
