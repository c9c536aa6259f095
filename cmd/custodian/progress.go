package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/custodian-crm/custodian/rotation"
)

// progress shows a long command's progress on standard error: a bar
// redrawn in place on a terminal, a plain line every few seconds
// otherwise.
type progress struct {
	w        io.Writer
	terminal bool
	last     time.Time
	drawn    bool
	latest   *progressState // the last state reported, drawn at the end
	shown    progressState  // the last state drawn
}

// progressState is one report: what runs, what it counts, how far it is.
type progressState struct {
	what, unit  string
	done, total int64
	elapsed     time.Duration
}

// newProgress returns a progress display writing to w.
func newProgress(w io.Writer) *progress {
	p := &progress{w: w}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.terminal = true
		}
	}
	return p
}

// update reports a rotation's progress.
func (p *progress) update(s rotation.Progress) {
	p.updateCount("rotation", "data keys re-wrapped", s.Rewrapped, s.Total, s.Elapsed)
}

// updateCount reports that done of total units of what are finished.
func (p *progress) updateCount(what, unit string, done, total int64, elapsed time.Duration) {
	s := progressState{what: what, unit: unit, done: done, total: total, elapsed: elapsed}
	p.latest = &s
	every := 2 * time.Second
	if p.terminal {
		every = 100 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return
	}
	p.draw(*p.latest)
}

// draw writes s: the bar in place on a terminal, a line otherwise.
func (p *progress) draw(s progressState) {
	p.last, p.shown = time.Now(), s
	rate := float64(s.done) / max(s.elapsed.Seconds(), 1e-9)
	if !p.terminal {
		fmt.Fprintf(p.w, "%s: %d of %d %s (%.0f per second)\n", s.what, s.done, s.total, s.unit, rate)
		return
	}
	const width = 30
	frac := min(float64(s.done)/float64(max(s.total, 1)), 1)
	filled := int(frac * width)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %d/%d %.0f/s ", strings.Repeat("#", filled), strings.Repeat(".", width-filled), frac*100, s.done, s.total, rate)
	p.drawn = true
}

// finish draws the final state of the bar (or, off a terminal, the final
// line when it was not the last one written), and ends the bar's line.
func (p *progress) finish() {
	if p.latest != nil && (p.drawn || *p.latest != p.shown) {
		p.draw(*p.latest)
	}
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
