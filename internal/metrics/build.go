package metrics

import (
	"runtime"
	"runtime/debug"

	"gateway/internal/buildinfo"
)

// BuildInfo identifies the running binary, for the gateway_build_info
// metric and /admin/stats.
type BuildInfo struct {
	Version   string `json:"version"`   // the release version set with -X, else the module version, else "(devel)"
	Commit    string `json:"commit"`    // VCS revision, "+dirty" when modified; "" when unknown
	GoVersion string `json:"goVersion"` // toolchain that built the binary
}

// ReadBuildInfo returns the binary's version (buildinfo.Version: the one a
// release build sets with -ldflags -X, else what the toolchain recorded) and
// the VCS revision go build records by default.
func ReadBuildInfo() BuildInfo {
	b := BuildInfo{Version: buildinfo.Version(), GoVersion: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
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
