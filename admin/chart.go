package admin

import (
	"fmt"
	"strconv"
	"time"

	"github.com/sipprot/sipprot/attacks"
)

// The attack charts are SVG drawn on the server: no script, no library,
// and they print.
const (
	chartW      = 720
	chartH      = 180
	chartLeft   = 40 // room for the scale
	chartBottom = 22 // room for the labels
	chartTop    = 8
)

// chart is one bar chart, coordinates ready for the template.
type chart struct {
	Title  string
	W, H   int
	Bars   []bar
	Max    int
	Total  int
	AxisY  int // the baseline
	TopY   int
	Left   int
	Right  int
	MaxLbl string
}

type bar struct {
	X, Y, W, H int
	Label      string // under the bar; empty to leave room
	LabelX     int
	Value      int
	Title      string // the tooltip
}

type point struct {
	label, title string
	value        int
}

func newChart(title string, pts []point, labelEvery int) chart {
	c := chart{Title: title, W: chartW, H: chartH, AxisY: chartH - chartBottom, TopY: chartTop, Left: chartLeft, Right: chartW - 4}
	for _, p := range pts {
		c.Max = max(c.Max, p.value)
		c.Total += p.value
	}
	scale := max(c.Max, 1)
	c.MaxLbl = strconv.Itoa(scale)
	plotH := c.AxisY - chartTop
	slot := (c.Right - c.Left) / max(len(pts), 1)
	for i, p := range pts {
		h := p.value * plotH / scale
		if p.value > 0 && h < 2 {
			h = 2 // a single attack must be visible
		}
		b := bar{X: c.Left + i*slot + 1, W: max(slot-2, 1), H: h, Y: c.AxisY - h, Value: p.value, Title: p.title}
		if i%labelEvery == 0 {
			b.Label, b.LabelX = p.label, b.X+b.W/2
		}
		c.Bars = append(c.Bars, b)
	}
	return c
}

// hourlyChart is attacks per hour over the 24 hours up to now.
func hourlyChart(reports map[string]attacks.Report, now time.Time) chart {
	// Not Truncate: that cuts absolute time, off by half an hour in +05:30.
	end := time.Date(now.Year(), now.Month(), now.Day(), now.Hour(), 0, 0, 0, now.Location())
	var pts []point
	for i := 23; i >= 0; i-- {
		t := end.Add(-time.Duration(i) * time.Hour)
		n := hourAttacks(reports, t)
		pts = append(pts, point{label: t.Format("15h"), value: n,
			title: fmt.Sprintf("%s %s: %d attack(s)", t.Format(time.DateOnly), t.Format("15:00"), n)})
	}
	return newChart("Attacks per hour, last 24 hours", pts, 3)
}

// dailyChart is attacks per day over the 7 days up to today.
func dailyChart(reports map[string]attacks.Report, now time.Time) chart {
	var pts []point
	for i := 6; i >= 0; i-- {
		d := now.AddDate(0, 0, -i)
		n := reports[d.Format(time.DateOnly)].Attacks
		pts = append(pts, point{label: d.Format("Mon 02"), value: n,
			title: fmt.Sprintf("%s: %d attack(s)", d.Format(time.DateOnly), n)})
	}
	return newChart("Attacks per day, last 7 days", pts, 1)
}

func hourAttacks(reports map[string]attacks.Report, t time.Time) int {
	r, ok := reports[t.Format(time.DateOnly)]
	if !ok {
		return 0
	}
	for _, h := range r.Hours {
		if h.Hour == t.Hour() {
			return h.Attacks
		}
	}
	return 0
}
