package httpapi

import (
	"strconv"
	"strings"
	"time"
)

// incumbentPoint is one incumbent's objective at the time it was stored.
type incumbentPoint struct {
	Time      time.Time
	Objective float64
	Attempt   int
}

// incumbentChart is the geometry of the execution page's inline SVG chart
// of the incumbent objective over time, computed on the server so that the
// page needs no script to show it.
type incumbentChart struct {
	Width, Height int
	// Left, Right, Top, Bottom bound the plot area.
	Left, Right, Top, Bottom int
	// Path is the step line (an objective holds until the next incumbent).
	Path   string
	Points []chartPoint
	// YMax, YMin label the y axis's ends, XStart and XEnd the x axis's:
	// the time since the first incumbent, or the incumbents' numbers when
	// ByIndex.
	YMax, YMin, XStart, XEnd string
	// ByIndex spaces the incumbents evenly: they came too close together
	// (within milliseconds) for a time axis to tell them apart.
	ByIndex bool
	// Summary describes the chart for screen readers.
	Summary string
	// Rows list the incumbents for the table beside the chart.
	Rows []incumbentPoint
	T0   time.Time
}

// chartPoint is one incumbent's marker.
type chartPoint struct {
	X, Y  string
	Label string
}

func fmtCoord(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// newIncumbentChart lays out pts (oldest first); nil when there are none.
func newIncumbentChart(pts []incumbentPoint) *incumbentChart {
	if len(pts) == 0 {
		return nil
	}
	c := &incumbentChart{Width: 640, Height: 240, Left: 72, Right: 624, Top: 16, Bottom: 208, Rows: pts, T0: pts[0].Time}
	lo, hi := pts[0].Objective, pts[0].Objective
	for _, p := range pts {
		lo, hi = min(lo, p.Objective), max(hi, p.Objective)
	}
	t0, t1 := pts[0].Time, pts[len(pts)-1].Time
	span := t1.Sub(t0)
	// Incumbents that come faster than the stream's millisecond clock
	// tells apart would pile up on one spot: space them evenly instead
	// and say so on the axis.
	c.ByIndex = len(pts) > 1 && span < time.Duration(len(pts)-1)*10*time.Millisecond
	x := func(i int) float64 {
		w := float64(c.Right - c.Left)
		switch {
		case len(pts) == 1:
			return float64(c.Left) + w/2
		case c.ByIndex:
			return float64(c.Left) + w*float64(i)/float64(len(pts)-1)
		}
		return float64(c.Left) + w*float64(pts[i].Time.Sub(t0))/float64(span)
	}
	y := func(v float64) float64 {
		h := float64(c.Bottom - c.Top)
		if hi == lo {
			return float64(c.Top) + h/2
		}
		return float64(c.Top) + h*(hi-v)/(hi-lo)
	}
	var b strings.Builder
	for i, p := range pts {
		px, py := x(i), y(p.Objective)
		if i == 0 {
			b.WriteString("M" + fmtCoord(px) + " " + fmtCoord(py))
		} else {
			b.WriteString(" H" + fmtCoord(px) + " V" + fmtCoord(py))
		}
		c.Points = append(c.Points, chartPoint{X: fmtCoord(px), Y: fmtCoord(py),
			Label: strconv.FormatFloat(p.Objective, 'g', 8, 64) + " at +" + p.Time.Sub(t0).Round(time.Millisecond).String()})
	}
	c.Path = b.String()
	c.YMax = strconv.FormatFloat(hi, 'g', 6, 64)
	c.YMin = strconv.FormatFloat(lo, 'g', 6, 64)
	c.XStart, c.XEnd = "0", "+"+span.Round(time.Millisecond).String()
	if c.ByIndex {
		c.XStart, c.XEnd = "#1", "#"+strconv.Itoa(len(pts))+" (+"+span.Round(time.Millisecond).String()+")"
	}
	c.Summary = strconv.Itoa(len(pts)) + " incumbents, objective from " + strconv.FormatFloat(pts[0].Objective, 'g', 8, 64) +
		" to " + strconv.FormatFloat(pts[len(pts)-1].Objective, 'g', 8, 64) + " over " + span.Round(time.Millisecond).String()
	return c
}
