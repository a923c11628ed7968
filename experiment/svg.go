package experiment

import (
	"fmt"
	"html"
	"math"
	"strings"
)

// palette colours the variants' lines, in variant order (cycling).
var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// chart is the frame of a line chart: a plot area, axes with end labels,
// a legend.
type chart struct {
	b                        strings.Builder
	w, h                     float64
	left, right, top, bottom float64
}

func newChart(title, xLabel, yLabel string) *chart {
	c := &chart{w: 640, h: 360, left: 64, right: 480, top: 32, bottom: 312}
	fmt.Fprintf(&c.b, `<svg xmlns="http://www.w3.org/2000/svg" width="%g" height="%g" viewBox="0 0 %g %g" font-family="sans-serif" font-size="12">`, c.w, c.h, c.w, c.h)
	fmt.Fprintf(&c.b, `<title>%s</title><rect width="100%%" height="100%%" fill="white"/>`, html.EscapeString(title))
	fmt.Fprintf(&c.b, `<text x="%g" y="20" font-size="14">%s</text>`, c.left, html.EscapeString(title))
	fmt.Fprintf(&c.b, `<path d="M%g %gV%gH%g" stroke="black" fill="none"/>`, c.left, c.top, c.bottom, c.right)
	fmt.Fprintf(&c.b, `<text x="%g" y="%g" text-anchor="middle">%s</text>`, (c.left+c.right)/2, c.h-8, html.EscapeString(xLabel))
	fmt.Fprintf(&c.b, `<text x="16" y="%g" transform="rotate(-90 16 %g)" text-anchor="middle">%s</text>`, (c.top+c.bottom)/2, (c.top+c.bottom)/2, html.EscapeString(yLabel))
	return c
}

// axes labels the ends of both axes.
func (c *chart) axes(x0, x1, y0, y1 string) {
	fmt.Fprintf(&c.b, `<text x="%g" y="%g" text-anchor="middle">%s</text>`, c.left, c.bottom+16, x0)
	fmt.Fprintf(&c.b, `<text x="%g" y="%g" text-anchor="middle">%s</text>`, c.right, c.bottom+16, x1)
	fmt.Fprintf(&c.b, `<text x="%g" y="%g" text-anchor="end">%s</text>`, c.left-6, c.bottom+4, y0)
	fmt.Fprintf(&c.b, `<text x="%g" y="%g" text-anchor="end">%s</text>`, c.left-6, c.top+4, y1)
}

// line draws a step line through pts (plot coordinates in [0,1]²) with
// the i-th colour and a legend entry.
func (c *chart) line(i int, label string, pts [][2]float64) {
	col := palette[i%len(palette)]
	var d strings.Builder
	for j, p := range pts {
		x := c.left + p[0]*(c.right-c.left)
		y := c.bottom - p[1]*(c.bottom-c.top)
		if j == 0 {
			fmt.Fprintf(&d, "M%.1f %.1f", x, y)
		} else {
			fmt.Fprintf(&d, "H%.1fV%.1f", x, y)
		}
	}
	fmt.Fprintf(&c.b, `<path d="%s" stroke="%s" stroke-width="2" fill="none"><title>%s</title></path>`, d.String(), col, html.EscapeString(label))
	ly := c.top + 8 + float64(i)*18
	fmt.Fprintf(&c.b, `<rect x="%g" y="%g" width="12" height="4" fill="%s"/><text x="%g" y="%g">%s</text>`, c.right+16, ly-4, col, c.right+34, ly+2, html.EscapeString(label))
}

func (c *chart) bytes() []byte {
	c.b.WriteString("</svg>\n")
	return []byte(c.b.String())
}

// ProfileSVG renders performance profiles as an SVG chart: ρ(τ) against
// τ on a log2 axis from 1 to the largest ratio.
func ProfileSVG(curves []Curve) []byte {
	c := newChart("Performance profile", "τ (time ratio to the best, log scale)", "fraction of problems")
	maxTau := 2.0
	for _, cv := range curves {
		for _, p := range cv.Points {
			maxTau = math.Max(maxTau, p.Tau*1.1)
		}
	}
	x := func(tau float64) float64 { return math.Log2(tau) / math.Log2(maxTau) }
	c.axes("1", fmt.Sprintf("%.3g", maxTau), "0", "1")
	for i, cv := range curves {
		pts := [][2]float64{{0, 0}}
		for _, p := range cv.Points {
			pts = append(pts, [2]float64{x(p.Tau), p.Fraction})
		}
		pts = append(pts, [2]float64{1, cv.At(maxTau)})
		c.line(i, cv.Variant, pts)
	}
	return c.bytes()
}

// chartSamples is how many times the primal gap chart samples.
const chartSamples = 200

// PrimalGapSVG renders the mean primal gap of each variant's cells over
// time (MeanPrimalGap), from 0 to horizon seconds (the longest cell when
// 0): the incumbent-over-time chart, whose area under each line is the
// variant's mean primal integral.
func PrimalGapSVG(rows []Row, variants []string, sense Sense, horizon float64) []byte {
	if horizon <= 0 {
		for i := range rows {
			if rows[i].Time != nil {
				horizon = math.Max(horizon, *rows[i].Time)
			}
		}
	}
	if horizon <= 0 {
		horizon = 1
	}
	ts := make([]float64, chartSamples+1)
	for i := range ts {
		ts[i] = horizon * float64(i) / chartSamples
	}
	gaps := MeanPrimalGap(rows, variants, sense, ts)
	c := newChart("Mean primal gap over time", "seconds since start", "mean primal gap")
	c.axes("0", fmt.Sprintf("%.3gs", horizon), "0", "1")
	for i, v := range variants {
		pts := make([][2]float64, len(ts))
		for j := range ts {
			pts[j] = [2]float64{float64(j) / chartSamples, gaps[v][j]}
		}
		c.line(i, v, pts)
	}
	return c.bytes()
}
