package handlers

import (
	"bufio"
	"bytes"
	"io"
	"net/http/httputil"
	"testing"
)

// decodeSplit decodes in through a fresh chunkDecoder, cut into pieces of
// at most step bytes, as reads from a socket may cut it.
func decodeSplit(in []byte, step int) (out []byte, done bool, err error) {
	var d chunkDecoder
	for len(in) > 0 && !done {
		k := min(step, len(in))
		piece := append([]byte(nil), in[:k]...)
		in = in[k:]
		var n int
		n, done, err = d.decode(piece)
		out = append(out, piece[:n]...)
		if err != nil {
			return out, done, err
		}
	}
	return out, done, nil
}

func TestChunkDecoder(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string
		done    bool
		wantErr bool
	}{
		{name: "one chunk", in: "5\r\nhello\r\n", want: "hello"},
		{name: "two chunks and end", in: "6\r\ndata: \r\n3\r\nx\n\n\r\n0\r\n\r\n", want: "data: x\n\n", done: true},
		{name: "extension and trailer", in: "A;name=v\r\n0123456789\r\n0\r\nX-T: 1\r\n\r\n", want: "0123456789", done: true},
		{name: "bare LF", in: "2\nab\n0\n\n", want: "ab", done: true},
		{name: "upper hex", in: "B\r\nhello world\r\n", want: "hello world"},
		{name: "no digits", in: "\r\nab", wantErr: true},
		{name: "bad digit", in: "2x\r\nab\r\n", wantErr: true},
		{name: "data overrun", in: "2\r\nabc\r\n", want: "ab", wantErr: true},
		{name: "huge size", in: "fffffffffffffffff\r\n", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for step := 1; step <= len(tt.in); step++ {
				out, done, err := decodeSplit([]byte(tt.in), step)
				if (err != nil) != tt.wantErr || done != tt.done || string(out) != tt.want {
					t.Fatalf("step %d: got %q done %v err %v; want %q done %v err %v",
						step, out, done, err, tt.want, tt.done, tt.wantErr)
				}
			}
		})
	}
}

// FuzzChunkDecoder checks the decoder against net/http's chunked reader:
// whatever that one accepts whole, the decoder yields the same data from,
// however the input is cut. (That reader stops at the last chunk; the
// decoder also checks the trailer section, so it may fail there, after all
// the data.)
func FuzzChunkDecoder(f *testing.F) {
	f.Add([]byte("5\r\nhello\r\n0\r\n\r\n"), 3)
	f.Add([]byte("1;x=y\r\na\r\n0\r\nT: v\r\n\r\n"), 1)
	f.Fuzz(func(t *testing.T, in []byte, step int) {
		if step <= 0 || step > len(in)+1 {
			step = len(in) + 1
		}
		br := bufio.NewReader(bytes.NewReader(in))
		want, err := io.ReadAll(httputil.NewChunkedReader(br))
		if err != nil {
			return
		}
		got, _, err := decodeSplit(in, step)
		if !bytes.Equal(got, want) {
			t.Fatalf("decoder got %q, %v; chunked reader %q", got, err, want)
		}
	})
}
