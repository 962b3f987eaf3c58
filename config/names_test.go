package config

import (
	"bufio"
	"os"
	"slices"
	"strings"
	"testing"
)

// TestNamesCoverEnvExample: every variable .env.example sets or shows
// commented out is one Names lists, and the other way round, so the list a
// manifest check relies on is the documented one.
func TestNamesCoverEnvExample(t *testing.T) {
	f, err := os.Open("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := Names()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimPrefix(strings.TrimSpace(sc.Text()), "# ")
		name, _, ok := strings.Cut(line, "=")
		if !ok || name == "" || strings.ContainsAny(name, " #'\"") || strings.ToUpper(name) != name {
			continue
		}
		seen[name] = true
		if !slices.Contains(names, name) {
			t.Errorf(".env.example has %s, which Names does not list", name)
		}
	}
	for _, n := range names {
		if !seen[n] {
			t.Errorf("Names lists %s, which .env.example does not show", n)
		}
	}
}
