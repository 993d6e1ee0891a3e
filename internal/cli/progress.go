package cli

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// Long work (ingest, rule import, verify, workspace flush) shows how far it
// has got as a bar on standard error, drawn by schollz/progressbar, but only
// when standard error is a terminal: in a pipe, a file or a CI log a bar is
// a stream of carriage returns, so there the work prints nothing until its
// result. Callers skip a nil bar.

// isTerminal reports whether w is a terminal: the default of Env.IsTerminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// interactive reports whether progress can be drawn: stderr is a terminal.
func (a *app) interactive() bool {
	return a.env.IsTerminal(a.env.Stderr)
}

// progressBar is newBar on a terminal, and nil elsewhere.
func (a *app) progressBar(max int64, description string, opts ...progressbar.Option) *progressbar.ProgressBar {
	if !a.interactive() {
		return nil
	}
	return a.newBar(max, description, opts...)
}

// newBar is a bar up to max (-1: a spinner with the count and time so far)
// on standard error, cleared when it finishes so that the result that
// follows stands alone.
func (a *app) newBar(max int64, description string, opts ...progressbar.Option) *progressbar.ProgressBar {
	base := []progressbar.Option{progressbar.OptionSetWriter(a.env.Stderr), progressbar.OptionSetDescription(description),
		progressbar.OptionThrottle(100 * time.Millisecond), progressbar.OptionClearOnFinish()}
	return progressbar.NewOptions64(max, append(base, opts...)...)
}

// whileSpinning runs work, a request that returns when it is done and says
// nothing of how far it has got, with a spinner and the time so far on a
// terminal: a long wait that shows nothing looks like a hang.
func (a *app) whileSpinning(description string, work func() error) error {
	bar := a.progressBar(-1, description, progressbar.OptionSetRenderBlankState(true))
	err := work()
	if bar != nil {
		_ = bar.Finish()
	}
	return err
}
