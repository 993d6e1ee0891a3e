package cli

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sealwatch/sealwatch/internal/node"
)

// readmeStep is one `$ sealwatch ...` line of the README's console blocks,
// with whether the README shows it failing (its output starts with "error:").
type readmeStep struct {
	line     int
	args     []string
	wantFail bool
	output   []string // the lines the README shows after the command
}

func readmeSteps(t *testing.T) []readmeStep {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var steps []readmeStep
	inConsole := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```console"):
			inConsole = true
		case strings.HasPrefix(line, "```"):
			inConsole = false
		case inConsole && strings.HasPrefix(line, "$ sealwatch "):
			args, err := splitArgs(strings.TrimPrefix(line, "$ sealwatch "))
			if err != nil {
				t.Fatalf("README.md:%d: %v", n, err)
			}
			steps = append(steps, readmeStep{line: n, args: args})
		case inConsole && strings.HasPrefix(line, "error:") && len(steps) > 0:
			steps[len(steps)-1].wantFail = true
		case inConsole && len(steps) > 0 && !strings.HasPrefix(line, "$ "):
			steps[len(steps)-1].output = append(steps[len(steps)-1].output, line)
		}
	}
	return steps
}

// splitArgs splits a command line as a shell would for the README's simple
// commands: words, and single- or double-quoted strings.
func splitArgs(s string) ([]string, error) {
	var args []string
	var cur strings.Builder
	quote, inWord := rune(0), false
	for _, r := range s {
		switch {
		case quote != 0 && r == quote:
			quote = 0
		case quote != 0:
			cur.WriteRune(r)
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t':
			if inWord {
				args = append(args, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, errString("unclosed quote")
	}
	if inWord {
		args = append(args, cur.String())
	}
	return args, nil
}

type errString string

func (e errString) Error() string { return string(e) }

// TestReadmeWalkthroughRunsAsWritten runs every `$ sealwatch` command of the
// README, in order, against a fresh node, so that the README cannot rot: a
// command that the README shows succeeding must succeed, and one it shows
// failing must fail.
func TestReadmeWalkthroughRunsAsWritten(t *testing.T) {
	// A 1-second key check, so that waiting for a key change takes a second.
	n := startNodeWith(t, node.Config{KeyCheckInterval: time.Second, UnreachableGrace: 5 * time.Minute})
	steps := readmeSteps(t)
	if len(steps) < 20 {
		t.Fatalf("found only %d commands in README.md", len(steps))
	}
	for _, st := range steps {
		args := make([]string, len(st.args))
		for i, a := range st.args {
			// The README's node writes ./sealwatch-data; this one a temp dir.
			args[i] = strings.ReplaceAll(a, "sealwatch-data/admin.json", n.adminFile)
			// The README runs from the repository's root; the test from here.
			args[i] = strings.ReplaceAll(args[i], "docs/examples/", filepath.Join("..", "..", "docs", "examples")+"/")
		}
		if strings.HasPrefix(args[0], "up") {
			continue
		}
		res := n.run(args...)
		if failed := res.code != 0; failed != st.wantFail {
			t.Fatalf("README.md:%d: sealwatch %s\nexit %d (README shows it %s)\nstdout:\n%s\nstderr:\n%s",
				st.line, strings.Join(st.args, " "), res.code, map[bool]string{true: "failing", false: "succeeding"}[st.wantFail], res.stdout, res.stderr)
		}
		// Query results are deterministic: they must read exactly as shown.
		if args[0] == "query" && !st.wantFail {
			want := strings.TrimSpace(strings.Join(st.output, "\n"))
			if got := strings.TrimSpace(res.stdout); got != want {
				t.Fatalf("README.md:%d: sealwatch %s printed\n%s\nbut the README shows\n%s", st.line, strings.Join(st.args, " "), got, want)
			}
		}
	}
}
