package report

import (
	"bytes"
	"encoding/xml"
	"io"
	"strings"
	"testing"
)

func TestMarkdown(t *testing.T) {
	tests := []struct {
		name string
		t    Table
		want string
	}{
		{
			name: "titled, numbers right",
			t:    Table{Title: "GET", Header: []string{"target", "req/s"}, Right: []bool{false, true}, Rows: [][]string{{"nginx", "44,672"}}},
			want: "### GET\n\n| target | req/s |\n|---|---:|\n| nginx | 44,672 |\n\n",
		},
		{
			name: "pipes escaped, short rows padded",
			t:    Table{Header: []string{"a", "b"}, Rows: [][]string{{"x|y"}}},
			want: "| a | b |\n|---|---|\n| x\\|y |  |\n\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b strings.Builder
			if err := tt.t.Markdown(&b); err != nil {
				t.Fatal(err)
			}
			if b.String() != tt.want {
				t.Errorf("got\n%q\nwant\n%q", b.String(), tt.want)
			}
		})
	}
}

// The chart is well-formed XML with one bar per positive value.
func TestSVG(t *testing.T) {
	panels := []Panel{
		{Title: "GET <closed>", Series: []string{"p50", "p99", "p99.9"}, Groups: []string{"gateway", "nginx"},
			Values: [][]float64{{1.2, 4.6, 9}, {0.9, 3.4, 0}}},
		{Title: "empty"},
	}
	var b bytes.Buffer
	if err := SVG(&b, "latency & more", panels); err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(&b)
	rects := 0
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed: %v", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "rect" {
			for _, a := range se.Attr {
				if a.Name.Local == "fill" && a.Value != "white" {
					rects++
				}
			}
		}
	}
	if want := 5 + 3; rects != want { // 5 bars, 3 legend swatches
		t.Errorf("%d coloured rectangles, want %d", rects, want)
	}
}

func TestLogAxis(t *testing.T) {
	tests := []struct {
		vals   []float64
		lo, hi float64
	}{
		{[]float64{0.35, 4.2}, 0.1, 10},
		{[]float64{1, 1}, 1, 10},
		{nil, 0.1, 1},
		{[]float64{0, -1}, 0.1, 1},
	}
	for _, tt := range tests {
		lo, hi := logAxis(Panel{Values: [][]float64{tt.vals}})
		if !close(lo, tt.lo) || !close(hi, tt.hi) {
			t.Errorf("logAxis(%v) = %v, %v; want %v, %v", tt.vals, lo, hi, tt.lo, tt.hi)
		}
	}
}

func close(a, b float64) bool { return a/b > 0.999 && a/b < 1.001 }
