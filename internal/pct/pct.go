// Package pct holds the small percent-encoding helpers (RFC 3986 §2.1)
// that the JWT middleware and the WebSocket bridge share when they look at
// raw query strings without allocating.
package pct

import "bytes"

// IsHex reports whether b is a hexadecimal digit.
func IsHex(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

// Unhex returns the value of the hexadecimal digit b.
func Unhex(b byte) byte {
	switch {
	case b >= 'a':
		return b - 'a' + 10
	case b >= 'A':
		return b - 'A' + 10
	}
	return b - '0'
}

// QueryKeyIs reports whether the key of a raw query pair ("k=v", up to its
// '=') decodes to name, decoding as fasthttp's Args does: %XX with two hex
// digits, '+' as space. So "p%61th=x" has the key "path".
func QueryKeyIs(pair []byte, name string) bool {
	if k := bytes.IndexByte(pair, '='); k >= 0 {
		pair = pair[:k]
	}
	j := 0
	for i := 0; i < len(pair); i++ {
		b := pair[i]
		switch {
		case b == '+':
			b = ' '
		case b == '%' && i+2 < len(pair) && IsHex(pair[i+1]) && IsHex(pair[i+2]):
			b = Unhex(pair[i+1])<<4 | Unhex(pair[i+2])
			i += 2
		}
		if j >= len(name) || name[j] != b {
			return false
		}
		j++
	}
	return j == len(name)
}
