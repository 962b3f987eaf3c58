package config

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// items splits a comma-separated list, trimming spaces and dropping empty
// items, so "a, b," is [a b].
func items(s string) []string {
	var out []string
	for it := range strings.SplitSeq(s, ",") {
		if it = strings.TrimSpace(it); it != "" {
			out = append(out, it)
		}
	}
	return out
}

// parsePrefixes parses TRUSTED_PROXIES: CIDRs, or bare IPs taken as a single
// address (/32 or /128). IPv4-mapped IPv6 addresses are unmapped so they
// match the IPv4 peers the server reports; CIDRs are masked to their network.
func parsePrefixes(s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	var bad []string
	for _, it := range items(s) {
		p, err := parsePrefix(it)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		out = append(out, p)
	}
	if len(bad) > 0 {
		return nil, errors.New(strings.Join(bad, "; "))
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("%s is not a CIDR", shown(s))
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%s is not an IP address or CIDR", shown(s))
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// Bounds of a status code in CB_FAILURE_STATUSES.
const (
	minStatus = 100
	maxStatus = 599
)

// parseStatusRanges parses CB_FAILURE_STATUSES: codes ("502") and inclusive
// ranges ("500-599"), each within 100-599.
func parseStatusRanges(s string) ([]StatusRange, error) {
	list := items(s)
	if len(list) == 0 {
		return nil, errors.New("lists no status codes")
	}
	out := make([]StatusRange, 0, len(list))
	var bad []string
	for _, it := range list {
		r, err := parseStatusRange(it)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		out = append(out, r)
	}
	if len(bad) > 0 {
		return nil, errors.New(strings.Join(bad, "; "))
	}
	return out, nil
}

func parseStatusRange(s string) (StatusRange, error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	l, err1 := strconv.Atoi(strings.TrimSpace(lo))
	h, err2 := strconv.Atoi(strings.TrimSpace(hi))
	if err1 != nil || err2 != nil {
		return StatusRange{}, fmt.Errorf("%s is not a status code or lo-hi range", shown(s))
	}
	r := StatusRange{Lo: l, Hi: h}
	if err := checkStatusRange(r); err != nil {
		return StatusRange{}, fmt.Errorf("%s %w", shown(s), err)
	}
	return r, nil
}

// checkStatusRange reports a range outside 100-599 or upside down.
func checkStatusRange(r StatusRange) error {
	switch {
	case r.Lo < minStatus || r.Hi > maxStatus:
		return fmt.Errorf("is outside %d-%d", minStatus, maxStatus)
	case r.Lo > r.Hi:
		return errors.New("has its low end above its high end")
	}
	return nil
}

// checkRateLimitKey accepts "ip", "sub" and "header:<Name>" where Name is an
// HTTP token (RFC 9110 section 5.1).
func checkRateLimitKey(k string) error {
	if k == "ip" || k == "sub" {
		return nil
	}
	name, ok := strings.CutPrefix(k, "header:")
	switch {
	case !ok:
		return fmt.Errorf("%s is not ip, sub or header:<Name>", shown(k))
	case !isToken(name):
		return fmt.Errorf("%s is not a valid header name", shown(name))
	}
	return nil
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := range len(s) {
		c := s[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}

// checkRedisURL accepts redis:// and rediss:// URLs with a host and an
// optional numeric database path ("/0"). Errors never quote the URL, which
// may carry a password.
func checkRedisURL(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("is not a valid URL")
	case u.Scheme != "redis" && u.Scheme != "rediss":
		return fmt.Errorf("scheme %s is not redis or rediss", shown(u.Scheme))
	case u.Hostname() == "":
		return errors.New("has no host")
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return fmt.Errorf("database %s is not a number >= 0", shown(db))
		}
	}
	return nil
}
