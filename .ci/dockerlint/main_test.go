package main

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestLint: the gateway's Dockerfile has no findings, and each kind of
// mistake the checks exist for is reported by its rule.
func TestLint(t *testing.T) {
	gateway, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, dockerfile, rule string // rule "" = no findings
	}{
		{"the gateway's Dockerfile", string(gateway), ""},
		{"shell-form entrypoint", "FROM scratch\nENTRYPOINT /gateway\n", "JSONArgsRecommended"},
		{"misspelt build argument", "FROM scratch\nARG VERSION\nENV APP_VERSION=${VERSON}\n", "UndefinedVar"},
		{"relative WORKDIR", "FROM scratch\nWORKDIR app\n", "WorkdirRelativePath"},
		{"secret in ENV", "FROM scratch\nENV JWT_SECRET=abc\n", "SecretsUsedInArgOrEnv"},
		{"mixed casing", "FROM golang:1.26 as build\n", "FromAsCasing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			n, err := lint(context.Background(), []byte(tt.dockerfile), &out)
			if err != nil {
				t.Fatal(err)
			}
			if tt.rule == "" && n != 0 {
				t.Fatalf("%d findings:\n%s", n, out.String())
			}
			if tt.rule != "" && !strings.Contains(out.String(), ": "+tt.rule+": ") {
				t.Fatalf("no %s finding in:\n%s", tt.rule, out.String())
			}
		})
	}
}
