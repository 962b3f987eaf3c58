package config

import (
	"fmt"
	"net/url"
	"strings"
)

// validateTracing checks the OTEL_* values that are not struct-tag rules:
// endpoints are absolute http(s) URLs (the gRPC exporter takes the same
// form: http for plain text, https for TLS), and the two key=value lists
// parse.
func validateTracing(c *Config, p *problems) {
	for name, u := range map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":        c.OTelEndpoint,
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": c.OTelTracesEndpoint,
	} {
		if u == "" {
			continue
		}
		for _, msg := range checkHTTPURLs([]string{u}) {
			p.add(name, msg)
		}
	}
	if _, err := KeyValues(c.OTelHeaders); err != nil {
		p.add("OTEL_EXPORTER_OTLP_HEADERS", err.Error()) // names no value: it may hold a credential
	}
	if _, err := KeyValues(c.OTelResourceAttributes); err != nil {
		p.add("OTEL_RESOURCE_ATTRIBUTES", err.Error())
	}
}

// KeyValues parses the list format of OTEL_EXPORTER_OTLP_HEADERS and
// OTEL_RESOURCE_ATTRIBUTES (OpenTelemetry's environment variable
// specification, after the W3C Baggage format): comma-separated key=value
// pairs, surrounding spaces trimmed, values percent-decoded. Empty input is
// an empty map. Errors name the position of a bad pair, not its text, as a
// header value may be a credential.
func KeyValues(s string) (map[string]string, error) {
	out := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	for i, pair := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, fmt.Errorf("entry %d is not key=value", i+1)
		}
		if !isToken(k) {
			return nil, fmt.Errorf("entry %d: the key is not a token", i+1)
		}
		dv, err := url.PathUnescape(strings.TrimSpace(v))
		if err != nil {
			return nil, fmt.Errorf("entry %d: the value has a bad %%-escape", i+1)
		}
		out[k] = dv
	}
	return out, nil
}
