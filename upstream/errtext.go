package upstream

// maxErrorText bounds the last-error text an upstream keeps for /admin:
// enough for a dial or protocol error with its address, never a page of
// whatever bytes the upstream sent.
const maxErrorText = 256

// errorText makes an error message safe to keep and show: bytes outside
// printable ASCII become '?' and the text is cut at maxErrorText bytes.
// fasthttp quotes parts of a malformed response in its errors (a status
// line, a header), so the raw message carries bytes an upstream (or
// whoever controls it) chose: terminal escapes into the logs, markup into
// the dashboard.
func errorText(s string) string {
	cut := len(s) > maxErrorText
	if cut {
		s = s[:maxErrorText-3]
	}
	b := []byte(s)
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			b[i] = '?'
		}
	}
	if cut {
		b = append(b, "..."...)
	}
	return string(b)
}
