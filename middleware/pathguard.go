package middleware

import (
	"bytes"

	"github.com/gofiber/fiber/v2"

	"gateway/internal/apierror"
)

// PathGuard refuses, with 400, a request whose raw path holds a dot segment
// ("." or "..", raw or percent-encoded, any case) or an encoded "/" or "\"
// (%2f, %5c), or a raw "\". It reads the request line as sent, before
// fasthttp's normalisation, and runs before routing, so no route and no
// upstream ever sees a path that could climb out of its prefix.
// Traversal is refused, not repaired: a repaired path would be a different
// resource than the one the client named.
func PathGuard() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if !SafePath(rawPath(c.Context().Request.Header.RequestURI())) {
			return apierror.Write(c, fiber.StatusBadRequest, "bad request path")
		}
		return c.Next()
	}
}

// rawPath returns the path of a request target: origin form "/p?q",
// absolute form "http://h/p?q", or "*".
func rawPath(uri []byte) []byte {
	if len(uri) > 0 && uri[0] != '/' {
		// absolute form: skip "scheme://authority"
		for i := 0; i+2 < len(uri); i++ {
			if uri[i] == ':' && uri[i+1] == '/' && uri[i+2] == '/' {
				uri = uri[i+3:]
				j := 0
				for j < len(uri) && uri[j] != '/' && uri[j] != '?' {
					j++
				}
				uri = uri[j:]
				break
			}
		}
	}
	for i, b := range uri {
		if b == '?' || b == '#' {
			return uri[:i]
		}
	}
	return uri
}

// SafePath reports whether a raw (still percent-encoded) path is free of
// dot segments, encoded slashes and backslashes.
func SafePath(path []byte) bool {
	segStart := 0
	for i := 0; i <= len(path); i++ {
		if i < len(path) {
			b := path[i]
			if b == '\\' {
				return false
			}
			if b == '%' && i+2 < len(path) && isEncodedSlash(path[i+1], path[i+2]) {
				return false
			}
			if b != '/' {
				continue
			}
		}
		if isDotSegment(path[segStart:i]) {
			return false
		}
		segStart = i + 1
	}
	return true
}

// isEncodedSlash reports whether %hi lo encodes '/' or '\'.
func isEncodedSlash(hi, lo byte) bool {
	if hi == '2' && (lo == 'f' || lo == 'F') {
		return true
	}
	return hi == '5' && (lo == 'c' || lo == 'C')
}

// isDotSegment reports whether seg decodes to "." or "..": each dot may be
// written "." or "%2e" in any case. Path parameters after ';' are ignored,
// since servlet containers (Tomcat, Jetty) strip them and would then read
// "..;x" as "..".
func isDotSegment(seg []byte) bool {
	if i := bytes.IndexByte(seg, ';'); i >= 0 {
		seg = seg[:i]
	}
	dots := 0
	for i := 0; i < len(seg); {
		switch {
		case seg[i] == '.':
			i++
		case i+2 < len(seg) && seg[i] == '%' && seg[i+1] == '2' && (seg[i+2] == 'e' || seg[i+2] == 'E'):
			i += 3
		default:
			return false
		}
		dots++
	}
	return dots == 1 || dots == 2
}
