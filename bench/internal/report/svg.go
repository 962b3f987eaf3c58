package report

import (
	"fmt"
	"html"
	"io"
	"math"
	"strings"
)

// Panel is one chart: for each group (a target), one bar per series (a
// quantile), on a shared logarithmic axis in milliseconds.
type Panel struct {
	Title  string
	Series []string    // e.g. p50, p99, p99.9
	Groups []string    // e.g. gateway, direct, nginx
	Values [][]float64 // [group][series], ms; ≤ 0 draws no bar
}

// Layout of one panel, in pixels.
const (
	panelW, panelH = 760, 300
	marginL        = 64
	marginT        = 40
	plotH          = 200
	legendW        = 120
)

// palette holds the series' colours (colour-blind safe, Okabe–Ito).
func palette(i int) string {
	c := []string{"#0072B2", "#E69F00", "#D55E00", "#009E73", "#CC79A7", "#56B4E9"}
	return c[i%len(c)]
}

// SVG writes the panels one under the other as one self-contained SVG
// document (no scripts, fonts or external references).
func SVG(w io.Writer, title string, panels []Panel) error {
	var b strings.Builder
	h := 30 + len(panels)*panelH
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", panelW, h, panelW, h)
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/><text x="10" y="20" font-size="15" font-weight="bold">%s</text>`+"\n", html.EscapeString(title))
	for i, p := range panels {
		writePanel(&b, p, 30+i*panelH)
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// logAxis spans the panel's values in whole decades.
func logAxis(p Panel) (lo, hi float64) {
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, g := range p.Values {
		for _, v := range g {
			if v > 0 {
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
	}
	if math.IsInf(lo, 1) {
		return 0.1, 1
	}
	lo, hi = math.Pow(10, math.Floor(math.Log10(lo))), math.Pow(10, math.Ceil(math.Log10(hi)))
	if hi <= lo {
		hi = lo * 10
	}
	return lo, hi
}

// writePanel draws one panel with its top at y0.
func writePanel(b *strings.Builder, p Panel, y0 int) {
	lo, hi := logAxis(p)
	plotW := panelW - marginL - legendW
	top, bottom := y0+marginT, y0+marginT+plotH
	yOf := func(v float64) float64 {
		return float64(bottom) - (math.Log10(v)-math.Log10(lo))/(math.Log10(hi)-math.Log10(lo))*plotH
	}
	fmt.Fprintf(b, `<text x="%d" y="%d" font-size="13" font-weight="bold">%s</text>`+"\n", marginL, y0+22, html.EscapeString(p.Title))
	for d := lo; d <= hi*1.0001; d *= 10 {
		y := yOf(d)
		fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" stroke="#ddd"/><text x="%d" y="%.1f" text-anchor="end">%s ms</text>`+"\n",
			marginL, marginL+plotW, y, y, marginL-6, y+4, trim(d))
	}
	fmt.Fprintf(b, `<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="#333"/>`+"\n", marginL, marginL+plotW, bottom, bottom)
	if len(p.Groups) == 0 {
		return
	}
	groupW := float64(plotW) / float64(len(p.Groups))
	barW := groupW * 0.8 / float64(max(len(p.Series), 1))
	for gi, g := range p.Groups {
		x0 := float64(marginL) + float64(gi)*groupW + groupW*0.1
		for si := range p.Series {
			if gi >= len(p.Values) || si >= len(p.Values[gi]) || p.Values[gi][si] <= 0 {
				continue
			}
			v := p.Values[gi][si]
			y := math.Max(yOf(v), float64(top))
			fmt.Fprintf(b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s"><title>%s %s: %s ms</title></rect>`+"\n",
				x0+float64(si)*barW, y, barW-1, float64(bottom)-y, palette(si), html.EscapeString(g), html.EscapeString(p.Series[si]), trim(v))
			fmt.Fprintf(b, `<text x="%.1f" y="%.1f" text-anchor="middle" font-size="9">%s</text>`+"\n", x0+float64(si)*barW+barW/2, y-3, trim(v))
		}
		fmt.Fprintf(b, `<text x="%.1f" y="%d" text-anchor="middle">%s</text>`+"\n", x0+groupW*0.4, bottom+18, html.EscapeString(g))
	}
	for si, s := range p.Series {
		y := top + si*18
		fmt.Fprintf(b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			panelW-legendW+16, y, palette(si), panelW-legendW+34, y+10, html.EscapeString(s))
	}
}

// trim formats a value with three significant digits.
func trim(v float64) string { return fmt.Sprintf("%.3g", v) }
