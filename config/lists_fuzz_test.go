package config

import (
	"testing"
	"unicode/utf8"
)

// FuzzParseLists feeds arbitrary values to the parsers of the list
// variables (CB_FAILURE_STATUSES, TRUSTED_PROXIES): they never panic, what
// they accept holds its invariants, and an error message stays valid UTF-8
// for the one-line start-up report.
func FuzzParseLists(f *testing.F) {
	for _, s := range []string{"500-599", "502, 503,504", "599-500", "-", ",,", "10.0.0.0/8, ::1", "1.2.3.4/33", "fe80::1%eth0/64", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ranges, err := parseStatusRanges(s)
		if err != nil && !utf8.ValidString(err.Error()) {
			t.Fatalf("error not UTF-8: %q", err.Error())
		}
		for _, r := range ranges {
			if r.Lo < minStatus || r.Hi > maxStatus || r.Lo > r.Hi {
				t.Fatalf("parseStatusRanges(%q) accepted %+v", s, r)
			}
		}
		prefixes, err := parsePrefixes(s)
		if err != nil && !utf8.ValidString(err.Error()) {
			t.Fatalf("error not UTF-8: %q", err.Error())
		}
		for _, p := range prefixes {
			if !p.IsValid() {
				t.Fatalf("parsePrefixes(%q) accepted %v", s, p)
			}
		}
	})
}
