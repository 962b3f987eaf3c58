// Package report renders the harness's results for people: Markdown
// tables for the terminal and notes, and a self-contained SVG chart of
// latency quantiles by target. Both are written by hand: a table is a few
// lines of string building, and the chart needs only rectangles, lines and
// text, which no charting library makes simpler than the SVG itself.
package report

import (
	"fmt"
	"io"
	"strings"
)

// Table is a titled Markdown table; Right marks the columns aligned right
// (numbers).
type Table struct {
	Title  string
	Header []string
	Right  []bool
	Rows   [][]string
}

// Markdown writes t as a level-3 heading, when titled, and a pipe table.
func (t Table) Markdown(w io.Writer) error {
	var b strings.Builder
	if t.Title != "" {
		fmt.Fprintf(&b, "### %s\n\n", t.Title)
	}
	b.WriteString("| " + strings.Join(escape(t.Header), " | ") + " |\n|")
	for i := range t.Header {
		if i < len(t.Right) && t.Right[i] {
			b.WriteString("---:|")
		} else {
			b.WriteString("---|")
		}
	}
	b.WriteString("\n")
	for _, r := range t.Rows {
		cells := make([]string, len(t.Header))
		copy(cells, escape(r))
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	b.WriteString("\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// escape makes cells safe in a pipe table.
func escape(cells []string) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = strings.ReplaceAll(strings.ReplaceAll(c, "|", `\|`), "\n", " ")
	}
	return out
}
