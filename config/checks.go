package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
)

// checkHeaderNames reports each name in names that is not an RFC 9110 token.
func checkHeaderNames(names []string) []string {
	var bad []string
	for _, n := range names {
		if !isToken(n) {
			bad = append(bad, fmt.Sprintf("%s is not a valid header name", shown(n)))
		}
	}
	return bad
}

// checkHTTPURLs reports each entry of urls that is not an absolute http(s)
// URL with a host.
func checkHTTPURLs(urls []string) []string {
	var bad []string
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad = append(bad, fmt.Sprintf("%s is not an absolute http(s) URL", shown(s)))
		}
	}
	return bad
}

// checkListenAddr accepts host:port with a numeric port in 1-65535; the
// host may be empty (all interfaces) or an IPv6 literal in brackets.
func checkListenAddr(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%s is not host:port", shown(s))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%s has no port in 1-65535", shown(s))
	}
	return nil
}

// checkProbePath accepts an absolute path (an optional query allowed) with
// no whitespace or control characters: it is appended to each upstream's
// base URL as it stands.
func checkProbePath(s string) error {
	if !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") {
		return fmt.Errorf("%s must start with a single /", shown(s))
	}
	for i := range len(s) {
		if c := s[i]; c <= ' ' || c == 0x7f || c == '#' {
			return errors.New("must not hold whitespace, control characters or #")
		}
	}
	return nil
}
