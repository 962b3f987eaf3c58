package buildinfo

import (
	"runtime/debug"
	"testing"
)

func TestPick(t *testing.T) {
	withMain := func(v string) func() (*debug.BuildInfo, bool) {
		return func() (*debug.BuildInfo, bool) { return &debug.BuildInfo{Main: debug.Module{Version: v}}, true }
	}
	none := func() (*debug.BuildInfo, bool) { return nil, false }
	tests := []struct {
		name     string
		stamped  string
		read     func() (*debug.BuildInfo, bool)
		expected string
	}{
		{"stamped wins over the module version", "v1.2.3", withMain("v0.9.0"), "v1.2.3"},
		{"module version when not stamped", "", withMain("v0.9.0"), "v0.9.0"},
		{"work tree build", "", withMain(""), Devel},
		{"no build info", "", none, Devel},
		{"stamped without build info", "v2.0.0-3-gabc-dirty", none, "v2.0.0-3-gabc-dirty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := pick(tt.stamped, tt.read); got != tt.expected {
				t.Errorf("pick(%q) = %q, want %q", tt.stamped, got, tt.expected)
			}
		})
	}
}

// A test binary is built without -X: Version must fall back, not be empty.
func TestVersionUnstamped(t *testing.T) {
	if got := Version(); got == "" {
		t.Fatal("Version() is empty")
	}
}
