package tracing

import (
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.39.0"
)

// otherMethod is http.request.method of a method the semantic conventions
// do not know, and nameOther the span name's method word for it (HTTP
// semantic conventions, "HTTP server" and "Name"): span names and the
// attribute stay of bounded cardinality whatever method a client sends.
const (
	otherMethod = "_OTHER"
	nameOther   = "HTTP"
)

// method is one request's method as the semantic conventions record it.
type method struct {
	name  string               // the word that starts span names
	attrs []attribute.KeyValue // http.request.method, and http.request.method_original for _OTHER
}

// newMethod maps the request's method bytes to their attributes. The
// known ones are the methods of RFC 9110 §9 and PATCH (RFC 5789), the
// well-known values of http.request.method. Method names are
// case-sensitive (RFC 9110 §9.1): "get" is not GET.
func newMethod(m []byte) method {
	if k := knownMethod(m); k != "" {
		return method{name: k, attrs: []attribute.KeyValue{semconv.HTTPRequestMethodKey.String(k)}}
	}
	return method{name: nameOther, attrs: []attribute.KeyValue{
		semconv.HTTPRequestMethodKey.String(otherMethod),
		semconv.HTTPRequestMethodOriginal(string(m)),
	}}
}

// knownMethod returns m as a constant string when it is a known method,
// else "".
func knownMethod(m []byte) string {
	switch string(m) {
	case http.MethodGet:
		return http.MethodGet
	case http.MethodHead:
		return http.MethodHead
	case http.MethodPost:
		return http.MethodPost
	case http.MethodPut:
		return http.MethodPut
	case http.MethodDelete:
		return http.MethodDelete
	case http.MethodConnect:
		return http.MethodConnect
	case http.MethodOptions:
		return http.MethodOptions
	case http.MethodTrace:
		return http.MethodTrace
	case http.MethodPatch:
		return http.MethodPatch
	}
	return ""
}
