package http

import (
	"slices"
	"strconv"
	"time"

	"github.com/custodian-crm/custodian"
	"golang.org/x/text/message"
)

// barChart is a bar chart of counts per hour, drawn by the security
// template as SVG: every coordinate is computed here, and the template
// only writes them into <rect>, <line> and <text> elements with classes
// from the stylesheet (the Content-Security-Policy allows no inline
// style). Bars stack one segment per series.
type barChart struct {
	ID, Title, Desc, Unit string
	Width, Height         int
	PlotLeft, PlotRight   string
	PlotBottom            string
	Series                []chartSeries
	Bars                  []chartBar
	Ticks                 []chartTick
	Total                 int
}

// chartSeries is one stacked series and its legend entry.
type chartSeries struct {
	Name, Class string
	Total       int
}

// chartBar is one hour.
type chartBar struct {
	Label     string // "14:00"
	Start     time.Time
	X, W      string
	LabelX    string
	ShowLabel bool
	Total     int
	Counts    []int // per series, in Series order
	Segs      []chartSeg
}

// chartSeg is a series' part of a bar.
type chartSeg struct {
	Y, H, Class, Title string
	Count              int
}

// chartTick is a horizontal grid line with its value.
type chartTick struct {
	Y, TextY, Label string
}

// The chart's geometry, in SVG user units.
const (
	chartW, chartH                          = 720, 240
	chartLeft, chartRight, chartTop, chartB = 44.0, 8.0, 12.0, 28.0
	chartSeriesClasses                      = 4
	chartHours                              = 24
)

// svgNum formats a coordinate.
func svgNum(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) }

// chartScale returns the top of the value axis and the tick step for a
// largest value max: steps of 1, 2 or 5 times a power of ten, at most five
// of them.
func chartScale(max int) (top, step int) {
	if max <= 0 {
		return 1, 1
	}
	for mag := 1; ; mag *= 10 {
		for _, m := range []int{1, 2, 5} {
			step = m * mag
			if n := (max + step - 1) / step; n <= 5 {
				return n * step, step
			}
		}
	}
}

// hourlyChart counts events per hour over the 24 hours from start, one
// series per distinct series(e), and lays out the chart.
func hourlyChart(p *message.Printer, id, title, unit string, start time.Time, events []custodian.AuditEvent, series func(custodian.AuditEvent) string) *barChart {
	var names []string
	counts := make([]map[string]int, chartHours)
	for i := range counts {
		counts[i] = map[string]int{}
	}
	for _, e := range events {
		h := int(e.Time.Sub(start) / time.Hour)
		if h < 0 || h >= chartHours {
			continue
		}
		s := series(e)
		if !slices.Contains(names, s) {
			names = append(names, s)
		}
		counts[h][s]++
	}
	slices.Sort(names)
	title, unit = p.Sprintf(title), p.Sprintf(unit)
	c := &barChart{ID: id, Title: title, Unit: unit, Width: chartW, Height: chartH,
		PlotLeft: svgNum(chartLeft), PlotRight: svgNum(chartW - chartRight), PlotBottom: svgNum(chartH - chartB)}
	for i, n := range names {
		c.Series = append(c.Series, chartSeries{Name: p.Sprintf(n), Class: "series-" + strconv.Itoa(i%chartSeriesClasses)})
	}
	max, peak := 0, 0
	for h := range counts {
		t := 0
		for _, n := range counts[h] {
			t += n
		}
		if t > max {
			max, peak = t, h
		}
		c.Total += t
	}
	top, step := chartScale(max)
	plotH := chartH - chartTop - chartB
	slot := (chartW - chartLeft - chartRight) / chartHours
	for v := 0; v <= top; v += step {
		y := chartH - chartB - float64(v)/float64(top)*plotH
		c.Ticks = append(c.Ticks, chartTick{Y: svgNum(y), TextY: svgNum(y + 4), Label: strconv.Itoa(v)})
	}
	for h := range counts {
		from := start.Add(time.Duration(h) * time.Hour)
		x := chartLeft + float64(h)*slot
		b := chartBar{Label: from.Format("15:04"), Start: from, X: svgNum(x + slot*0.15), W: svgNum(slot * 0.7),
			LabelX: svgNum(x + slot/2), ShowLabel: h%3 == 0}
		base := chartH - chartB
		for i, s := range c.Series {
			n := counts[h][names[i]]
			b.Counts = append(b.Counts, n)
			b.Total += n
			c.Series[i].Total += n
			if n == 0 {
				continue
			}
			hgt := float64(n) / float64(top) * plotH
			base -= hgt
			b.Segs = append(b.Segs, chartSeg{Y: svgNum(base), H: svgNum(hgt), Class: s.Class, Count: n,
				Title: p.Sprintf("%s–%s UTC: %d %s", b.Label, from.Add(time.Hour).Format("15:04"), n, s.Name)})
		}
		c.Bars = append(c.Bars, b)
	}
	if c.Total == 0 {
		c.Desc = p.Sprintf("No %s in the 24 hours from %s UTC.", unit, start.Format(p.Sprintf("2 Jan 15:04")))
	} else {
		c.Desc = p.Sprintf("%d %s in the 24 hours from %s UTC; the most, %d, between %s and %s UTC.", c.Total, unit,
			start.Format(p.Sprintf("2 Jan 15:04")), max, c.Bars[peak].Label, start.Add(time.Duration(peak+1)*time.Hour).Format("15:04"))
	}
	return c
}
