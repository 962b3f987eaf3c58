package handlers

import "errors"

// errBadChunk is an upstream chunked body that breaks RFC 9112 §7.1.
var errBadChunk = errors.New("sse: malformed chunked body from upstream")

// maxTrailerFields bounds the trailer section after the last chunk.
const maxTrailerFields = 64

// maxChunkSize bounds one chunk's announced size, so that it cannot
// overflow.
const maxChunkSize = 1 << 40

// chunkState is where a chunkDecoder is in the chunked framing.
type chunkState uint8

const (
	chunkSize       chunkState = iota // reading the size's hex digits
	chunkExt                          // skipping extensions up to the line's end
	chunkSizeLF                       // the size line's CR was read
	chunkData                         // inside a chunk's data
	chunkDataCR                       // expecting the CR after the data
	chunkDataLF                       // expecting the LF after the data
	chunkTrailerBOL                   // at the start of a trailer line
	chunkTrailer                      // inside a trailer line, dropped
	chunkTrailerLF                    // the empty line's CR was read
	chunkDone                         // the body has ended
)

// chunkDecoder removes the chunked framing (RFC 9112 §7.1) from an
// upstream body read raw from its socket, a read at a time. It keeps no
// bytes between reads, only its state, so a quiet stream holds no buffer:
// a size line, data, or the trailer section may be split across reads
// anywhere. Extensions and trailer fields are dropped. The zero value
// expects the first chunk's size line.
type chunkDecoder struct {
	state   chunkState
	digits  int   // hex digits of the size line read so far
	remain  int64 // of the chunk's size, or of its data not yet passed on
	trailer int   // trailer lines seen
}

// decode removes the framing from b in place: the data bytes it held are
// moved to its front, and their count returned. done tells that the last
// chunk and the trailer section have been read; bytes after it are
// ignored.
func (d *chunkDecoder) decode(b []byte) (n int, done bool, err error) {
	for i := 0; i < len(b); {
		if d.state == chunkData {
			k := min(int64(len(b)-i), d.remain)
			n += copy(b[n:], b[i:i+int(k)])
			i += int(k)
			if d.remain -= k; d.remain == 0 {
				d.state = chunkDataCR
			}
			continue
		}
		if err := d.step(b[i]); err != nil {
			return n, false, err
		}
		i++
		if d.state == chunkDone {
			return n, true, nil
		}
	}
	return n, d.state == chunkDone, nil
}

// step takes one framing byte.
func (d *chunkDecoder) step(c byte) error {
	switch d.state {
	case chunkSize:
		switch {
		case hexValue(c) >= 0:
			if d.remain = d.remain<<4 | int64(hexValue(c)); d.remain > maxChunkSize {
				return errBadChunk
			}
			d.digits++
		case d.digits == 0:
			return errBadChunk
		case c == ';', c == ' ', c == '\t':
			d.state = chunkExt
		case c == '\r':
			d.state = chunkSizeLF
		case c == '\n':
			d.endSizeLine()
		default:
			return errBadChunk
		}
	case chunkExt:
		if c == '\n' {
			d.endSizeLine()
		}
	case chunkSizeLF:
		if c != '\n' {
			return errBadChunk
		}
		d.endSizeLine()
	case chunkDataCR:
		switch c {
		case '\r':
			d.state = chunkDataLF
		case '\n':
			d.state = chunkSize
		default:
			return errBadChunk
		}
	case chunkDataLF:
		if c != '\n' {
			return errBadChunk
		}
		d.state = chunkSize
	case chunkTrailerBOL:
		switch c {
		case '\r':
			d.state = chunkTrailerLF
		case '\n':
			d.state = chunkDone
		default:
			if d.trailer++; d.trailer > maxTrailerFields {
				return errBadChunk
			}
			d.state = chunkTrailer
		}
	case chunkTrailer:
		if c == '\n' {
			d.state = chunkTrailerBOL
		}
	case chunkTrailerLF:
		if c != '\n' {
			return errBadChunk
		}
		d.state = chunkDone
	}
	return nil
}

// endSizeLine moves on from a complete size line: to the chunk's data, or
// to the trailer section after the last chunk.
func (d *chunkDecoder) endSizeLine() {
	d.digits = 0
	if d.remain == 0 {
		d.state = chunkTrailerBOL
		return
	}
	d.state = chunkData
}

// hexValue returns the value of the hex digit c, or -1.
func hexValue(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
