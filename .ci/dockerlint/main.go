// Command dockerlint checks a Dockerfile with BuildKit's own build checks,
// the rules `docker build --check` runs (https://docs.docker.com/reference/build-checks/),
// and exits 1 when any rule reports, printing each finding.
//
// hadolint, the usual Dockerfile linter, is a Haskell program with no Debian
// package and no Go module, and this project reaches no other download; so
// CI runs BuildKit's checks instead, offline. Base images are not fetched:
// an image config with no environment stands in for each FROM, which the
// checks that look at a base image (its platform, its ENV) then see as empty.
//
// It is a module of its own so that BuildKit's dependencies stay out of the
// gateway's go.mod.
//
//	go run . ../../Dockerfile
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/moby/buildkit/client/llb"
	"github.com/moby/buildkit/client/llb/sourceresolver"
	"github.com/moby/buildkit/frontend/dockerfile/dockerfile2llb"
	"github.com/moby/buildkit/frontend/dockerui"
	digest "github.com/opencontainers/go-digest"
	ocispecs "github.com/opencontainers/image-spec/specs-go/v1"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: dockerlint Dockerfile")
		os.Exit(2)
	}
	dt, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockerlint:", err)
		os.Exit(2)
	}
	n, err := lint(context.Background(), dt, os.Stdout)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dockerlint:", err)
		os.Exit(2)
	}
	if n > 0 {
		fmt.Fprintf(os.Stdout, "dockerlint: %s: %d finding(s)\n", os.Args[1], n)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stdout, "dockerlint: %s: no findings\n", os.Args[1])
}

// lint runs BuildKit's checks on the Dockerfile dt, with every build
// argument unset (as `docker build` without --build-arg), writing one line
// per finding to w and returning how many there were. A Dockerfile that
// does not parse is an error.
func lint(ctx context.Context, dt []byte, w io.Writer) (int, error) {
	src := llb.Scratch()
	def, err := src.Marshal(ctx)
	if err != nil {
		return 0, err
	}
	smap := llb.NewSourceMap(&src, "Dockerfile", "Dockerfile", dt)
	smap.Definition = def
	res, err := dockerfile2llb.DockerfileLint(ctx, dt, dockerfile2llb.ConvertOpt{
		Config:       dockerui.Config{},
		SourceMap:    smap,
		MetaResolver: emptyImages{},
	})
	if err != nil {
		return 0, err
	}
	if res.Error != nil {
		return 0, fmt.Errorf("%s", res.Error.Message)
	}
	for _, warn := range res.Warnings {
		line := 0
		if warn.Location != nil && len(warn.Location.Ranges) > 0 {
			line = int(warn.Location.Ranges[0].Start.Line)
		}
		fmt.Fprintf(w, "line %d: %s: %s (%s)\n", line, warn.RuleName, warn.Detail, warn.URL)
	}
	return len(res.Warnings), nil
}

// emptyImages resolves every base image to an empty linux/amd64 config,
// without a registry.
type emptyImages struct{}

func (emptyImages) ResolveImageConfig(_ context.Context, ref string, _ sourceresolver.Opt) (string, digest.Digest, []byte, error) {
	cfg, err := json.Marshal(ocispecs.Image{Platform: ocispecs.Platform{OS: "linux", Architecture: "amd64"}})
	if err != nil {
		return "", "", nil, err
	}
	return ref, digest.FromBytes(cfg), cfg, nil
}
