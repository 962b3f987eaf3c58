// Package buildinfo holds the version a release build is stamped with.
//
// Release builds set it with the linker, as the Dockerfile and .ci/run do:
//
//	go build -ldflags "-X gateway/internal/buildinfo.version=v1.2.3" .
//
// A plain go build or go run leaves it empty, and Version falls back to what
// the Go toolchain records on its own (runtime/debug.ReadBuildInfo).
package buildinfo

import "runtime/debug"

// version is written by the linker (-X) and never at run time; it is the one
// package-level variable here because -X can set nothing else.
var version string

// Devel is the version of a build that carries none: the Go toolchain's own
// word for a main module built from a work tree.
const Devel = "(devel)"

// Version returns the version set with -X at link time; failing that, the
// main module's version the toolchain recorded (set for go install
// module@version); failing that, Devel.
func Version() string {
	return pick(version, debug.ReadBuildInfo)
}

// pick is Version with its sources passed in, for tests.
func pick(stamped string, read func() (*debug.BuildInfo, bool)) string {
	if stamped != "" {
		return stamped
	}
	if bi, ok := read(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return Devel
}
