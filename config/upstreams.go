package config

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// upstreamsExample is shown when UPSTREAMS is missing or not a JSON object.
const upstreamsExample = `{"users":["http://127.0.0.1:9001","http://127.0.0.1:9002"]}`

// parseUpstreams parses UPSTREAMS, a JSON object mapping service names to
// arrays of base URLs, and normalises each URL. It returns the map, or every
// problem found (then a nil map). A service named twice is a problem rather
// than last-wins, as encoding/json would silently do.
func parseUpstreams(raw string) (map[string][]string, []string) {
	dec := json.NewDecoder(strings.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, []string{"must be a JSON object such as " + upstreamsExample}
	}
	m := make(map[string][]string)
	var msgs []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, append(msgs, "is not valid JSON: "+err.Error())
		}
		name, _ := tok.(string) // object keys are always strings
		var urls []string
		if err := dec.Decode(&urls); err != nil {
			return nil, append(msgs, fmt.Sprintf("service %s: %s", shown(name), jsonWhy(err)))
		}
		if _, dup := m[name]; dup {
			msgs = append(msgs, fmt.Sprintf("service %s is listed twice", shown(name)))
			continue
		}
		norm, bad := checkService(name, urls)
		msgs = append(msgs, bad...)
		m[name] = norm
	}
	if _, err := dec.Token(); err != nil {
		return nil, append(msgs, "is not valid JSON: "+err.Error())
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, append(msgs, "has data after the JSON object")
	}
	if len(m) == 0 {
		msgs = append(msgs, "names no services; example: "+upstreamsExample)
	}
	if len(msgs) > 0 {
		return nil, msgs
	}
	return m, nil
}

// jsonWhy says why a service's value did not decode as an array of strings.
func jsonWhy(err error) string {
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		return "must be an array of URL strings"
	}
	return "is not valid JSON: " + err.Error()
}

// checkUpstreams reports every problem with an already built Upstreams map,
// in service-name order.
func checkUpstreams(m map[string][]string) []string {
	if len(m) == 0 {
		return []string{"is required: a JSON object such as " + upstreamsExample}
	}
	var msgs []string
	for _, name := range slices.Sorted(maps.Keys(m)) {
		_, bad := checkService(name, m[name])
		msgs = append(msgs, bad...)
	}
	return msgs
}

// checkService checks one service's name and URLs, returning the URLs
// normalised and one message per problem, each prefixed with the service.
func checkService(name string, urls []string) ([]string, []string) {
	prefix := "service " + shown(name) + ": "
	var msgs []string
	if !validServiceName(name) {
		msgs = append(msgs, prefix+"name must match ^[a-z0-9][a-z0-9_-]*$")
	}
	if len(urls) == 0 {
		return nil, append(msgs, prefix+"lists no URLs")
	}
	norm := make([]string, 0, len(urls))
	for _, raw := range urls {
		u, err := normalizeURL(raw)
		switch {
		case err != nil:
			msgs = append(msgs, prefix+err.Error())
		case slices.Contains(norm, u):
			msgs = append(msgs, prefix+shown(u)+" is listed twice")
		default:
			norm = append(norm, u)
		}
	}
	return norm, msgs
}

// validServiceName reports whether s matches ^[a-z0-9][a-z0-9_-]*$, the
// names that are safe as a path segment and a metrics label.
func validServiceName(s string) bool {
	for i := range len(s) {
		c := s[i]
		alnum := c >= 'a' && c <= 'z' || c >= '0' && c <= '9'
		if !alnum && (i == 0 || c != '_' && c != '-') {
			return false
		}
	}
	return s != ""
}

// normalizeURL checks that raw is an absolute http or https URL with a host
// and no userinfo, query or fragment, and returns it without trailing
// slashes, so joining it with a request path never doubles the slash.
// A base path ("http://h/api") is kept as a prefix.
func normalizeURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("%s is not a URL", shown(raw))
	}
	if u.User != nil {
		// Say so without echoing the password.
		return "", fmt.Errorf("%s must not contain userinfo", shown(u.Redacted()))
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("%s is not an http(s) URL", shown(raw))
	case u.Opaque != "" || u.Hostname() == "":
		return "", fmt.Errorf("%s has no host", shown(raw))
	case strings.ContainsRune(raw, '?'):
		return "", fmt.Errorf("%s must not have a query", shown(raw))
	case strings.ContainsRune(raw, '#'):
		return "", fmt.Errorf("%s must not have a fragment", shown(raw))
	case !validPort(u):
		return "", fmt.Errorf("%s has a bad port", shown(raw))
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u.String(), nil
}

// validPort reports whether u has no port, or one in 1-65535.
func validPort(u *url.URL) bool {
	if !strings.HasSuffix(u.Host, ":") && u.Port() == "" {
		return true
	}
	n, err := strconv.Atoi(u.Port())
	return err == nil && n >= 1 && n <= 65535
}
