package main

import (
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// contextMatcher reads .dockerignore with the parser and matcher Docker
// and BuildKit use.
func contextMatcher(t *testing.T) *patternmatcher.PatternMatcher {
	t.Helper()
	f, err := os.Open(".dockerignore")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return pm
}

// TestDockerignore: what must never reach the build context stays out,
// and what go build needs stays in.
func TestDockerignore(t *testing.T) {
	pm := contextMatcher(t)
	tests := []struct {
		path     string
		excluded bool
	}{
		{".git/config", true},
		{".git", true},
		{".env", true},
		{".env.local", true},
		{"bin/gateway", true},
		{"cpu.prof", true},
		{"app/app.test", true},
		{"handlers/proxy_test.go", true},
		{"handlers/testdata/fuzz/FuzzChunkDecoder/x", true},
		{"bench/streams/main.go", true},
		{"deploy/kubernetes/base/deployment.yaml", true},
		{".ci/run", true},
		{"go.mod", false},
		{"go.sum", false},
		{"main.go", false},
		{"handlers/proxy.go", false},
		{"internal/buildinfo/buildinfo.go", false},
		{"views/views.go", false},
		{"views/admin.html", false},
		{"views/admin.css", false},
		{"views/admin.js", false},
	}
	for _, tt := range tests {
		got, err := pm.MatchesOrParentMatches(tt.path)
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.excluded {
			t.Errorf("%s: excluded %v, want %v", tt.path, got, tt.excluded)
		}
	}
}

// TestDockerContextBuilds copies the tree as `docker build` would send it
// (everything .dockerignore leaves) and runs the Dockerfile's build line in
// that copy: the context holds all that the build needs.
func TestDockerContextBuilds(t *testing.T) {
	pm := contextMatcher(t)
	ctxDir := t.TempDir()
	var files, size int64
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == "." {
			return err
		}
		out, err := pm.MatchesOrParentMatches(filepath.ToSlash(p))
		if err != nil {
			return err
		}
		switch {
		case out && d.IsDir():
			return filepath.SkipDir
		case out || d.IsDir():
			return nil
		}
		files++
		info, err := d.Info()
		if err != nil {
			return err
		}
		size += info.Size()
		return copyFile(p, filepath.Join(ctxDir, p))
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("build context: %d files, %d KiB", files, size>>10)
	bin := buildAsDockerfileIn(t, ctxDir, "v0.0.0-context")
	code, stdout, _ := runIn(t, bin, t.TempDir(), cleanEnv(), "version")
	if code != 0 || strings.TrimSpace(stdout) != "v0.0.0-context" {
		t.Fatalf("the binary built from the context says %q (exit %d)", stdout, code)
	}
}

func copyFile(from, to string) error {
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return err
	}
	src, err := os.Open(from)
	if err != nil {
		return err
	}
	defer src.Close()
	dst, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(dst, src); err != nil {
		dst.Close()
		return err
	}
	return dst.Close()
}
