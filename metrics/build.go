package metrics

import (
	"runtime"
	"runtime/debug"
)

// BuildInfo identifies the running binary, for the gateway_build_info
// metric and /admin/stats.
type BuildInfo struct {
	Version   string `json:"version"`   // module version, or "(devel)" for a plain go build
	Commit    string `json:"commit"`    // VCS revision, "+dirty" when modified; "" when unknown
	GoVersion string `json:"goVersion"` // toolchain that built the binary
}

// ReadBuildInfo returns what the Go toolchain stamped into the binary: the
// main module's version and the VCS revision (go build records both by
// default). It needs no -ldflags and no package variable.
func ReadBuildInfo() BuildInfo {
	b := BuildInfo{Version: "(devel)", GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Commit = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && b.Commit != "" {
		b.Commit += "+dirty"
	}
	return b
}
