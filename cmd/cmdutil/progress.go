package cmdutil

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"
)

// DefaultProgressInterval is how often Progress prints a line when stderr
// is not a terminal.
const DefaultProgressInterval = 5 * time.Second

// Progress is the progress shown by the verbs that walk a whole store
// (migrate, backup, restore, rekey): a progressbar on a terminal's stderr,
// else a line every interval (0: at every update). Total <= 0 means unknown
// (a spinner on a terminal).
type Progress struct {
	w        io.Writer
	bar      *progressbar.ProgressBar
	verb     string
	unit     string
	interval time.Duration
	last     time.Time
	total    int64
}

// NewProgress starts the progress of verb over total units ("records",
// "values"...), written to ios.ErrOut.
func NewProgress(ios *IOStreams, verb, unit string, total int64, interval time.Duration) *Progress {
	p := &Progress{w: ios.ErrOut, verb: verb, unit: unit, interval: interval, last: time.Now(), total: total}
	if ios.IsStderrTTY() {
		max := total
		if max <= 0 {
			max = -1 // spinner
		}
		p.bar = progressbar.NewOptions64(max,
			progressbar.OptionSetWriter(ios.ErrOut),
			progressbar.OptionSetDescription(verb),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString(unit),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
			progressbar.OptionEnableColorCodes(ios.ColorEnabled()),
		)
	}
	return p
}

// Update records that n units are done. Off a terminal, a line is printed
// when the interval has passed: line() if line is not nil, else
// "verb: n of total unit".
func (p *Progress) Update(n int64, line func() string) {
	if p.bar != nil {
		_ = p.bar.Set64(n)
		return
	}
	if time.Since(p.last) < p.interval {
		return
	}
	p.last = time.Now()
	if line != nil {
		fmt.Fprintln(p.w, line())
		return
	}
	of := ""
	if p.total > 0 {
		of = fmt.Sprintf(" of %d", p.total)
	}
	fmt.Fprintf(p.w, "%s: %d%s %s\n", p.verb, n, of, p.unit)
}

// Done ends the bar; off a terminal it prints nothing.
func (p *Progress) Done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
