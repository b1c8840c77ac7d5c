package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"
)

const (
	// progressMinimum is the number of copies from which progress lines
	// are printed when standard error is not a terminal.
	progressMinimum = 10
	// progressRedraw is how often the progress bar on a terminal is drawn.
	progressRedraw = 200 * time.Millisecond
	// progressInterval and progressStep are how often a progress line is
	// printed when standard error is not a terminal: every 10 seconds, or
	// every tenth of the work, whichever comes first.
	progressInterval = 10 * time.Second
	progressStep     = 10
	// progressBarWidth is the width of the bar in characters.
	progressBarWidth = 30
)

// progressMeter reports the progress of many copies on standard error: a
// bar with the count, the rate and the time left on a terminal, and else a
// line now and then. It is safe for concurrent use.
type progressMeter struct {
	w        io.Writer
	terminal bool
	// verb names the work, such as "sending".
	verb  string
	total int
	start time.Time

	mu sync.Mutex
	// done is the count so far, and printedStep and printedAt the tenth
	// of the work and the time of the last line.
	done        int
	printedStep int
	printedAt   time.Time
	stopped     bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// newProgressMeter starts a meter for total items on w. terminal reports
// whether w is a terminal, as isTerminal returns it. Without a terminal, a
// meter for fewer than progressMinimum items prints nothing.
func newProgressMeter(w io.Writer, terminal bool, verb string, total int) *progressMeter {
	now := time.Now()
	p := &progressMeter{w: w, terminal: terminal, verb: verb, total: total, start: now, printedAt: now, stop: make(chan struct{})}
	if !terminal && total < progressMinimum {
		p.stopped = true
	}
	if terminal {
		p.wg.Go(p.redraw)
	}
	return p
}

// redraw draws the bar until finish.
func (p *progressMeter) redraw() {
	ticker := time.NewTicker(progressRedraw)
	defer ticker.Stop()
	for {
		select {
		case <-ticker.C:
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
		case <-p.stop:
			return
		}
	}
}

// add counts n more items done.
func (p *progressMeter) add(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	if p.terminal || p.stopped {
		return
	}
	step := p.done * progressStep / max(p.total, 1)
	if step > p.printedStep || time.Since(p.printedAt) >= progressInterval {
		p.printedStep, p.printedAt = step, time.Now()
		fmt.Fprintf(p.w, "sealmail: %s\n", p.status())
	}
}

// finish stops the meter and prints where it ended.
func (p *progressMeter) finish() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	p.mu.Unlock()
	if p.terminal {
		close(p.stop)
		p.wg.Wait()
	}

	p.mu.Lock()
	defer p.mu.Unlock()
	if p.terminal {
		p.draw()
		fmt.Fprintln(p.w)
		return
	}
	if p.printedStep < progressStep || p.done < p.total {
		fmt.Fprintf(p.w, "sealmail: %s\n", p.status())
	}
}

// draw writes the bar over the current terminal line.
func (p *progressMeter) draw() {
	filled := progressBarWidth * p.done / max(p.total, 1)
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", progressBarWidth-filled)
	// \r returns to the start of the line and \x1b[K clears the rest of it.
	fmt.Fprintf(p.w, "\r\x1b[K%s [%s] %s", p.verb, bar, p.counts())
}

// status returns the line printed when standard error is not a terminal,
// such as "sending: 400 of 1000 done (40%), 180.0 per second, 3s left".
func (p *progressMeter) status() string {
	return fmt.Sprintf("%s: %s", p.verb, p.counts())
}

// counts returns the count, the rate and the time left.
func (p *progressMeter) counts() string {
	s := fmt.Sprintf("%d of %d done (%d%%)", p.done, p.total, 100*p.done/max(p.total, 1))
	elapsed := time.Since(p.start).Seconds()
	if p.done == 0 || elapsed <= 0 {
		return s
	}
	rate := float64(p.done) / elapsed
	s += fmt.Sprintf(", %.1f per second", rate)
	if left := p.total - p.done; left > 0 {
		s += ", " + (time.Duration(float64(left) / rate * float64(time.Second))).Round(time.Second).String() + " left"
	}
	return s
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// lockedWriter serializes the writes of goroutines that print to one
// stream.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lockOutput makes the standard output and error of a safe for goroutines
// that print at once, and returns the function that undoes it.
func (a *app) lockOutput() func() {
	stdout, stderr := a.stdout, a.stderr
	a.stdout, a.stderr = &lockedWriter{w: stdout}, &lockedWriter{w: stderr}
	return func() { a.stdout, a.stderr = stdout, stderr }
}
