package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sealwatch/sealwatch/internal/logtest"
)

// runOn runs args as run does, with standard error taken for a terminal
// or not, as the terminal check says.
func (n *testNode) runOn(terminal bool, args ...string) result {
	n.t.Helper()
	var stdout bytes.Buffer
	var stderr logtest.Buffer // a spinner draws from a goroutine of its own
	env := testEnv(n.configDir, &stdout, &stderr)
	env.IsTerminal = func(w io.Writer) bool { return terminal && w == io.Writer(&stderr) }
	code := Run(context.Background(), args, env)
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func TestLongWorkDrawsABarOnlyOnATerminal(t *testing.T) {
	ds := setUpDataWithCLI(t)
	ds.must("sentinel", "onboard", "--workspace", "secops") // for the watchlist
	rows := writeRows(t, "rows.json", true, event("one", 1), event("two", 2), event("three", 3))
	csv := filepath.Join(t.TempDir(), "crown.csv")
	if err := os.WriteFile(csv, []byte("Host,Owner\ndc01,identity team\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		bar  []string // on a terminal, stderr shows these
	}{
		{"ingest of a file is a bar of its bytes with the rows stored", []string{"ingest", "--dcr", "events-dcr", "--stream", "Custom-Events", "--file", rows},
			[]string{"ingest  99% |"}},
		{"workspace flush turns a spinner with the time so far", []string{"workspace", "flush", "--name", "secops"},
			[]string{"flush secops", "[0s]"}},
		{"watchlist create turns a spinner while the items upload", []string{"watchlist", "create", "crown", "--workspace", "secops", "--file", csv, "--search-key", "Host", "--replace"},
			[]string{"watchlist crown", "[0s]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, terminal := range []bool{true, false} {
				r := ds.runOn(terminal, tt.args...)
				if r.code != 0 {
					t.Fatalf("terminal=%v: exit %d\n%s", terminal, r.code, r.stderr)
				}
				if !terminal {
					if r.stderr != "" {
						t.Errorf("standard error is no terminal, yet shows %q", r.stderr)
					}
					continue
				}
				for _, w := range tt.bar {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("the bar on the terminal lacks %q: %q", w, r.stderr)
					}
				}
				if strings.Contains(r.stdout, "\r") {
					t.Errorf("the bar reached standard output: %q", r.stdout)
				}
			}
		})
	}
}

// TestTheBarIsClearedBeforeTheResult: on a terminal, standard output and
// standard error share one screen; the bar's line is cleared before the
// result is printed, so the result stands alone, neither after a stale
// count nor after an empty line.
func TestTheBarIsClearedBeforeTheResult(t *testing.T) {
	ds := setUpDataWithCLI(t)
	rows := writeRows(t, "rows.json", true, event("one", 1), event("two", 2), event("three", 3))
	for _, tt := range []struct {
		name   string
		args   []string
		result string
	}{
		{"ingest", []string{"ingest", "--dcr", "events-dcr", "--stream", "Custom-Events", "--file", rows}, "Sent 3 rows"},
		{"workspace flush", []string{"workspace", "flush", "--name", "secops"}, "Sealed the rows"},
		{"verify", []string{"verify", "--workspace", "secops"}, "workspace secops: healthy"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var screen logtest.Buffer
			env := testEnv(ds.configDir, &screen, &screen)
			env.IsTerminal = func(w io.Writer) bool { return w == io.Writer(&screen) }
			if code := Run(context.Background(), tt.args, env); code != 0 {
				t.Fatalf("exit %d: %q", code, screen.String())
			}
			out := screen.String()
			at := strings.Index(out, tt.result)
			if !strings.Contains(out, "\r") || at < 0 {
				t.Fatalf("no bar, or no result %q, on the screen: %q", tt.result, out)
			}
			if last := strings.LastIndex(out, "\r"); !strings.HasPrefix(out[last+1:], tt.result) {
				t.Errorf("the result does not follow the cleared bar at once: %q", out)
			}
		})
	}
}

// TestIngestOfAStreamCountsTheRows: rows from a pipe, whose length is not
// known, are counted with their rate, as no bar can say how far it has got.
func TestIngestOfAStreamCountsTheRows(t *testing.T) {
	ds := setUpDataWithCLI(t)
	data, err := os.ReadFile(writeRows(t, "rows.json", true, event("one", 1), event("two", 2), event("three", 3)))
	if err != nil {
		t.Fatal(err)
	}
	pipe := filepath.Join(t.TempDir(), "rows.fifo")
	if err := syscall.Mkfifo(pipe, 0o600); err != nil {
		t.Fatal(err)
	}
	go func() {
		w, err := os.OpenFile(pipe, os.O_WRONLY, 0) // until ingest opens it
		if err != nil {
			return
		}
		_, _ = w.Write(data)
		_ = w.Close()
	}()
	r := ds.runOn(true, "ingest", "--dcr", "events-dcr", "--stream", "Custom-Events", "--file", pipe)
	if r.code != 0 || !strings.Contains(r.stderr, "ingest (3/-") || !strings.Contains(r.stderr, "rows/s") {
		t.Fatalf("exit %d, stderr %q; want the rows counted with their rate", r.code, r.stderr)
	}
}

func TestOnlyATerminalFileIsATerminal(t *testing.T) {
	f, err := os.Create(t.TempDir() + "/out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for name, w := range map[string]io.Writer{"a regular file": f, "a buffer": &bytes.Buffer{}} {
		if isTerminal(w) {
			t.Errorf("%s is taken for a terminal", name)
		}
	}
}
