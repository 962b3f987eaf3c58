package config

import (
	"reflect"
	"strings"
	"testing"
)

func TestKeyValues(t *testing.T) {
	tests := []struct {
		in   string
		want map[string]string
		err  string
	}{
		{"", map[string]string{}, ""},
		{"  ", map[string]string{}, ""},
		{"api-key=secret", map[string]string{"api-key": "secret"}, ""},
		{" a = 1 , b=2", map[string]string{"a": "1", "b": "2"}, ""},
		{"authorization=Basic%20dXNlcjpwYXNz", map[string]string{"authorization": "Basic dXNlcjpwYXNz"}, ""},
		{"service.version=1.2,deployment.environment=prod", map[string]string{"service.version": "1.2", "deployment.environment": "prod"}, ""},
		{"a=", map[string]string{"a": ""}, ""},
		{"a=b=c", map[string]string{"a": "b=c"}, ""},
		{"novalue", nil, "entry 1 is not key=value"},
		{"a=1,,b=2", nil, "entry 2 is not key=value"},
		{"=1", nil, "entry 1 is not key=value"},
		{"a b=1", nil, "entry 1: the key is not a token"},
		{"a=%zz", nil, "entry 1: the value has a bad %-escape"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := KeyValues(tt.in)
			if tt.err != "" {
				if err == nil || err.Error() != tt.err {
					t.Fatalf("err %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("KeyValues = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestLoadTracing(t *testing.T) {
	tests := []struct {
		name  string
		env   map[string]string
		bad   string // the variable named, "" = loads
		msg   string
		check func(*Config) bool
	}{
		{"defaults", nil, "", "", func(c *Config) bool {
			return c.OTelProtocol == "http/protobuf" && c.OTelServiceName == "gateway" && c.OTelSampler == "parentbased_always_on" && c.OTelSamplerArg == 1 && c.OTelEndpoint == ""
		}},
		{"all set", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://c.example/v1/traces",
			"OTEL_EXPORTER_OTLP_PROTOCOL": "GRPC", "OTEL_EXPORTER_OTLP_HEADERS": "api-key=s3cr3t", "OTEL_SERVICE_NAME": "edge",
			"OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod", "OTEL_TRACES_SAMPLER": "traceidratio",
			"OTEL_TRACES_SAMPLER_ARG": "0.25", "OTEL_SDK_DISABLED": "true",
		}, "", "", func(c *Config) bool {
			return c.OTelEndpoint == "http://collector:4318" && c.OTelTracesEndpoint == "https://c.example/v1/traces" &&
				c.OTelProtocol == "grpc" && c.OTelHeaders == "api-key=s3cr3t" && c.OTelServiceName == "edge" &&
				c.OTelResourceAttributes == "deployment.environment=prod" && c.OTelSampler == "traceidratio" &&
				c.OTelSamplerArg == 0.25 && c.OTelSDKDisabled
		}},
		{"endpoint not a URL", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT", "not an absolute http(s) URL", nil},
		{"traces endpoint not http", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://c/v1/traces"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "not an absolute http(s) URL", nil},
		{"protocol http/json", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, "OTEL_EXPORTER_OTLP_PROTOCOL", "is not one of http/protobuf|grpc", nil},
		{"headers malformed, value not shown", map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "Bearer-s3cr3t"}, "OTEL_EXPORTER_OTLP_HEADERS", "entry 1 is not key=value", nil},
		{"attributes malformed", map[string]string{"OTEL_RESOURCE_ATTRIBUTES": "a=%"}, "OTEL_RESOURCE_ATTRIBUTES", "bad %-escape", nil},
		{"sampler unknown", map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}, "OTEL_TRACES_SAMPLER", "is not one of always_on|", nil},
		{"sampler arg over 1", map[string]string{"OTEL_TRACES_SAMPLER_ARG": "1.5"}, "OTEL_TRACES_SAMPLER_ARG", "must be <= 1", nil},
		{"sampler arg not a number", map[string]string{"OTEL_TRACES_SAMPLER_ARG": "half"}, "OTEL_TRACES_SAMPLER_ARG", `"half" is not a number`, nil},
		{"sdk disabled not a boolean", map[string]string{"OTEL_SDK_DISABLED": "sure"}, "OTEL_SDK_DISABLED", "not a boolean", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{"UPSTREAMS": testUpstreams}
			for k, v := range tt.env {
				env[k] = v
			}
			setEnv(t, env)
			c, err := Load("")
			if tt.bad == "" {
				if err != nil || !tt.check(c) {
					t.Fatalf("Load = %+v, %v", c, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.bad) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err %v, want %s: %q", err, tt.bad, tt.msg)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error shows the header value: %v", err)
			}
		})
	}
}
